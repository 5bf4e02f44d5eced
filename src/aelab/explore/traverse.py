"""`aelab traverse`: what each latent dimension does. A grid over two dimensions (seed 004, keras'
manifold plot) and one row per dimension, the other dimensions fixed at zero or at an image's code."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aelab.errors import AelabError
from aelab.explore import refs
from aelab.explore.context import Context, as_context, not_existing

MAX_ROWS = 32  # one row per dimension; beyond this the figure is unreadable


def check_dims(ctx: Context, dims: tuple[int, ...]) -> tuple[int, ...]:
    k = ctx.latent_dim
    bad = [d for d in dims if not 0 <= d < k]
    if bad:
        raise AelabError(f"--dims {','.join(map(str, dims))}: this model's latent space has {k} "
                         f"dimension{'s' if k > 1 else ''} (0..{k - 1})")
    if len(dims) > 1 and dims[0] == dims[1]:
        raise AelabError(f"--dims {dims[0]},{dims[1]}: give two different dimensions")
    return dims


def centre(ctx: Context, around: str | None) -> tuple[np.ndarray, str]:
    """The fixed point of the traversal and how to say it in a title."""
    if around is None:
        return np.zeros(ctx.latent_dim, np.float32), "others at 0"
    index = refs.image_index(ctx, refs.parse_ref(ctx, around))
    return ctx.test_codes[index].astype(np.float32), f"others at the code of {refs.describe(ctx, index)}"


def rows(ctx: Context, span=(-3.0, 3.0), steps: int = 15, around: np.ndarray | None = None) -> np.ndarray:
    """(dims, steps, C, H, W): row d varies z[d] over `span` with the others at `around`."""
    k = min(ctx.latent_dim, MAX_ROWS)
    base = np.zeros(ctx.latent_dim, np.float32) if around is None else np.asarray(around, np.float32)
    values = np.linspace(span[0], span[1], steps, dtype=np.float32)
    z = np.repeat(base[None], k * steps, 0)
    z[np.arange(k * steps), np.repeat(np.arange(k), steps)] = np.tile(values, k)
    return ctx.decode(z).reshape(k, steps, *ctx.model.input_shape)


def default_span(ctx: Context) -> tuple[float, float]:
    """-3..3 for the VAE family (the prior's +-3 sigma); for an AE, whose codes have no set scale,
    the range where its test codes lie (2nd to 98th percentile over all dimensions)."""
    if ctx.model.variational:
        return -3.0, 3.0
    lo, hi = np.percentile(ctx.test_codes, [2, 98])
    return float(lo), float(hi)


def traverse(ctx: Context, dims=(0, 1), span=None, steps: int = 15, around: str | None = None,
             out: str | Path | None = None) -> tuple[Path, Path]:
    """The grid figure (traversal.png) and the per-dimension rows (traversal_rows.png).
    `span` (from, to) defaults to default_span()."""
    ctx = as_context(ctx)
    from aelab.plots.explore_figures import traversal_rows
    from aelab.plots.figures import traversal_grid

    span = default_span(ctx) if span is None else span
    if steps < 2:
        raise AelabError(f"--steps {steps}: a traversal needs at least 2 steps")
    if span[0] >= span[1]:
        raise AelabError(f"--range {span[0]:g},{span[1]:g}: the first value must be below the second")
    dims = check_dims(ctx, tuple(dims)[:2] if ctx.latent_dim > 1 else (0,))
    base, how = centre(ctx, around)
    grid_path = ctx.out_path(out, "traversal.png")
    if out is not None:
        not_existing(grid_path.with_name(grid_path.stem + "_rows.png"))
    over = f"z[{dims[0]}]" + (f" and z[{dims[1]}]" if len(dims) > 1 else "")
    title = f"{ctx.kind}: images decoded over {over}" + (f" ({how})" if ctx.latent_dim > len(dims) or around else "")
    traversal_grid(ctx.decode, ctx.latent_dim, grid_path, dims if len(dims) > 1 else (dims[0], dims[0]),
                   span, steps, base, title)
    images = rows(ctx, span, steps, base)
    shown = f" (first {MAX_ROWS} of {ctx.latent_dim})" if ctx.latent_dim > MAX_ROWS else ""
    rows_path = traversal_rows(images, np.linspace(span[0], span[1], steps),
                               f"{ctx.kind}: one latent dimension at a time{shown}, {how}",
                               grid_path.with_name(grid_path.stem + "_rows.png"))
    return grid_path, rows_path
