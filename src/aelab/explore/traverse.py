"""`aelab traverse`: what moving through the latent space does. A grid over two directions (seed
004, keras' manifold plot) and one row per direction, the rest of the code fixed.

Directions are the latent axes (z[0], z[1], ...) or, for a large latent space, the principal
directions of the training codes (PC 1, PC 2, ...): in 128 dimensions one axis carries a sliver of
what tells images apart, and the prior's centre, where an axis traversal of a VAE is pinned, is
not where a weakly regularised model's codes lie (decoded there: grey squares). Principal
directions are the ones along which the codes vary most, and each is traversed over where the
training codes lie along it, around a real image's code, so the figure shows something for any
model. `auto` takes the axes up to PRINCIPAL_ABOVE dimensions (a disentangled model's axes are
the point), principal directions above.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aelab import limits
from aelab.errors import AelabError
from aelab.explore import refs
from aelab.explore.context import Context, as_context
from aelab.layout import TRAVERSE_GRID, TRAVERSE_ROWS
from aelab.plots.explore_figures import traversal_rows
from aelab.plots.figures import traversal_grid as draw_grid
from aelab.vocabulary import PRINCIPAL_ABOVE, TRAVERSAL_DIRECTIONS as DIRECTIONS

MAX_ROWS = 32  # one row per direction; beyond this the figure is unreadable


@dataclass
class Directions:
    """What a traversal moves along: a point's coordinates are (z - origin) @ vectors.T."""
    vectors: np.ndarray  # (k, latent_dim), orthonormal rows
    origin: np.ndarray  # (latent_dim,)
    names: list[str]  # "z[3]" or "PC 1"
    what: str  # for titles

    def coords(self, z: np.ndarray) -> np.ndarray:
        return (np.asarray(z, np.float32) - self.origin) @ self.vectors.T

    def move(self, base: np.ndarray, moves: dict[int, np.ndarray]) -> np.ndarray:
        """(m, latent_dim): `base` with coordinate d set to moves[d] (each (m,)), the others kept."""
        here = self.coords(base)
        m = len(next(iter(moves.values())))
        z = np.repeat(np.asarray(base, np.float32)[None], m, 0)
        for d, values in moves.items():
            z += (np.asarray(values, np.float32) - here[d])[:, None] * self.vectors[d]
        return z


def _on_axes(directions: Directions) -> bool:
    return directions.what == "latent axes"


def axes(latent_dim: int) -> Directions:
    return Directions(np.eye(latent_dim, dtype=np.float32), np.zeros(latent_dim, np.float32),
                      [f"z[{d}]" for d in range(latent_dim)], "latent axes")


def principal(ctx: Context) -> Directions:
    """The principal directions of the training codes, in order of the variance along them."""
    codes = ctx.train_codes.astype(np.float64)
    mean = codes.mean(0)
    _, _, vt = np.linalg.svd(codes - mean, full_matrices=False)
    return Directions(vt.astype(np.float32), mean.astype(np.float32), [f"PC {i + 1}" for i in range(len(vt))],
                      "principal directions of the training codes")


def directions_for(ctx: Context, kind: str = "auto") -> Directions:
    if kind not in DIRECTIONS:
        raise AelabError(f"--directions {kind}: choose one of {', '.join(DIRECTIONS)}")
    if kind == "auto":
        kind = "principal" if ctx.latent_dim > PRINCIPAL_ABOVE else "axes"
    return principal(ctx) if kind == "principal" else axes(ctx.latent_dim)


def check_dims(ctx: Context, dims: tuple[int, ...], directions: Directions | None = None) -> tuple[int, ...]:
    k = ctx.latent_dim if directions is None else len(directions.vectors)
    bad = [d for d in dims if not 0 <= d < k]
    if bad:
        plural = "s" if k > 1 else ""
        what = (f"this model's latent space has {k} dimension{plural}" if directions is None or _on_axes(directions)
                else f"this model's codes have {k} principal direction{plural}")
        raise AelabError(f"--dims {','.join(map(str, dims))}: {what} (0..{k - 1})")
    if len(dims) > 1 and dims[0] == dims[1]:
        raise AelabError(f"--dims {dims[0]},{dims[1]}: give two different dimensions")
    return dims


def centre(ctx: Context, around: str | None, directions: Directions | None = None) -> tuple[np.ndarray, str]:
    """The fixed point of the traversal and how to say it in a title. Along the latent axes: 0, the
    prior's centre, for the VAE family; for an AE, whose codes may lie far from 0, the median of
    its training codes. Along principal directions: the code of the test image nearest the codes'
    mean, a typical image (the mean code itself need not decode to one)."""
    if around is not None:
        index = refs.image_index(ctx, refs.parse_ref(ctx, around))
        return ctx.test_codes[index].astype(np.float32), f"others at the code of {refs.describe(ctx, index)}"
    if directions is not None and not _on_axes(directions):
        index = int(np.argmin(np.square(ctx.test_codes - directions.origin).sum(1)))
        return ctx.test_codes[index].astype(np.float32), \
            f"around the code of {refs.describe(ctx, index)}, the one nearest the codes' mean"
    if ctx.model.prior_span() is not None:
        return np.full(ctx.latent_dim, np.mean(ctx.model.prior_span()), np.float32), "others at the prior's centre"
    return np.median(ctx.train_codes, axis=0).astype(np.float32), "others at the training codes' median"


def rows(ctx: Context, spans: np.ndarray, steps: int = 15, around: np.ndarray | None = None,
         directions: Directions | None = None) -> np.ndarray:
    """(k, steps, C, H, W): row d moves coordinate d over spans[d] (lo, hi), the rest at `around`."""
    directions = directions or axes(ctx.latent_dim)
    k = min(len(directions.vectors), MAX_ROWS)
    base = np.zeros(ctx.latent_dim, np.float32) if around is None else np.asarray(around, np.float32)
    z = np.concatenate([directions.move(base, {d: np.linspace(*spans[d], steps)}) for d in range(k)])
    return ctx.decode(z).reshape(k, steps, *ctx.model.input_shape)


def default_spans(ctx: Context, directions: Directions | None = None) -> tuple[np.ndarray, str]:
    """((k, 2) range of each coordinate, how it was chosen). Along the axes of a model with a prior,
    the prior's range (the VAE family: -3..3, its +-3 sigma). Otherwise (an AE, whose codes have no
    set scale, or principal directions): the 2nd to 98th percentile of the training codes along each,
    so no traversal leaves its data."""
    span = ctx.model.prior_span()
    if span is not None and (directions is None or _on_axes(directions)):
        return np.tile(np.array(span, np.float32), (ctx.latent_dim, 1)), "the prior's range"
    coords = ctx.train_codes if directions is None else directions.coords(ctx.train_codes)
    spans = np.percentile(coords, [2, 98], axis=0).T.astype(np.float32)  # (k, 2)
    spans[:, 1] = np.maximum(spans[:, 1], spans[:, 0] + 1e-3)  # a dead direction still gets a range
    where = "along each" if directions is not None and not _on_axes(directions) else "per axis"
    return spans, f"2-98% of the training codes {where}"


def _spans(ctx: Context, span, directions: Directions) -> tuple[np.ndarray, str]:
    if span is None:
        return default_spans(ctx, directions)
    if not np.isfinite(span).all():  # nan compares false with everything: the check below would pass it
        raise AelabError(f"--range {span[0]:g},{span[1]:g}: give two finite numbers, e.g. --range -3,3")
    if span[0] >= span[1]:
        raise AelabError(f"--range {span[0]:g},{span[1]:g}: the first value must be below the second")
    return np.tile(np.asarray(span, np.float32), (len(directions.vectors), 1)), "the range asked for"


def _range_text(spans: np.ndarray, dims, directions: Directions) -> str:
    return ", ".join(f"{directions.names[d]} in [{spans[d][0]:.2g}, {spans[d][1]:.2g}]" for d in dict.fromkeys(dims))


def traversal_grid(ctx: Context, path: Path, dims=(0, 1), span=None, steps: int = 15,
                   around: str | None = None, directions: str = "auto") -> Path:
    """The grid over two directions (one for a 1-D latent space), each over its range; the title
    says the ranges and where they come from. latent_traversal.png of every run is this."""
    ctx = as_context(ctx)
    if steps < 2:
        raise AelabError(f"--steps {steps}: a traversal needs at least 2 steps")
    limits.check("figure_images", steps * steps, f"--steps {steps}: a grid of {steps} x {steps} =")
    frame = directions_for(ctx, directions)
    spans, source = _spans(ctx, span, frame)
    dims = check_dims(ctx, tuple(dims)[:2] if ctx.latent_dim > 1 else (0,), frame)
    base, how = centre(ctx, around, frame)
    names = [frame.names[d] for d in dims]
    over = " and ".join(names) + ("" if _on_axes(frame) else f" ({frame.what})")
    fixed = f"; {how}" if ctx.latent_dim > len(dims) or around else ""
    title = f"{ctx.kind}: images decoded over {over}{fixed}\n{_range_text(spans, dims, frame)} ({source})"
    xs = np.linspace(*spans[dims[0]], steps, dtype=np.float32)
    ys = np.linspace(*spans[dims[1]], steps, dtype=np.float32)[::-1] if len(dims) > 1 else None  # top = largest
    moves = {dims[0]: np.tile(xs, steps if ys is not None else 1)}
    if ys is not None:
        moves[dims[1]] = np.repeat(ys, steps)
    images = ctx.decode(frame.move(base, moves))
    return draw_grid(images, xs, ys, names, path, title)


def traverse(ctx: Context, dims=(0, 1), span=None, steps: int = 15, around: str | None = None,
             out: str | Path | None = None, replace: bool = False, directions: str = "auto") -> tuple[Path, Path]:
    """The grid figure (traversal.png) and the per-direction rows (traversal_rows.png). `span`
    (from, to), for every direction, defaults to default_spans(); `directions`: see DIRECTIONS.
    `replace`: see Context.out_path."""
    ctx = as_context(ctx)
    # both names are checked (and numbered together) before either file is written
    grid_target, rows_target = ctx.out_paths(out, (TRAVERSE_GRID, TRAVERSE_ROWS), replace)
    grid_path = traversal_grid(ctx, grid_target, dims, span, steps, around, directions)
    frame = directions_for(ctx, directions)
    spans, source = _spans(ctx, span, frame)
    base, how = centre(ctx, around, frame)
    images = rows(ctx, spans, steps, base, frame)
    k = len(images)
    shown = f" (first {k} of {len(frame.vectors)})" if len(frame.vectors) > k else ""
    same = bool(np.all(spans[:k] == spans[0]))
    one = "one latent dimension" if _on_axes(frame) else f"one of the {frame.what}"
    rows_path = traversal_rows(images, spans[:k] if not same else spans[:1],
                               f"{ctx.kind}: {one} at a time{shown}, {how}; each row over "
                               f"{'[%.2g, %.2g]' % tuple(spans[0]) if same else 'its own range'} ({source})",
                               rows_target, names=frame.names[:k])
    return grid_path, rows_path
