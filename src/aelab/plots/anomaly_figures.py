"""Figures of an anomaly detection: score histograms with the threshold, the ROC curve, and the
most anomalous images beside their reconstructions and per-pixel error maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aelab import files
from aelab.plots.canvas import DPI, subplots
from aelab.plots.images import show


def _save(fig, path: Path) -> Path:
    with files.atomic_write(path) as tmp:
        fig.savefig(tmp, dpi=DPI, bbox_inches="tight", format=Path(path).suffix.lstrip(".") or "png")
    return path


def score_histogram(scores: np.ndarray, is_anomaly: np.ndarray | None, threshold: float, path: Path,
                    score_name: str) -> Path:
    fig, ax = subplots(figsize=(7, 4))
    bins = np.histogram_bin_edges(scores, bins=60)
    if is_anomaly is None:
        ax.hist(scores, bins=bins, alpha=0.8, label="all images")
    else:
        ax.hist(scores[~is_anomaly], bins=bins, alpha=0.6, density=True, label=f"normal ({(~is_anomaly).sum()})")
        ax.hist(scores[is_anomaly], bins=bins, alpha=0.6, density=True, label=f"anomalous ({is_anomaly.sum()})")
    ax.axvline(threshold, color="k", linestyle="--", label=f"threshold {threshold:.4g}")
    ax.set_xlabel(f"anomaly score ({score_name})")
    ax.set_ylabel("density" if is_anomaly is not None else "images")
    ax.set_title("Anomaly scores")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def roc_curve_figure(scores: np.ndarray, is_anomaly: np.ndarray, auroc: float, threshold: float, path: Path) -> Path:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(is_anomaly, scores)
    flagged = scores > threshold
    at_fpr = (flagged & ~is_anomaly).sum() / max((~is_anomaly).sum(), 1)
    at_tpr = (flagged & is_anomaly).sum() / max(is_anomaly.sum(), 1)
    fig, ax = subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, label=f"AUROC = {auroc:.3f}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.plot([at_fpr], [at_tpr], "ko", label="at the threshold")
    ax.set_xlabel("false positive rate (normal images flagged)")
    ax.set_ylabel("true positive rate (anomalies found)")
    ax.set_title("ROC curve")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def most_anomalous(images: np.ndarray, reconstructions: np.ndarray, errors: np.ndarray, captions: list[str],
                   path: Path) -> Path:
    """Three rows per image column: the image, its reconstruction, its per-pixel error (hot = large)."""
    n = len(images)
    fig, axes = subplots(3, n, figsize=(max(4.0, 1.1 * n), 3.9), squeeze=False)
    top = max(float(errors.max()), 1e-6)
    for i in range(n):
        show(axes[0, i], images[i].transpose(1, 2, 0))
        show(axes[1, i], reconstructions[i].transpose(1, 2, 0))
        axes[2, i].imshow(errors[i, 0], cmap="inferno", vmin=0, vmax=top, interpolation="nearest")
        axes[2, i].set_axis_off()
        axes[0, i].set_title(captions[i], fontsize=7)
    for row, name in enumerate(("image", "reconstruction", "|error|")):
        axes[row, 0].text(-0.1, 0.5, name, transform=axes[row, 0].transAxes, ha="right", va="center", fontsize=8)
    fig.suptitle("Most anomalous test images (highest scores first)", fontsize=10)
    fig.subplots_adjust(left=0.08, right=0.99, wspace=0.05, hspace=0.08)
    return _save(fig, path)
