"""Datasets as one contiguous array each, plus the splits and noise that training needs.

The names below load on first use (PEP 562): `aelab datasets` imports data.registry and the specs
without torch, which ImageData brings."""

_LAZY = {"ImageData": "aelab.data.dataset", "available": "aelab.data.registry",
         "load_dataset": "aelab.data.registry"}
__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'aelab.data' has no attribute {name!r}")
