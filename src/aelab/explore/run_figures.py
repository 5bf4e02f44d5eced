"""The six figures every `aelab train` writes into its run folder, one function each: given a path
it writes the PNG, given none it returns the matplotlib Figure (what an estimator's plot_* methods
show in a notebook, so a notebook's figure and the run folder's are drawn by the same code). The
traversal, the samples and the interpolation are drawn by the functions behind `aelab traverse`,
`generate` and `interpolate`, so a figure and its command always agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aelab.data.dataset import ImageData
from aelab.explore.context import Context
from aelab.explore.generate import drawing as draw_samples
from aelab.explore.interpolate import drawing as draw_interpolation
from aelab.explore.traverse import traversal_grid
from aelab.layout import INTERPOLATION, LATENT_SPACE, LOSS, RECONSTRUCTION, SAMPLES, TRAVERSAL
from aelab.plots import figures
from aelab.plots.canvas import Figure

SHOWN = 10  # test images reconstructed in reconstruction.png
SAMPLED = 64  # samples in samples.png (a conditional model: 8 codes, one row per label)


def latent_2d(codes: np.ndarray) -> tuple[np.ndarray, str, tuple[str, str]]:
    """Codes in 2-D for plotting: as they are, or their first two principal components."""
    if codes.shape[1] == 1:
        return np.c_[codes[:, 0], np.zeros(len(codes))], "", ("z[0]", "")
    if codes.shape[1] == 2:
        return codes, "", ("z[0]", "z[1]")
    from sklearn.decomposition import PCA  # scikit-learn loads slowly; only for > 2-D codes

    pca = PCA(n_components=2, random_state=0).fit(codes)
    share = pca.explained_variance_ratio_.sum()
    return pca.transform(codes), f" (PCA of {codes.shape[1]}-D codes, {share:.0%} of variance)", ("PC 1", "PC 2")


def pick_pair(data: ImageData) -> tuple[int, int]:
    """Two test images of different classes (the first image and the first of another label)."""
    if data.labels is None or len(np.unique(data.labels)) < 2:
        return 0, len(data) - 1
    other = int(np.flatnonzero(data.labels != data.labels[0])[0])
    return 0, other


def reconstruction_picks(n: int, seed: int) -> np.ndarray:
    """The indices of the (at most SHOWN) images a reconstruction figure shows, of n, in order."""
    return np.sort(np.random.default_rng(seed).choice(n, min(SHOWN, n), replace=False))


def reconstruction(ctx: Context, path: Path | None = None) -> Path | Figure:
    test = ctx.test
    index = reconstruction_picks(len(test), ctx.seed)
    labels = test.labels[index] if ctx.conditional else None
    titles = [test.label_text(i) for i in index] if test.labels is not None else None
    return figures.reconstruction(test.subset(index).floats(), ctx.decode(ctx.test_codes[index], labels), path, titles)


def latent_space(ctx: Context, path: Path | None = None) -> Path | Figure:
    points, note, axes = latent_2d(ctx.test_codes)
    return figures.latent_space(points, ctx.test.labels, ctx.test.label_names, path,
                                f"{ctx.kind} latent space: test set{note}", axes, ctx.test_images)


def loss(history: list[dict], path: Path | None = None) -> Path | Figure:
    return figures.loss_curves(history, path)


def samples(ctx: Context, path: Path | None = None) -> Path | Figure:
    """The model's samples (a conditional model's: the label-by-sample grid)."""
    fig = draw_samples(ctx, 8 if ctx.conditional else SAMPLED, seed=ctx.seed)[1]
    return figures.save(fig, path)


def traversal(ctx: Context, path: Path | None = None) -> Path | Figure:
    return traversal_grid(ctx, path)


def interpolation(ctx: Context, path: Path | None = None) -> Path | Figure:
    a, b = pick_pair(ctx.test)
    return figures.save(draw_interpolation(ctx, f"#{a}", f"#{b}", steps=10)[1], path)


def write_all(ctx: Context, history: list[dict]) -> list[Path]:
    """Draw the run's figures into ctx.folder; returns their paths. A conditional model decodes
    only with a label: no traversal."""
    run = ctx.folder
    paths = [reconstruction(ctx, run / RECONSTRUCTION), latent_space(ctx, run / LATENT_SPACE),
             loss(history, run / LOSS)]
    if not ctx.conditional:
        paths.append(traversal(ctx, run / TRAVERSAL))
    paths += [samples(ctx, run / SAMPLES), interpolation(ctx, run / INTERPOLATION)]
    return paths
