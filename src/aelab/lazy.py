"""Names a package loads on first use (PEP 562), so that importing it does not pay for torch,
scikit-learn or matplotlib until one of them is needed: `aelab` (the public API) and `aelab.data`
(which `aelab datasets` imports without torch)."""

from __future__ import annotations

import importlib


def attributes(package: str, table: dict[str, str]):
    """A module-level `__getattr__` for `package` that imports `table[name]` (a module path) and
    returns its `name`, cached in the package's namespace after the first use."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str):
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(table[name]), name)
        namespace[name] = value
        return value

    return __getattr__
