"""`aelab interpolate`: decoded images on the way from one test image's code to another's
(seed 002's 6 -> 0), the two originals at the ends of the strip. For a conditional model (a CVAE)
the label travels too, from A's class to B's, as class weights beside the code."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aelab import limits
from aelab.errors import AelabError
from aelab.explore import refs
from aelab.explore.context import Context, as_context
from aelab.explore.latent_paths import interpolate as path_between
from aelab.layout import INTERPOLATE
from aelab.plots.figures import save, strip


def endpoints(ctx: Context, a: str, b: str) -> tuple[int, int]:
    """Two references -> two test image indices."""
    return refs.image_index(ctx, refs.parse_ref(ctx, a)), refs.image_index(ctx, refs.parse_ref(ctx, b))


def interpolation(ctx: Context, a: str, b: str, steps: int = 10, method: str = "linear") -> tuple[np.ndarray, int, int]:
    """(decoded images (steps, C, H, W) from A's code to B's, both ends included, index A, index B)."""
    ctx = as_context(ctx)
    if steps < 2:
        raise AelabError(f"--steps {steps}: an interpolation needs at least 2 steps (the two ends)")
    limits.check("steps", steps, "--steps")
    i, j = endpoints(ctx, a, b)
    z = path_between(ctx.test_codes[i], ctx.test_codes[j], steps, method)
    if not ctx.conditional:
        return ctx.decode(z), i, j
    # class-conditional: the label walks from A's class to B's with the code (class weights)
    k = ctx.model.options.n_classes
    t = np.linspace(0, 1, steps)[:, None]
    weights = (1 - t) * np.eye(k)[ctx.test.labels[i]] + t * np.eye(k)[ctx.test.labels[j]]
    return ctx.decode(z, weights.astype(np.float32)), i, j


def interpolate(ctx: Context, a: str, b: str, steps: int = 10, method: str = "linear",
                out: str | Path | None = None, replace: bool = False) -> tuple[np.ndarray, Path]:
    """`aelab interpolate`: (the decoded images, the strip's path). `replace`: see Context.out_path."""
    ctx = as_context(ctx)
    images, fig = drawing(ctx, a, b, steps, method)
    a_name, b_name = refs.parse_ref(ctx, a).name, refs.parse_ref(ctx, b).name
    name = INTERPOLATE.format(a=a_name, b=b_name, method=method)
    return images, save(fig, ctx.out_path(out, name, replace))


def drawing(ctx: Context, a: str, b: str, steps: int = 10, method: str = "linear"):
    """(the decoded images, the strip's matplotlib Figure: the two originals at its ends)."""
    images, i, j = interpolation(ctx, a, b, steps, method)
    originals = ctx.test_images([i, j])
    row = np.concatenate([originals[:1], images, originals[1:]])
    t = np.linspace(0, 1, steps)
    captions = ["original"] + [f"t={x:.2f}" for x in t] + ["original"]
    title = (f"{ctx.kind}: {method} interpolation from {refs.describe(ctx, i)} to {refs.describe(ctx, j)}"
             f" in {steps} steps")
    return images, strip(row, None, title, captions)
