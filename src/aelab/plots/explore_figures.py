"""Figures of `aelab generate/traverse/latent/arithmetic/denoise/animate`: arrays in, one PNG out
(or, for animations, the latent map drawn once as a picture)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from aelab.plots.canvas import figure, subplots
from aelab.plots.figures import save, even_ticks
from aelab.plots.images import cell_inches, lattice, show, show_framed
from aelab.plots.points import scatter


def _finish(fig, title: str, lines: int = 1) -> None:
    """Suptitle with room of its own above the axes."""
    fig.suptitle(title, fontsize=9)
    top = 1 - (0.18 * lines + 0.1) / fig.get_figheight()
    fig.tight_layout(pad=0.4, h_pad=0.4, w_pad=1.6, rect=(0, 0, 1, top))


def pairs(samples: np.ndarray, neighbours: np.ndarray, captions: list[str], title: str, path: Path,
          cols: int = 8) -> Path:
    """Each sample (left) beside its nearest training image (right), a white line between them,
    a caption over each pair."""
    n, c, h, w = samples.shape
    cols = min(cols, n)
    rows = -(-n // cols)
    pair = np.concatenate([samples, np.ones((n, c, h, max(1, w // 10))), neighbours], axis=3)
    size = cell_inches((c, h, 2 * w), 1.2)
    fig, axes = subplots(rows, cols, figsize=(cols * size, rows * (size * h / (2 * w) + 0.28) + 0.9),
                             squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k < n:
            show_framed(ax, pair[k].transpose(1, 2, 0))
            ax.set_title(captions[k], fontsize=7, pad=2)
        else:
            ax.set_axis_off()
    _finish(fig, title, title.count("\n") + 1)  # w_pad keeps pairs apart, each pair together
    return save(fig, path)


def traversal_rows(images: np.ndarray, spans: np.ndarray, title: str, path: Path,
                   row_names: list[str] | None = None, names: list[str] | None = None) -> Path:
    """(dims, steps, C, H, W): one row per latent direction, named by `names` (default z[0], z[1],
    ...). `spans` (1, 2): one range for every row, its values along the bottom; (dims, 2): each
    row's own range, written beside it. `row_names`: text after each row's name (e.g. the factor
    it captures)."""
    k, steps, c, h, w = images.shape
    size = cell_inches((c, h, w), 0.5)
    shared = len(spans) == 1
    fig, ax = subplots(figsize=(steps * size + (1.2 if shared else 2.2), k * size + 1.0))
    mosaic, gap, border = lattice(images.reshape(k * steps, c, h, w), steps)
    show(ax, mosaic)
    ax.set_axis_on()
    names = names or [f"z[{d}]" for d in range(k)]
    names = [name if shared else f"{name} {spans[d][0]:.2g}..{spans[d][1]:.2g}" for d, name in enumerate(names[:k])]
    if row_names is not None:
        names = [f"{name} {extra}" for name, extra in zip(names, row_names)]
    ax.set_yticks(border + np.arange(k) * (h + gap) + (h - 1) / 2, names)
    ticks = even_ticks(steps)
    centres = border + ticks * (w + gap) + (w - 1) / 2
    if shared:
        values = np.linspace(spans[0][0], spans[0][1], steps)
        ax.set_xticks(centres, [f"{values[i]:.2g}" for i in ticks])
        ax.set_xlabel("value along the varied direction")
    else:
        ax.set_xticks(centres, [f"{i / (steps - 1):.0%}" for i in ticks])
        ax.set_xlabel("position in the row's range (from its first value to its last)")
    ax.set_ylabel("varied direction")
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title(title)
    return save(fig, path)


def draw_latent_map(points, labels, label_names, axis_names, title, background=None, image_of=None):
    """Codes on the map coloured by label (each named at its point when classes have few points);
    optionally over a mosaic of decoded images (images, columns, (lo, hi)), each image centred on
    its grid point: small images (the font's 5x7 glyphs) in a thin lattice, so that each one reads
    as a glyph and not as a carpet of pixels. Dots shrink and fade as they multiply, so that 10,000
    of them leave the backdrop visible. An unlabelled map shows the points' own images as framed
    thumbnails (`image_of`: point indices -> images)."""
    fig, ax = subplots(figsize=(8, 7))
    if background is not None:
        decoded, cols, (lo, hi) = background
        rows = len(decoded) // cols
        mosaic, gap, border = lattice(np.clip(decoded, 0, 1), cols)
        h, w = decoded.shape[2:]
        # Grid points are image centres: a pixel of the mosaic is a cell's share of the grid step.
        dx = (hi[0] - lo[0]) / max(cols - 1, 1)
        px = dx / (w + gap)
        py = (hi[1] - lo[1]) / max(rows - 1, 1) / (h + gap) if rows > 1 else 2 * dx / (h + gap)
        x0 = lo[0] - (border + w / 2) * px
        y1 = hi[1] + (border + h / 2) * py if rows > 1 else mosaic.shape[0] * py / 2
        x1, y0 = x0 + mosaic.shape[1] * px, y1 - mosaic.shape[0] * py
        kw = dict(cmap="gray", vmin=0, vmax=1) if mosaic.shape[-1] == 1 else {}
        ax.imshow(mosaic[..., 0] if mosaic.shape[-1] == 1 else mosaic, extent=(x0, x1, y0, y1),
                  interpolation="nearest", alpha=0.75, aspect="auto", zorder=0, **kw)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
    size, alpha = dot_style(len(points))
    scatter(ax, points, labels, label_names, legend=True, size=size, alpha=alpha, image_of=image_of)
    if background is not None and len(points):
        # The backdrop spans most of the codes, not all: an outlier (and its name) stays inside the
        # axes, on plain background, instead of being drawn over the tick labels below them.
        pad = 0.03 * np.array([x1 - x0, y1 - y0])
        low, high = points.min(0) - pad, points.max(0) + pad
        ax.set_xlim(min(x0, low[0]), max(x1, high[0]))
        ax.set_ylim(min(y0, low[1]), max(y1, high[1]))
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1] or " ")
    ax.set_title(title, fontsize=10)
    if background is None:
        ax.grid(alpha=0.3)
    return fig


def dot_style(n: int) -> tuple[float, float]:
    """(marker area, alpha) for n points on the map: 9 and 0.9 up to 500 points, then smaller and
    fainter (at 10,000: about 2 and 0.3), so that the dots show density, not a solid blot."""
    scale = min(1.0, (500 / max(n, 1)) ** 0.5)
    return max(1.5, 9 * scale), max(0.25, 0.9 * min(1.0, 1.3 * scale))


def map_canvas(points, labels, label_names, axis_names, title, centroids, path_points, pixels: int):
    """The latent map as a Pillow picture (pixels x pixels) and a function map coords -> pixel
    coords on it. Class names are written at their centroids (the tour's stops)."""
    from PIL import Image

    dpi = 100
    fig = figure(figsize=(pixels / dpi, pixels / dpi), dpi=dpi)
    ax = fig.add_axes((0.15, 0.11, 0.81, 0.76))
    scatter(ax, points, labels, label_names, legend=False, size=5, alpha=0.45, names=False)
    if centroids:
        for name, (x, y) in centroids.items():
            ax.text(x, y, name, fontsize=11, weight="bold", ha="center", va="center",
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="0.5", alpha=0.8))
    both = np.concatenate([points, path_points])
    lo, hi = np.percentile(both, 1, axis=0), np.percentile(both, 99, axis=0)
    lo, hi = np.minimum(lo, path_points.min(0)), np.maximum(hi, path_points.max(0))
    pad = np.maximum((hi - lo) * 0.08, 1e-3)
    ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
    ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1] or " ")
    ax.set_title(title, fontsize=8, wrap=True)
    ax.grid(alpha=0.3)
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    transform = ax.transData
    height = rgb.shape[0]

    def to_pixels(p: np.ndarray) -> np.ndarray:
        xy = transform.transform(np.asarray(p, float))
        return np.c_[xy[:, 0], height - xy[:, 1]]

    return Image.fromarray(rgb), to_pixels


def equation(panels: list[np.ndarray], titles: list[str], result: np.ndarray, closest: np.ndarray,
             closest_title: str, title: str, path: Path) -> Path:
    """Operands, '=' the decoded result, and the test image nearest to it."""
    return save(draw_equation(panels, titles, result, closest, closest_title, title), path)


def draw_equation(panels: list[np.ndarray], titles: list[str], result: np.ndarray, closest: np.ndarray,
                  closest_title: str, title: str):
    """The figure of `equation`: each panel's title wrapped to its panel's width, so that long ones
    ('nearest test image: test #6679 (T-shirt/top)') never run into their neighbours."""
    shown = panels + [result, closest]
    names = titles + ["= decoded result", closest_title]
    size = cell_inches(result.shape, 1.5)
    fig, axes = subplots(1, len(shown), figsize=(len(shown) * size + 0.5, size + 1.1), squeeze=False)
    for ax, image, name in zip(axes[0], shown, names):
        show_framed(ax, image.transpose(1, 2, 0))
        ax.set_title(name, fontsize=8, color="0.35" if ax is axes[0][-1] else "black")
    _finish(fig, title)
    if _wrap_titles(fig, axes[0]):
        _finish(fig, title, lines=1 + max(ax.get_title().count("\n") for ax in axes[0]))
    return fig


def _wrap_titles(fig, axes) -> bool:
    """Break each axes title wider than its axes (as drawn) into lines that fit; True if any was."""
    renderer = fig.canvas.get_renderer()
    changed = False
    for ax in axes:
        text, room = ax.title, ax.get_window_extent(renderer).width
        words = text.get_text().split(" ")
        width = len(text.get_text())
        while text.get_window_extent(renderer).width > room and width > 8 and len(words) > 1:
            width -= 2
            text.set_text(textwrap.fill(" ".join(words), width, break_long_words=False))
            changed = True
    return changed


def denoise_rows(noisy, denoised, clean, captions: list[str], title: str, path: Path) -> Path:
    """Rows noisy / denoised / clean; each column captioned with its image and score."""
    n, c, h, w = clean.shape
    size = cell_inches((c, h, w), 0.9)
    fig, axes = subplots(3, n, figsize=(n * size + 1.0, 3 * size + 1.4), squeeze=False)
    for r, (row, name) in enumerate(((noisy, "noisy"), (denoised, "denoised"), (clean, "clean"))):
        for k in range(n):
            show_framed(axes[r][k], row[k].transpose(1, 2, 0))
        axes[r][0].set_ylabel(name, fontsize=9)
    for k in range(n):
        axes[1][k].set_title(captions[k], fontsize=7, pad=2)
    _finish(fig, title)
    return save(fig, path)
