"""The figures every run writes. Each function takes arrays (and a decode function where it needs
one) and writes one PNG, or, given no path, returns the Figure (a notebook shows it inline, see
plots/canvas.py); none of them touches the model or the run folder itself."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from aelab import files
from aelab.plots.canvas import DPI, Figure, subplots
from aelab.plots.images import cell_inches, lattice, show, show_framed
from aelab.plots.points import scatter


def save(fig: Figure, path: Path | None) -> Path | Figure:
    """Write `fig` to `path` and return the path; with no path, return the figure itself."""
    if path is None:
        return fig
    with files.atomic_write(path) as tmp:
        fig.savefig(tmp, dpi=DPI, bbox_inches="tight", format=Path(path).suffix.lstrip(".") or "png")
    return Path(path)


def reconstruction(originals: np.ndarray, reconstructions: np.ndarray, path: Path | None,
                   titles: list[str] | None = None) -> Path | Figure:
    """Originals in the top row, their reconstructions below."""
    n = len(originals)
    size = cell_inches(originals.shape[1:])
    fig, axes = subplots(2, 1, figsize=(max(4.0, n * size), 2 * size + 0.9))
    show(axes[0], lattice(originals, n, gap=1)[0], "original")
    show(axes[1], lattice(reconstructions, n, gap=1)[0], "reconstruction")
    if titles:
        fig.suptitle("  ".join(titles), fontsize=8, y=0.02, va="bottom")
    return save(fig, path)


def latent_space(codes: np.ndarray, labels: np.ndarray | None, label_names: list[str] | None,
                 path: Path | None, title: str = "Latent space of the test set", axis_names=("z[0]", "z[1]"),
                 image_of=None) -> Path | Figure:
    """2-D codes as a scatter plot (see draw_latent_space)."""
    return save(draw_latent_space(codes, labels, label_names, title, axis_names, image_of), path)


def draw_latent_space(codes, labels, label_names, title: str = "Latent space of the test set",
                      axis_names=("z[0]", "z[1]"), image_of=None):
    """The figure: coloured by label with a legend, each label written at its point when classes
    have few points (the font's glyphs), or, unlabelled, thumbnails at the points (`image_of`:
    point indices -> images, see plots/points.py)."""
    fig, ax = subplots(figsize=(7, 6))
    scatter(ax, codes, labels, label_names, legend=True, image_of=image_of)
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1] or " ")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return fig


def loss_curves(history: list[dict], path: Path | None) -> Path | Figure:
    """Train and validation loss per epoch (the train loss without a discriminator game's terms, as
    validation counts it: the history's `own_loss`); reconstruction and KL in their own panels for VAEs; the
    validation BCE, MSE and L1 per epoch in a panel when the history has them; the adversarial
    term's two losses when it ran; the learning rate and the KL weight when a schedule changed them."""
    epochs = [r["epoch"] for r in history]
    panels = [("loss", "loss (per image)")]
    if "kl" in history[0]:
        panels += [("reconstruction_loss", "reconstruction loss"), ("kl", "KL divergence")]
    metrics = [k for k in ("bce", "mse", "l1") if f"val_{k}" in history[0]]  # per-epoch reconstruction metrics
    scheduled = _varies(history, "learning_rate") or _varies(history, "beta")
    adversarial = any("discriminator_loss" in r for r in history)
    columns = len(panels) + bool(metrics) + adversarial + scheduled
    fig, axes = subplots(1, columns, figsize=(4.5 * columns, 3.6), squeeze=False)
    if metrics:
        ax = axes[0][len(panels)]
        for k in metrics:
            ax.plot(epochs, [r[f"val_{k}"] for r in history], label=k.upper())
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_title("validation reconstruction (per image)")
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    game = any("own_loss" in r for r in history)  # a model with a discriminator: train without its game's terms
    for ax, (key, title) in zip(axes[0], panels):
        train = [r.get("own_loss", r[key]) if key == "loss" else r[key] for r in history]
        ax.plot(epochs, train, label="train (without the game's terms)" if key == "loss" and game else "train")
        if f"val_{key}" in history[0]:
            ax.plot(epochs, [r[f"val_{key}"] for r in history], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(title)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    if adversarial:
        _adversarial_panel(axes[0][len(panels) + bool(metrics)], history)
    if scheduled:
        _schedule_panel(axes[0][-1], epochs, history)
    fig.tight_layout()
    return save(fig, path)


def _varies(history: list[dict], key: str) -> bool:
    return len({r.get(key) for r in history}) > 1


def _adversarial_panel(ax, history: list[dict]) -> None:
    """The discriminator's loss against chance (ln 2), and the autoencoder's side of the game (per
    image, on its own axis), over the epochs they ran (models/adversarial.py, aae, factor_vae, vae_gan)."""
    rows = [r for r in history if "discriminator_loss" in r]
    epochs = [r["epoch"] for r in rows]
    ax.plot(epochs, [r["discriminator_loss"] for r in rows], color="tab:purple", label="discriminator")
    ax.axhline(math.log(2), color="grey", linestyle=":", label="chance (ln 2)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("discriminator loss")
    ax.set_title("adversarial term")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    # The autoencoder's side of the game: its adversarial loss, or FactorVAE's estimated total correlation.
    side = next((k for k in ("adversarial_loss", "total_correlation") if k in rows[0]), None)
    if side is None:
        return
    twin = ax.twinx()
    twin.plot(epochs, [r[side] for r in rows], color="tab:orange", label=f"{side.replace('_', ' ')} (autoencoder)")
    twin.set_ylabel(f"{side.replace('_', ' ')} (per image)")
    twin.legend(loc="lower right")


def _schedule_panel(ax, epochs: list[int], history: list[dict]) -> None:
    """The learning rate and the KL weight per epoch (training.lr_schedule, training.kl_annealing)."""
    if _varies(history, "learning_rate"):
        ax.plot(epochs, [r["learning_rate"] for r in history], color="tab:green", label="learning rate")
        ax.set_ylabel("learning rate")
        ax.legend(loc="upper left")
    if _varies(history, "beta"):
        twin = ax.twinx() if _varies(history, "learning_rate") else ax
        twin.plot(epochs, [r["beta"] for r in history], color="tab:red", label="KL weight (beta)")
        twin.set_ylabel("KL weight (beta)")
        twin.legend(loc="lower right")
    ax.set_xlabel("epoch")
    ax.set_title("schedules")
    ax.grid(alpha=0.3)


def traversal_grid(images: np.ndarray, xs: np.ndarray, ys: np.ndarray | None, names: list[str], path: Path | None,
                   title: str | None = None) -> Path | Figure:
    """Decoded points of a grid over two latent directions (seed 004's traversal, keras' 2-D
    manifold): `images` row by row from the top, xs (steps,) along each row, ys (rows,) down the
    grid (None: one row), axes labelled with the directions' `names` and their values."""
    steps = len(xs)
    n_rows = 1 if ys is None else len(ys)
    _, h, w = images.shape[1:]
    size = cell_inches(images.shape[1:], 0.55)
    fig, ax = subplots(figsize=(steps * size + 1.2, n_rows * size + 1.0))
    mosaic, gap, border = lattice(images, steps)
    show(ax, mosaic)
    ax.set_axis_on()
    ticks = even_ticks(steps)
    ax.set_xticks(border + ticks * (w + gap) + (w - 1) / 2, [f"{xs[i]:.2g}" for i in ticks])
    ax.set_xlabel(names[0])
    if ys is not None:
        row_ticks = even_ticks(n_rows)
        ax.set_yticks(border + row_ticks * (h + gap) + (h - 1) / 2, [f"{ys[i]:.2g}" for i in row_ticks])
        ax.set_ylabel(names[1])
    else:
        ax.set_yticks([])
    ax.set_title(title or "Latent traversal over " + " and ".join(names))
    return save(fig, path)


def even_ticks(steps: int, most: int = 7) -> np.ndarray:
    """Every k-th of `steps` evenly spaced values, at most about `most` of them; for odd `steps`
    placed symmetrically about the middle one (so that 0 of a symmetric range is labelled)."""
    k = max(1, int(np.ceil((steps - 1) / (most - 1))))
    start = ((steps - 1) // 2) % k if steps % 2 else 0
    return np.arange(start, steps, k)


def image_grid(images: np.ndarray, path: Path | None, title: str, cols: int | None = None) -> Path | Figure:
    """A titled grid of images (samples, generations)."""
    cols = cols or int(np.ceil(np.sqrt(len(images))))
    rows = -(-len(images) // cols)
    size = cell_inches(images.shape[1:], 0.7)
    fig, ax = subplots(figsize=(max(3.0, cols * size), rows * size + 0.5))
    show(ax, lattice(images, cols, gap=1)[0], title)
    return save(fig, path)


def strip(images: np.ndarray, path: Path | None, title: str, captions: list[str] | None = None) -> Path | Figure:
    """One row of images (interpolations, morphs), optionally captioned under each."""
    n = len(images)
    size = cell_inches(images.shape[1:], 0.9)
    fig, axes = subplots(1, n, figsize=(max(4.0, n * size), size + 0.8), squeeze=False)
    for i, ax in enumerate(axes[0]):
        show_framed(ax, images[i].transpose(1, 2, 0))
        if captions:
            ax.text(0.5, -0.08, captions[i], transform=ax.transAxes, ha="center", va="top", fontsize=7)
    fig.suptitle(title)
    fig.subplots_adjust(wspace=0.04, left=0.01, right=0.99, top=0.8, bottom=0.15)
    return save(fig, path)


def loss_overlay(histories: dict[str, list[dict]], path: Path | None) -> Path | Figure:
    """Several runs' loss per epoch on one axis (`aelab compare`): validation solid where there is
    one, train dashed, one colour per run."""
    fig, ax = subplots(figsize=(8, 4.8))
    for i, (name, history) in enumerate(histories.items()):
        if not history:
            continue
        colour = f"C{i % 10}"
        epochs = [r["epoch"] for r in history]
        ax.plot(epochs, [r["loss"] for r in history], "--", color=colour, alpha=0.7, label=f"{name} (train)")
        if "val_loss" in history[0]:
            ax.plot(epochs, [r["val_loss"] for r in history], "-", color=colour, label=f"{name} (validation)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss per image")
    ax.set_yscale("log")
    ax.set_title("Loss per epoch of each run")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save(fig, path)
