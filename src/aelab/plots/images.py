"""Image grids: many small images tiled into one array, shown crisp (nearest neighbour), grey in
grey and RGB in colour, with no gaps or stray axes."""

from __future__ import annotations

import numpy as np


def tile(images: np.ndarray, cols: int, gap: int = 0, fill: float = 1.0) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> one (rows*H, cols*W, C) image; empty cells and gaps are `fill`."""
    n, c, h, w = images.shape
    rows = -(-n // cols)
    grid = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, c), fill, dtype=np.float32)
    for i in range(n):
        r, k = divmod(i, cols)
        grid[r * (h + gap):r * (h + gap) + h, k * (w + gap):k * (w + gap) + w] = images[i].transpose(1, 2, 0)
    return grid


def show(ax, image: np.ndarray, title: str | None = None) -> None:
    """Draw an (H, W, C) image on `ax`: grey colormap for one channel, nearest-neighbour pixels."""
    image = np.clip(image, 0.0, 1.0)
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(image, interpolation="nearest")
    if title:
        ax.set_title(title)
    ax.set_axis_off()


def cell_inches(shape: tuple[int, int, int], target: float = 0.8) -> float:
    """Inches per image cell: about `target`, a little wider for wide images."""
    _, h, w = shape
    return target * max(1.0, w / h) ** 0.5
