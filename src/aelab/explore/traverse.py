"""`aelab traverse`: what each latent dimension does. A grid over two dimensions (seed 004, keras'
manifold plot) and one row per dimension, the other dimensions fixed at zero or at an image's code."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aelab.errors import AelabError
from aelab.explore import refs
from aelab.explore.context import Context, as_context
from aelab.layout import TRAVERSE_GRID, TRAVERSE_ROWS
from aelab.plots.explore_figures import traversal_rows
from aelab.plots.figures import traversal_grid as draw_grid

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
    """The fixed point of the traversal and how to say it in a title: 0, the prior's centre, for the
    VAE family; for an AE, whose codes may lie far from 0, the median of its training codes."""
    if around is None and ctx.model.prior_span() is not None:
        return np.full(ctx.latent_dim, np.mean(ctx.model.prior_span()), np.float32), "others at the prior's centre"
    if around is None:
        return np.median(ctx.train_codes, axis=0).astype(np.float32), "others at the training codes' median"
    index = refs.image_index(ctx, refs.parse_ref(ctx, around))
    return ctx.test_codes[index].astype(np.float32), f"others at the code of {refs.describe(ctx, index)}"


def rows(ctx: Context, spans: np.ndarray, steps: int = 15, around: np.ndarray | None = None) -> np.ndarray:
    """(dims, steps, C, H, W): row d varies z[d] over spans[d] (lo, hi) with the others at `around`."""
    k = min(ctx.latent_dim, MAX_ROWS)
    base = np.zeros(ctx.latent_dim, np.float32) if around is None else np.asarray(around, np.float32)
    values = np.stack([np.linspace(lo, hi, steps, dtype=np.float32) for lo, hi in spans[:k]])  # (k, steps)
    z = np.repeat(base[None], k * steps, 0)
    z[np.arange(k * steps), np.repeat(np.arange(k), steps)] = values.ravel()
    return ctx.decode(z).reshape(k, steps, *ctx.model.input_shape)


def default_spans(ctx: Context) -> tuple[np.ndarray, str]:
    """((latent_dim, 2) range of each axis, how it was chosen). A model with a prior says its range
    (the VAE family: -3..3, the prior's +-3 sigma). A model whose codes have no set scale (an AE):
    each axis's own 2nd to 98th percentile of the training codes, so no axis leaves its data."""
    span = ctx.model.prior_span()
    if span is not None:
        return np.tile(np.array(span, np.float32), (ctx.latent_dim, 1)), "the prior's range"
    spans = np.percentile(ctx.train_codes, [2, 98], axis=0).T.astype(np.float32)  # (latent_dim, 2)
    spans[:, 1] = np.maximum(spans[:, 1], spans[:, 0] + 1e-3)  # a dead axis still gets a range
    return spans, "2-98% of the training codes per axis"


def _spans(ctx: Context, span) -> tuple[np.ndarray, str]:
    if span is None:
        return default_spans(ctx)
    if span[0] >= span[1]:
        raise AelabError(f"--range {span[0]:g},{span[1]:g}: the first value must be below the second")
    return np.tile(np.asarray(span, np.float32), (ctx.latent_dim, 1)), "the range asked for"


def _range_text(spans: np.ndarray, dims) -> str:
    return ", ".join(f"z[{d}] in [{spans[d][0]:.2g}, {spans[d][1]:.2g}]" for d in dict.fromkeys(dims))


def traversal_grid(ctx: Context, path: Path, dims=(0, 1), span=None, steps: int = 15,
                   around: str | None = None) -> Path:
    """The grid over two latent dimensions (one for a 1-D latent space), each over its range; the
    title says the ranges and where they come from. latent_traversal.png of every run is this."""
    ctx = as_context(ctx)
    if steps < 2:
        raise AelabError(f"--steps {steps}: a traversal needs at least 2 steps")
    spans, source = _spans(ctx, span)
    dims = check_dims(ctx, tuple(dims)[:2] if ctx.latent_dim > 1 else (0,))
    base, how = centre(ctx, around)
    over = f"z[{dims[0]}]" + (f" and z[{dims[1]}]" if len(dims) > 1 else "")
    fixed = f"; {how}" if ctx.latent_dim > len(dims) or around else ""
    title = f"{ctx.kind}: images decoded over {over}{fixed}\n{_range_text(spans, dims)} ({source})"
    grid_dims = dims if len(dims) > 1 else (dims[0], dims[0])
    return draw_grid(ctx.decode, ctx.latent_dim, path, grid_dims, (spans[grid_dims[0]], spans[grid_dims[1]]),
                     steps, base, title)


def traverse(ctx: Context, dims=(0, 1), span=None, steps: int = 15, around: str | None = None,
             out: str | Path | None = None, replace: bool = False) -> tuple[Path, Path]:
    """The grid figure (traversal.png) and the per-dimension rows (traversal_rows.png).
    `span` (from, to), for every axis, defaults to default_spans(). `replace`: see Context.out_path."""
    ctx = as_context(ctx)
    # both names are checked (and numbered together) before either file is written
    grid_target, rows_target = ctx.out_paths(out, (TRAVERSE_GRID, TRAVERSE_ROWS), replace)
    grid_path = traversal_grid(ctx, grid_target, dims, span, steps, around)
    spans, source = _spans(ctx, span)
    base, how = centre(ctx, around)
    images = rows(ctx, spans, steps, base)
    shown = f" (first {MAX_ROWS} of {ctx.latent_dim})" if ctx.latent_dim > MAX_ROWS else ""
    k = len(images)
    same = bool(np.all(spans[:k] == spans[0]))
    rows_path = traversal_rows(images, spans[:k] if not same else spans[:1],
                               f"{ctx.kind}: one latent dimension at a time{shown}, {how}; each row over "
                               f"{'[%.2g, %.2g]' % tuple(spans[0]) if same else 'its own range'} ({source})",
                               rows_target)
    return grid_path, rows_path
