"""How useful the codes are: k-NN classification accuracy (k-fold within the given set),
silhouette score by label, and the number of active latent units.

A unit is active when the variance over the data of its code (the posterior mean for VAEs)
exceeds 0.01 (Burda et al., 2016): a collapsed unit carries no information about the input.
"""

from __future__ import annotations

import numpy as np

ACTIVE_THRESHOLD = 0.01


def knn_accuracy(codes: np.ndarray, labels: np.ndarray, neighbours: int = 5, folds: int = 5,
                 seed: int = 0) -> float:
    """Mean accuracy of a k-nearest-neighbour classifier on the codes, stratified k-fold."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    counts = np.bincount(labels)
    folds = int(min(folds, counts[counts > 0].min()))
    if folds < 2 or len(np.unique(labels)) < 2:
        return float("nan")  # too few images of some label to hold any out
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    classifier = KNeighborsClassifier(n_neighbors=min(neighbours, len(codes) - len(codes) // folds))
    return float(cross_val_score(classifier, codes, labels, cv=splitter).mean())


def silhouette(codes: np.ndarray, labels: np.ndarray, max_points: int = 5000, seed: int = 0) -> float:
    """Silhouette of the label groups in code space, in [-1, 1] (on a seeded subsample: it is O(N^2))."""
    from sklearn.metrics import silhouette_score

    n_labels = len(np.unique(labels))
    if n_labels < 2 or n_labels >= len(codes):
        return float("nan")
    size = min(max_points, len(codes))
    return float(silhouette_score(codes, labels, sample_size=size if size < len(codes) else None,
                                  random_state=seed))


def active_units(codes: np.ndarray, threshold: float = ACTIVE_THRESHOLD) -> int:
    return int((codes.var(0) > threshold).sum())


def latent_metrics(codes: np.ndarray, labels: np.ndarray | None, seed: int = 0) -> dict[str, float]:
    metrics: dict[str, float] = {"active_units": active_units(codes)}
    if labels is not None:
        metrics["knn_accuracy"] = knn_accuracy(codes, labels, seed=seed)
        metrics["silhouette"] = silhouette(codes, labels, seed=seed)
    return metrics
