"""Image grids: many small images tiled into one array, shown crisp (nearest neighbour), grey in
grey and RGB in colour, with no stray axes. Small images (the 5x7 font, 8x8 digits) sit in a
lattice of a colour no grey image contains, so their white or black edges never merge with a
neighbour's or with the page."""

from __future__ import annotations

import numpy as np

FRAME = (0.42, 0.52, 0.72)  # the lattice between and around small images: a blue-grey
FRAME_SPINE = "0.6"  # the frame of an image drawn on axes of its own
SMALL = 16  # pixels a side up to which images are framed


def tile(images: np.ndarray, cols: int, gap: int = 0, fill=1.0, border: int = 0) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> one (rows*H, cols*W, C) image; gaps and a `border` around all are
    `fill` (a grey level, or an RGB colour: grey images then come back as RGB); empty cells are white."""
    n, c, h, w = images.shape
    colour = np.atleast_1d(np.asarray(fill, np.float32))
    if len(colour) == 3 and c == 1:
        images, c = np.repeat(images, 3, axis=1), 3
    rows = -(-n // cols)
    grid = np.empty((rows * (h + gap) - gap + 2 * border, cols * (w + gap) - gap + 2 * border, c), np.float32)
    grid[:] = colour
    for i in range(rows * cols):
        r, k = divmod(i, cols)
        top, left = border + r * (h + gap), border + k * (w + gap)
        grid[top:top + h, left:left + w] = images[i].transpose(1, 2, 0) if i < n else 1.0
    return grid


def lattice(images: np.ndarray, cols: int, gap: int = 0) -> tuple[np.ndarray, int, int]:
    """tile() for a figure: small images in a FRAME lattice one pixel wide (also around them);
    larger ones as asked. Returns (mosaic, gap, border) for placing ticks at cell centres."""
    if max(images.shape[2:]) <= SMALL:
        gap = max(gap, 1)
        return tile(images, cols, gap, FRAME, border=1), gap, 1
    return tile(images, cols, gap), gap, 0


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


def show_framed(ax, image: np.ndarray) -> None:
    """An image with a thin grey frame: white pixels at its edge stay visible on the white page."""
    show(ax, image)
    ax.set_axis_on()
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color(FRAME_SPINE)
        spine.set_linewidth(0.8)


def cell_inches(shape: tuple[int, int, int], target: float = 0.8) -> float:
    """Inches per image cell: about `target`, a little wider for wide images."""
    _, h, w = shape
    return target * max(1.0, w / h) ** 0.5
