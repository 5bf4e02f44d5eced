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
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator, NamedTuple

from aelab.errors import AelabError


class Policy(NamedTuple):
    everything: bool = False  # --trust-code: every factory
    imported: bool = True  # a factory whose module is already imported (Python; not the CLI)
    allowed: frozenset = frozenset()  # import paths the user's own config named


# Per thread and task (a ContextVar): two commands run at once in one process keep their own.
# A thread starts with the default unless started in a copy of its parent's context (aelab
# serve's server thread is: its requests load runs under the policy `aelab serve` started with).
_policy: ContextVar[Policy] = ContextVar("aelab_trust", default=Policy())


@contextmanager
def policy(everything: bool = False, imported: bool = True) -> Iterator[None]:
    """For the duration: trust every factory (`everything`), or only the allowed ones and, with
    `imported`, those whose module is already imported."""
    token = _policy.set(_policy.get()._replace(everything=everything, imported=imported))
    try:
        yield
    finally:
        _policy.reset(token)


@contextmanager
def allowing(*paths: str | None) -> Iterator[None]:
    """For the duration, the factories `paths` (named by the user's own config) may be imported."""
    now = _policy.get()
    token = _policy.set(now._replace(allowed=now.allowed | {p for p in paths if p}))
    try:
        yield
    finally:
        _policy.reset(token)


def module_of(path: str) -> str:
    """'pkg.mod:make' or 'pkg.mod.make' -> 'pkg.mod'."""
    module, sep, _ = path.partition(":")
    return module if sep else path.rpartition(".")[0]


def check(path: str, key: str) -> None:
    """Refuse, in one line, to import the factory `path` (config key `key`) unless it is trusted."""
    now = _policy.get()
    if now.everything or path in now.allowed:
        return
    if now.imported and module_of(path) in sys.modules:
        return
    raise AelabError(
        f"{key} {path!r} names code outside aelab, read from a saved run (its config.json or model "
        "file); a run folder from elsewhere could name any module this way, so aelab does not import it "
        "unless you trust the run: add --trust-code to the command (from Python: "
        "aelab.load(..., trust_code=True), or import the module yourself first)")
