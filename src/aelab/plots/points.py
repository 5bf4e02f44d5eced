"""Points on a latent map, drawn so that each one can be told apart: coloured by label with a
legend; each point's label written at it when classes have few points (the font's 32 glyphs,
one each: a legend would recycle 20 colours); unlabelled points with thumbnails of their images
(a map of blue dots says nothing)."""

from __future__ import annotations

from typing import Callable

import numpy as np
from matplotlib.offsetbox import AnnotationBbox, OffsetImage

from aelab.plots.canvas import colormap
from aelab.plots.images import FRAME_SPINE

ImagesOf = Callable[[np.ndarray], np.ndarray]  # point indices -> their images (N, C, H, W) in [0, 1]
MOST_NAMED = 200  # above this many points, names at every point are a blur: a legend
FEW_PER_CLASS = 3  # points per class (on average) up to which each point is named
MOST_THUMBNAILS = 60
THUMBNAIL_POINTS = 26.0  # thumbnail size on the page (1/72 inch)


def names_at_points(points: np.ndarray, labels: np.ndarray | None) -> bool:
    """Whether each point gets its label written at it instead of a legend entry."""
    if labels is None or len(points) > MOST_NAMED:
        return False
    return len(points) / len(np.unique(labels)) <= FEW_PER_CLASS


def scatter(ax, points, labels, label_names, legend: bool = True, size: float = 8, alpha: float = 0.7,
            image_of: ImagesOf | None = None, names: bool = True) -> None:
    """The points; on an unlabelled map, `image_of` (point indices -> their images) gives thumbnails;
    `names=False` keeps a colour per label and no text (a map that names its centroids)."""
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=size, alpha=alpha, color="tab:blue")
        if image_of is not None:
            thumbnails(ax, points, image_of)
            ax.margins(0.08)  # room for the outermost thumbnails
        return
    name_of = (lambda c: label_names[c]) if label_names else str
    if names and names_at_points(points, labels):
        ax.scatter(points[:, 0], points[:, 1], s=4, color="0.4", zorder=2)
        for (x, y), c in zip(points, labels):
            ax.text(x, y, name_of(c), fontsize=9, weight="bold", ha="center", va="center", zorder=3,
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="0.5", lw=0.5, alpha=0.85))
        ax.margins(0.08)  # room for the names of the outermost points
        return
    classes = np.unique(labels)
    cmap = colormap("tab10" if len(classes) <= 10 else "tab20")
    for i, c in enumerate(classes):
        pts = points[labels == c]
        ax.scatter(pts[:, 0], pts[:, 1], s=size, alpha=alpha, color=cmap(i % cmap.N), label=name_of(c))
    if legend and len(classes) <= 40:
        # Legend keys as large and solid as readable dots, however small and faint the dots are.
        key = ax.legend(title="label", markerscale=max(2.0, (36 / size) ** 0.5), fontsize=8, loc="center left",
                        bbox_to_anchor=(1.0, 0.5), ncol=1 if len(classes) <= 20 else 2)
        for handle in key.legend_handles:
            handle.set_alpha(1.0)


def spread(points: np.ndarray, most: int = MOST_THUMBNAILS, seed: int = 0) -> np.ndarray:
    """Indices of up to `most` points no two of which are closer than a share of the map's
    extent (sklearn's digits-manifold example): thumbnails there do not hide each other."""
    if len(points) == 0:
        return np.zeros(0, dtype=int)
    span = np.ptp(points, axis=0)
    scaled = points / np.where(span > 0, span, 1.0)
    order = np.random.default_rng(seed).permutation(len(points))
    kept: list[int] = []
    for i in order:
        if len(kept) == most:
            break
        if not kept or np.min(np.sum((scaled[kept] - scaled[i]) ** 2, axis=1)) > 0.07 ** 2:
            kept.append(int(i))
    return np.array(sorted(kept), dtype=int)


def thumbnails(ax, points: np.ndarray, image_of: ImagesOf) -> None:
    """A spread-out subset of the points with their images, framed, drawn at them (only those
    images are read: a large unlabelled set stays on disk)."""
    candidates = np.arange(len(points))
    if not ax.get_autoscale_on():  # fixed limits (over a backdrop): only the points inside them
        (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
        x, y = points[:, 0], points[:, 1]
        candidates = np.flatnonzero((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
    chosen = candidates[spread(points[candidates])]
    images = np.asarray(image_of(chosen))  # (len(chosen), C, H, W) in [0, 1]
    _, c, h, w = images.shape
    zoom = THUMBNAIL_POINTS / max(h, w)
    for k, i in enumerate(chosen):
        image = np.clip(images[k].transpose(1, 2, 0), 0, 1)
        picture = OffsetImage(image[..., 0] if c == 1 else image, zoom=zoom, cmap="gray" if c == 1 else None,
                              interpolation="nearest" if max(h, w) <= 32 else "antialiased")
        if c == 1:
            picture.get_children()[0].set_clim(0, 1)
        ax.add_artist(AnnotationBbox(picture, tuple(points[i]), frameon=True, pad=0.1, zorder=3,
                                     bboxprops=dict(edgecolor=FRAME_SPINE, lw=0.5)))
