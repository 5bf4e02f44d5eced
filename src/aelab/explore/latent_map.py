"""The 2-D latent map of any latent size: the codes as they are (1 or 2 dimensions), or projected
with PCA (which can be inverted, so points on the map can be decoded) or t-SNE (which cannot)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aelab.errors import AelabError
from aelab.explore.context import Context, as_context
from aelab.layout import LATENT_MAP
from aelab.plots.explore_figures import draw_latent_map
from aelab.plots.figures import save
from aelab.vocabulary import LATENT_MAP_METHODS as METHODS
log = logging.getLogger("aelab")
TSNE_MAX_POINTS = 3000  # t-SNE is quadratic-ish; more points only slow it down


@dataclass
class Plane:
    """How latent codes map to the 2-D map and back."""
    latent_dim: int
    axes: tuple[str, str]
    note: str = ""  # for titles, e.g. " (PCA of 8-D codes, 71% of variance)"
    pca: object | None = None  # a fitted sklearn PCA
    invertible: bool = True

    def to_map(self, codes: np.ndarray) -> np.ndarray:
        if self.pca is not None:
            return self.pca.transform(codes)
        if self.latent_dim == 1:
            return np.c_[codes[:, 0], np.zeros(len(codes))]
        return np.asarray(codes)

    def to_latent(self, points: np.ndarray) -> np.ndarray:
        """Map points -> latent codes: the PCA plane through the codes' mean, or the points themselves."""
        if not self.invertible:
            raise AelabError("a t-SNE map has no inverse: points on it cannot be decoded; use --method pca")
        points = np.asarray(points, np.float64)
        if self.pca is not None:
            return self.pca.inverse_transform(points).astype(np.float32)
        if self.latent_dim == 1:
            return points[:, :1].astype(np.float32)
        return points.astype(np.float32)


def plane_for(codes: np.ndarray, method: str = "auto") -> Plane:
    """The invertible map: identity for 1-2 dimensions, PCA above (also for method 'tsne', whose
    points cannot be decoded)."""
    k = codes.shape[1]
    if k == 1:
        return Plane(1, ("z[0]", ""))
    if k == 2 and method != "pca":
        return Plane(2, ("z[0]", "z[1]"))
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=0).fit(codes)
    share = pca.explained_variance_ratio_.sum()
    return Plane(k, ("PC 1", "PC 2"), f" (PCA of {k}-D codes, {share:.0%} of variance)", pca)


def project(codes: np.ndarray, method: str = "auto", seed: int = 0) -> tuple[np.ndarray, Plane, np.ndarray]:
    """(points (M, 2), plane, index of the codes shown (all but for a subsampled t-SNE))."""
    if method not in METHODS:
        raise AelabError(f"unknown map method '{method}'; use one of {', '.join(METHODS)}")
    shown = np.arange(len(codes))
    if method != "tsne" or codes.shape[1] <= 2:
        plane = plane_for(codes, method)
        return plane.to_map(codes), plane, shown
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    if len(codes) > TSNE_MAX_POINTS:
        shown = np.sort(np.random.default_rng(seed).choice(len(codes), TSNE_MAX_POINTS, replace=False))
    perplexity = min(30.0, max(2.0, (len(shown) - 1) / 3))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    # Small sets: threads only add overhead (10x slower on a busy machine), so use one.
    with threadpool_limits(1 if len(shown) < 2000 else None):
        points = tsne.fit_transform(codes[shown])
    sub = f", {len(shown)} of {len(codes)} points" if len(shown) < len(codes) else ""
    plane = Plane(codes.shape[1], ("t-SNE 1", "t-SNE 2"), f" (t-SNE of {codes.shape[1]}-D codes{sub})",
                  invertible=False)
    return points, plane, shown


def extent(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The box where the points lie (2nd to 98th percentile, never flat)."""
    lo, hi = np.percentile(points, 2, axis=0), np.percentile(points, 98, axis=0)
    flat = (hi - lo) < 1e-6
    return np.where(flat, lo - 1, lo), np.where(flat, hi + 1, hi)


def latent_map(ctx: Context, out: str | Path | None = None, method: str = "auto",
               thumbnails: bool = True, grid: int = 12, replace: bool = False) -> Path:
    """`aelab latent`: the test codes on the 2-D map coloured by label, over a grid of decoded
    thumbnails where the map can be decoded (keras' 2-D manifold plot); written as
    latent_map_<2d|pca|tsne>.png, after what was drawn. `replace`: see Context.out_path."""
    ctx = as_context(ctx)
    fig, used = drawing(ctx, method, thumbnails, grid)
    return save(fig, ctx.out_path(out, LATENT_MAP.format(method=used), replace))


def drawing(ctx: Context, method: str = "auto", thumbnails: bool = True, grid: int = 12):
    """(the latent map's matplotlib Figure, the method drawn: '2d', 'pca' or 'tsne'). An unlabelled
    map shows test images themselves at their points (a spread-out subset)."""
    if method == "tsne" and ctx.latent_dim <= 2:
        log.warning("t-SNE of %d-D codes would only distort them: the map shows the codes as they are "
                    "(%s)", ctx.latent_dim, LATENT_MAP.format(method="2d"))
    points, plane, shown = project(ctx.test_codes, method, ctx.seed)
    background = None
    if thumbnails and plane.invertible:
        lo, hi = extent(points)
        xs, ys = np.linspace(lo[0], hi[0], grid), np.linspace(hi[1], lo[1], grid)
        if plane.latent_dim == 1:
            ys = np.zeros(1)
        cells = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
        background = (ctx.decode(plane.to_latent(cells)), len(xs), (lo, hi))
    labels = None if ctx.test.labels is None else ctx.test.labels[shown]
    title = f"{ctx.kind} latent map of the test set{plane.note}"
    if background is not None:
        title += "\nbehind: images decoded at grid points"
    if labels is None:
        title += ("; " if background is not None else "\n") + "framed: test images at their codes"
    used = "tsne" if method == "tsne" and ctx.latent_dim > 2 else ("pca" if plane.pca is not None else "2d")
    fig = draw_latent_map(points, labels, ctx.test.label_names, plane.axes, title, background,
                          lambda i: ctx.test_images(shown[i]))
    return fig, used
