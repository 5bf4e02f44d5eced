"""The six figures every `aelab train` writes into its run folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aelab.data.dataset import ImageData
from aelab.models.autoencoder import Autoencoder
from aelab.models.inference import decode, encode
from aelab.plots import figures


def latent_2d(codes: np.ndarray) -> tuple[np.ndarray, str, tuple[str, str]]:
    """Codes in 2-D for plotting: as they are, or their first two principal components."""
    if codes.shape[1] == 1:
        return np.c_[codes[:, 0], np.zeros(len(codes))], "", ("z[0]", "")
    if codes.shape[1] == 2:
        return codes, "", ("z[0]", "z[1]")
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=0).fit(codes)
    share = pca.explained_variance_ratio_.sum()
    return pca.transform(codes), f" (PCA of {codes.shape[1]}-D codes, {share:.0%} of variance)", ("PC 1", "PC 2")


def pick_pair(data: ImageData) -> tuple[int, int]:
    """Two test images of different classes (the first image and the first of another label)."""
    if data.labels is None or len(np.unique(data.labels)) < 2:
        return 0, len(data) - 1
    other = int(np.flatnonzero(data.labels != data.labels[0])[0])
    return 0, other


def write_all(run: Path, model: Autoencoder, test: ImageData, history: list[dict], seed: int) -> list[Path]:
    kind = model.config.type.replace("_", "-").upper()
    rng = np.random.default_rng(seed)
    n_show = min(10, len(test))
    shown = np.sort(rng.choice(len(test), n_show, replace=False))
    originals = test.subset(shown).floats()
    codes = encode(model, test.images)
    dec = lambda z: decode(model, z)
    paths = [figures.reconstruction(originals, dec(codes[shown]), run / "reconstruction.png",
                                    [test.label_text(i) for i in shown] if test.labels is not None else None)]
    points, note, axes = latent_2d(codes)
    paths.append(figures.latent_space(points, test.labels, test.label_names, run / "latent_space.png",
                                      f"{kind} latent space: test set{note}", axes))
    paths.append(figures.loss_curves(history, run / "loss.png"))
    latent_dim = model.config.latent_dim
    paths.append(figures.traversal_grid(dec, latent_dim, run / "latent_traversal.png",
                                        title=f"{kind}: decoded grid over z[0], z[1] (other dims 0)"
                                        if latent_dim > 2 else None))
    if model.variational:
        z, title = rng.standard_normal((64, latent_dim)), f"{kind}: 64 samples from the prior N(0, I)"
    else:  # a plain AE has no prior: sample a Gaussian fitted to the codes, and say so
        mean, cov = codes.mean(0), np.cov(codes, rowvar=False).reshape(latent_dim, latent_dim)
        z, title = rng.multivariate_normal(mean, cov, 64), f"{kind}: 64 samples from a Gaussian fitted to the test codes"
    paths.append(figures.image_grid(dec(z.astype(np.float32)), run / "samples.png", title, cols=8))
    a, b = pick_pair(test)
    t = np.linspace(0, 1, 10)[:, None]
    path_z = (1 - t) * codes[a] + t * codes[b]
    ends = test.subset(np.array([a, b])).floats()
    strip = np.concatenate([ends[:1], dec(path_z.astype(np.float32)), ends[1:]])
    captions = [f"original {test.label_text(a)}"] + [f"{x:.2f}" for x in t[:, 0]] + [f"original {test.label_text(b)}"]
    paths.append(figures.strip(strip, run / "interpolation.png",
                               f"{kind}: linear interpolation between the codes of test images {a} and {b}", captions))
    return paths
