"""Seeded splits: test, validation and k-fold indices."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: ImageData imports torch, and the dataset registry uses this module
    from aelab.data.dataset import ImageData


def split(data: ImageData, fraction: float, seed: int) -> tuple[ImageData, ImageData | None]:
    """Cut a seeded random `fraction` off `data`: (rest, cut). No cut when fraction is 0."""
    n_cut = int(round(len(data) * fraction))
    if n_cut == 0:
        return data, None
    order = np.random.default_rng(seed).permutation(len(data))
    return data.subset(np.sort(order[n_cut:])), data.subset(np.sort(order[:n_cut]))


def kfold(n: int, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, held-out) index pairs of a seeded k-fold partition of range(n)."""
    order = np.random.default_rng(seed).permutation(n)
    parts = np.array_split(order, folds)
    return [(np.sort(np.concatenate(parts[:k] + parts[k + 1:])), np.sort(parts[k])) for k in range(folds)]
