"""GIFs: a walk along a path through latent space, the decoded image beside the 2-D latent map
with the moving point (seed 000's latent_space_*.gif), and a morph of one image into another.

The map is drawn once with Matplotlib; each frame pastes the decoded image and draws the trail
and the point with Pillow, so frames are cheap and all of one size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import ImageDraw

from aelab import limits
from aelab.errors import AelabError
from aelab.explore import frames as fr
from aelab.explore import latent_paths, refs
from aelab.explore.context import Context, as_context
from aelab.explore.interpolate import endpoints
from aelab.explore.latent_map import extent, plane_for
from aelab.layout import MORPH_GIF, PATH_GIF
from aelab.plots.explore_figures import map_canvas

MAP_PIXELS = 420


def _check_timing(frames: int, fps: float) -> None:
    if frames < 2:
        raise AelabError(f"--frames {frames}: a GIF needs at least 2 frames")
    limits.check("frames", frames, "--frames")
    if not 1 <= fps <= 50:
        raise AelabError(f"--fps {fps:g}: use a rate between 1 and 50 frames per second")


def path_points(ctx: Context, kind: str, frames: int, seed: int | None = None,
                points: np.ndarray | None = None):
    """(map points (frames, 2), latent codes (frames, latent_dim), plane, map points of the test set,
    {label: centroid on the map}). `points` (frames, latent_dim) replaces the named shape."""
    if seed is not None:
        limits.check("seed", seed, "--seed")
    plane = plane_for(ctx.test_codes)
    mapped = plane.to_map(ctx.test_codes)
    centroids = {name: plane.to_map(c[None])[0] for name, c in ctx.class_means().items()}
    if points is not None:
        z = np.asarray(points, np.float32)
        if z.ndim != 2 or z.shape[1] != ctx.latent_dim:
            raise AelabError(f"a latent path must have shape (frames, {ctx.latent_dim}) for this model; "
                             f"got {z.shape}")
        return plane.to_map(z), z, plane, mapped, centroids
    lo, hi = extent(mapped)
    stops = np.array(list(centroids.values())) if centroids else None
    on_map = latent_paths.shape(kind, frames, lo, hi, ctx.seed if seed is None else seed, stops)
    z = plane.to_latent(on_map)
    # Where the decoded codes really lie (a 1-D latent keeps only x of a 2-D path).
    return plane.to_map(z), z, plane, mapped, centroids


def animate(ctx: Context, path: str = "sine", frames: int = 120, fps: float = 20, out: str | Path | None = None,
            seed: int | None = None, points: np.ndarray | None = None, replace: bool = False) -> Path:
    """`aelab animate`: a GIF of `frames` frames walking the path `path` (or the given latent points).
    `replace`: see Context.out_path."""
    ctx = as_context(ctx)
    if points is not None:
        frames = len(points)
    _check_timing(frames, fps)
    on_map, z, plane, mapped, centroids = path_points(ctx, path, frames, seed, points)
    images = ctx.decode(z)
    labels = ctx.test.labels
    what = "custom path" if points is not None else f"{path} path"
    title = f"{ctx.kind}: decoding along a {what}{plane.note}"
    background, to_pixels = map_canvas(mapped, labels, ctx.test.label_names, plane.axes, title,
                                       centroids if labels is not None else None, on_map, MAP_PIXELS)
    trail = to_pixels(on_map)
    side = background.height - 40
    frames_out = []
    for f in range(frames):
        chart = background.copy()
        draw = ImageDraw.Draw(chart)
        if f > 0:
            draw.line([tuple(p) for p in trail[:f + 1]], fill=(90, 90, 90), width=2)
        x, y = trail[f]
        draw.ellipse([x - 7, y - 7, x + 7, y + 7], fill=(220, 30, 30), outline=(0, 0, 0), width=2)
        coords = ", ".join(f"{v:.2f}" for v in on_map[f][: 1 if ctx.latent_dim == 1 else 2])
        decoded = fr.with_caption(fr.panel(images[f], side), f"decoded at ({coords})", top=True)
        frame = fr.side_by_side(decoded, chart)
        frames_out.append(fr.with_caption(frame, f"frame {f + 1}/{frames}", size=12))
    name = PATH_GIF.format(path=path if points is None else "custom", frames=frames)
    return fr.write_gif(frames_out, ctx.out_path(out, name, replace), fps)


def morph(ctx: Context, a: str, b: str, frames: int = 40, fps: float = 12, method: str = "linear",
          out: str | Path | None = None, replace: bool = False) -> Path:
    """`aelab morph`: a GIF turning test image A into test image B through latent space, the two
    originals on either side. `replace`: see Context.out_path."""
    ctx = as_context(ctx)
    _check_timing(frames, fps)
    i, j = endpoints(ctx, a, b)
    images = ctx.decode(latent_paths.interpolate(ctx.test_codes[i], ctx.test_codes[j], frames, method))
    originals = ctx.test_images([i, j])
    size = 192
    left = fr.with_caption(fr.panel(originals[0], size), refs.describe(ctx, i), top=True)
    right = fr.with_caption(fr.panel(originals[1], size), refs.describe(ctx, j), top=True)
    frames_out = []
    for f, t in enumerate(np.linspace(0, 1, frames)):
        middle = fr.with_caption(fr.panel(images[f], size), f"decoded, t = {t:.2f}", top=True)
        row = fr.side_by_side(fr.side_by_side(left, middle, 24), right, 24)
        frames_out.append(fr.with_caption(row, f"{ctx.kind} {method} morph · frame {f + 1}/{frames}", size=12))
    name = MORPH_GIF.format(a=refs.parse_ref(ctx, a).name, b=refs.parse_ref(ctx, b).name, method=method, frames=frames)
    return fr.write_gif(frames_out, ctx.out_path(out, name, replace), fps)
