"""New images from a model: codes drawn by its sampler (models/samplers/: the prior, or a
distribution fitted to the training codes, the run's stored one when it has it) and decoded; and,
to tell generation from memorisation (seed 003's "imitaciones"), each sample's nearest training image."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aelab import limits
from aelab.errors import AelabError
from aelab.evaluate.sample_quality import nearest
from aelab.explore.context import Context, as_context
from aelab.layout import GENERATED, GENERATED_NEAREST
from aelab.models import samplers
from aelab.plots import explore_figures
from aelab.plots.figures import image_grid, save


def sample_codes(ctx: Context, n: int, temperature: float = 1.0, seed: int | None = None,
                 sampler: str = "auto") -> tuple[np.ndarray, str]:
    """(n codes, what they were drawn from, for titles). Temperature scales the spread; `sampler`
    as in models/samplers/ (auto: the run's `model.sampler`)."""
    kind = samplers.resolve(ctx.model, sampler)
    fitted = None if kind == "prior" else ctx.fitted_sampler(kind)
    return samplers.draw(ctx.model, n, ctx.seed if seed is None else seed, temperature, kind, fitted=fitted)


def generate(ctx: Context, n: int = 64, temperature: float = 1.0, with_nearest: bool = False,
             out: str | Path | None = None, seed: int | None = None, sampler: str = "auto",
             label: str | None = None, replace: bool = False) -> tuple[np.ndarray, Path]:
    """`aelab generate`: (n images (n, C, H, W), the figure's path). A conditional model (CVAE)
    draws `label`'s class, or without one the label-by-sample grid (label_grid). `replace`: see
    Context.out_path."""
    ctx = as_context(ctx)
    images, fig, name = drawing(ctx, n, temperature, with_nearest, seed, sampler, label)
    return images, save(fig, ctx.out_path(out, name, replace))


def drawing(ctx: Context, n: int = 64, temperature: float = 1.0, with_nearest: bool = False,
            seed: int | None = None, sampler: str = "auto", label: str | None = None):
    """(the images, their matplotlib Figure, the figure's default file name): what generate()
    writes, and what a notebook shows."""
    limits.check("figure_images", n, "-n")
    if label is not None and not ctx.conditional:
        raise AelabError(f"--label {label}: only a conditional model (model.type 'cvae') draws a given "
                         f"class; this run is a '{ctx.model.config.type}'")
    if ctx.conditional and label is None:
        return (*label_grid(ctx, min(n, 8), temperature, seed, sampler), GENERATED)
    z, source = sample_codes(ctx, n, temperature, seed, sampler)
    labels = None if label is None else np.full(n, ctx.label_index(label))
    images = ctx.decode(z, labels)
    if label is not None:
        source = f"{source}, label {label}"
    if not with_nearest:
        return images, image_grid(images, None, f"{ctx.kind}: {n} samples from {source}", cols=min(n, 8)), GENERATED
    index, rms = nearest(images, ctx.train.images)
    neighbours = ctx.train.subset(index).floats()
    title = (f"{ctx.kind}: {n} samples from {source}\nbeside each (right), its nearest training image "
             f"and the RMS pixel distance; median {np.median(rms):.3f}, {int((rms < 0.02).sum())} of {n} "
             "near-copies (< 0.02)")
    fig = explore_figures.pairs(images, neighbours, [f"{d:.3f}" for d in rms], title, None)
    return images, fig, GENERATED_NEAREST


def label_grid(ctx: Context, columns: int = 8, temperature: float = 1.0, seed: int | None = None,
               sampler: str = "auto"):
    """A conditional model's samples as (images, Figure): one row per label, one column per code,
    the same code across a column, so a column shows one style written as every class."""
    k = ctx.model.options.n_classes
    z, source = sample_codes(ctx, columns, temperature, seed, sampler)
    codes = np.tile(z, (k, 1))
    labels = np.repeat(np.arange(k), columns)
    images = ctx.decode(codes, labels)
    names = ", ".join(ctx.label_name(i) for i in range(k))
    title = f"{ctx.kind}: rows = labels ({names}); columns = {columns} codes from {source}"
    return images, image_grid(images, None, title, cols=columns)
