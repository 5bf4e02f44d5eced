"""The six figures every `aelab train` writes into its run folder. The traversal, the samples and
the interpolation are drawn by the functions behind `aelab traverse`, `generate` and
`interpolate`, so a figure and its command always agree. (Moved from plots/run_figures.py.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aelab.data.dataset import ImageData
from aelab.explore.context import Context
from aelab.explore.generate import generate
from aelab.explore.interpolate import interpolate
from aelab.explore.traverse import traversal_grid
from aelab.layout import INTERPOLATION, LATENT_SPACE, LOSS, RECONSTRUCTION, SAMPLES, TRAVERSAL
from aelab.plots import figures


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


def write_all(ctx: Context, history: list[dict]) -> list[Path]:
    """Draw the run's figures into ctx.folder; returns their paths."""
    run, test, seed = ctx.folder, ctx.test, ctx.seed
    rng = np.random.default_rng(seed)
    shown = np.sort(rng.choice(len(test), min(10, len(test)), replace=False))
    codes = ctx.test_codes
    shown_labels = test.labels[shown] if ctx.conditional else None
    paths = [figures.reconstruction(test.subset(shown).floats(), ctx.decode(codes[shown], shown_labels), run / RECONSTRUCTION,
                                    [test.label_text(i) for i in shown] if test.labels is not None else None)]
    points, note, axes = latent_2d(codes)
    paths.append(figures.latent_space(points, test.labels, test.label_names, run / LATENT_SPACE,
                                      f"{ctx.kind} latent space: test set{note}", axes, ctx.test_images))
    paths.append(figures.loss_curves(history, run / LOSS))
    if ctx.conditional:  # decoding needs a label: no traversal; samples are the label-by-sample grid
        paths.append(generate(ctx, 8, out=run / SAMPLES, seed=seed, replace=True)[1])
    else:
        paths.append(traversal_grid(ctx, run / TRAVERSAL))
        paths.append(generate(ctx, 64, out=run / SAMPLES, seed=seed, replace=True)[1])
    a, b = pick_pair(test)
    paths.append(interpolate(ctx, f"#{a}", f"#{b}", steps=10, out=run / INTERPOLATION, replace=True)[1])
    return paths
