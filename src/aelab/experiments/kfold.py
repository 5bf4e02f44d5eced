"""K-fold cross-validation on top of ordinary runs: fold i of a run is set by `data.folds` and
`data.fold` (see data.prepare.prepare_data), so each fold is a normal, re-evaluable run folder.
Here: the per-fold settings, and the mean ± std summary over folds."""

from __future__ import annotations

import math

import numpy as np


def fold_settings(folds: int) -> list[dict]:
    """The `data` settings of every fold; one plain run (no CV) when folds is 1."""
    if folds <= 1:
        return [{}]
    return [{"data.folds": folds, "data.fold": i} for i in range(folds)]


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation over folds, ignoring missing values (nan, nan if none)."""
    finite = np.array([v for v in values if v is not None and math.isfinite(v)], float)
    if len(finite) == 0:
        return math.nan, math.nan
    return float(finite.mean()), float(finite.std(ddof=1)) if len(finite) > 1 else 0.0


def format_mean_std(values: list[float], digits: int = 4) -> str:
    mean, std = mean_std(values)
    if math.isnan(mean):
        return "–"
    shown = f"{mean:.{digits}g}"
    return shown if len(values) < 2 else f"{shown} ± {std:.2g}"
