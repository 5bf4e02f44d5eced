"""Code named in a file runs only when the user says so.

A config may name networks of the user's own by import path (`model.encoder: "pkg.module:function"`),
which aelab imports and calls to build the model. Importing a module runs its code, so a path read
from a saved run (config.json, a model file's or a checkpoint's metadata) is as dangerous as a
pickle: a run folder from someone else could name any module on the machine, or one planted beside
it. The rule, checked where the factory is imported (models/networks.py), whatever path led there:

- a factory named by the user's own config (`aelab train --config`, `--set`, a sweep file, an
  estimator's parameters) is allowed: `allowing(...)` around the work that config drives;
- any other runs only with `--trust-code` (CLI) or `aelab.load(..., trust_code=True)`:
  `policy(everything=True)`;
- from Python, a factory whose module the user's program has already imported counts as the
  user's own (nothing new is imported). The CLI has no program of the user's: it sets
  `policy(imported=False)`, so there only the first two rules apply.
"""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from typing import Iterator

from aelab.errors import AelabError

# Process-wide (not per thread): `aelab serve` loads runs in its worker threads under the policy
# the command started with. Python callers get the default: already-imported modules only.
_lock = threading.Lock()
_everything = False
_imported = True
_allowed: frozenset[str] = frozenset()


@contextmanager
def policy(everything: bool = False, imported: bool = True) -> Iterator[None]:
    """For the duration: trust every factory (`everything`), or only the allowed ones and, with
    `imported`, those whose module is already imported. Restores the previous policy after."""
    global _everything, _imported, _allowed
    with _lock:
        saved = _everything, _imported, _allowed
        _everything, _imported = everything, imported
    try:
        yield
    finally:
        with _lock:
            _everything, _imported, _allowed = saved


@contextmanager
def allowing(*paths: str | None) -> Iterator[None]:
    """For the duration, the factories `paths` (named by the user's own config) may be imported."""
    global _allowed
    with _lock:
        saved = _allowed
        _allowed = _allowed | {p for p in paths if p}
    try:
        yield
    finally:
        with _lock:
            _allowed = saved


def module_of(path: str) -> str:
    """'pkg.mod:make' or 'pkg.mod.make' -> 'pkg.mod'."""
    module, sep, _ = path.partition(":")
    return module if sep else path.rpartition(".")[0]


def check(path: str, key: str) -> None:
    """Refuse, in one line, to import the factory `path` (config key `key`) unless it is trusted."""
    if _everything or path in _allowed:
        return
    if _imported and module_of(path) in sys.modules:
        return
    raise AelabError(
        f"{key} {path!r} names code outside aelab, read from a saved run (its config.json or model "
        "file); a run folder from elsewhere could name any module this way, so aelab does not import it "
        "unless you trust the run: add --trust-code to the command (from Python: "
        "aelab.load(..., trust_code=True), or import the module yourself first)")
