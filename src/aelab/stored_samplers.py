"""A run's samplers fitted to its codes, each in its own file (layout.SAMPLER_FILE), written like
the weights (train/checkpoint.py: temp + fsync + rename, a SHA-256 checked on every read). A stored
sampler is used only while it fits the run: the same kind, settings and seed, fitted for the same
model weights; otherwise, or when its file is damaged, it is fitted again with one line saying why.

`obtain` is what every command that draws from a run calls (generate, report, evaluate
--fd-samples, train's samples.png); `aelab serve`, which never writes into a run, calls `stored`."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

import numpy as np

from aelab.errors import AelabError
from aelab.layout import SAMPLER_FILE
from aelab.models import samplers
from aelab.train import checkpoint

log = logging.getLogger("aelab")


def path_of(run: Path, kind: str) -> Path:
    return Path(run) / SAMPLER_FILE.format(kind=kind)


def save(run: Path, fitted, model, seed: int) -> Path:
    path = path_of(run, fitted.kind)
    checkpoint.atomic_save(samplers.to_tensors(fitted, prefix=""), path,
                           samplers.metadata(fitted, seed, samplers.weights_fingerprint(model)))
    return path


def stored(run: Path, model, kind: str, seed: int, quiet: bool = False):
    """The run's stored sampler `kind` if its file exists and fits the run, else None (and, unless
    `quiet`, one line saying why a file that exists cannot be used)."""
    path = path_of(run, kind)
    if not path.is_file():
        return None
    say = (lambda *a: None) if quiet else log.warning
    try:
        tensors, meta = checkpoint.read(path, "sampler file")
    except AelabError:
        say("%s is damaged (unreadable, or its SHA-256 no longer matches); fitting the %s sampler again",
            path.name, kind)
        return None
    options = samplers.options_for(kind, model.config)
    reason = samplers.problem(meta, kind, options, seed, samplers.weights_fingerprint(model))
    if reason is not None:
        say("%s cannot be used: %s; fitting the %s sampler again", path.name, reason, kind)
        return None
    try:
        return samplers.from_tensors(tensors, meta, prefix="")
    except (KeyError, ValueError, RuntimeError, TypeError) as e:
        say("%s is damaged (%s); fitting the %s sampler again", path.name, str(e).splitlines()[0][:120], kind)
        return None


def fit(model, kind: str, codes: np.ndarray, seed: int, progress: bool = True):
    """The sampler `kind` fitted to `codes` with the model's settings; `.fit_seconds` says how long."""
    started = time.perf_counter()
    fitted = samplers.fit(kind, codes, samplers.options_for(kind, model.config), seed, progress)
    fitted.fit_seconds = time.perf_counter() - started
    return fitted


def obtain(run: Path | None, model, kind: str, codes: Callable[[], np.ndarray], seed: int, write: bool = True,
           progress: bool = True):
    """The run's sampler `kind`: its stored file when valid, else fitted to `codes()` (and with
    `write`, stored). Without a run folder (an estimator's context) it is only fitted."""
    if run is not None:
        found = stored(run, model, kind, seed)
        if found is not None:
            return found
    fitted = fit(model, kind, codes(), seed, progress)
    if run is not None and write:
        path = save(run, fitted, model, seed)
        log.info("fitted the %s sampler in %.1f s: %s", kind, fitted.fit_seconds, path)
    return fitted
