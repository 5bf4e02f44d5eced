"""New images from a model: samples from the prior (VAE family) or, for a plain AE that has no
prior, from a Gaussian fitted to the training codes; and, to tell generation from memorisation
(seed 003's "imitaciones"), each sample's nearest training image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from aelab.errors import AelabError
from aelab.explore.context import Context, as_context


def sample_codes(ctx: Context, n: int, temperature: float = 1.0, seed: int | None = None) -> tuple[np.ndarray, str]:
    """(n codes, what they were drawn from, for titles). Temperature scales the spread."""
    if n < 1:
        raise AelabError(f"-n {n}: ask for at least 1 sample")
    if not temperature > 0:  # also refuses nan
        raise AelabError(f"--temperature {temperature}: must be > 0 (1 is the prior itself)")
    rng = np.random.default_rng(ctx.seed if seed is None else seed)
    k = ctx.latent_dim
    temp = "" if temperature == 1 else f", temperature {temperature:g}"
    if ctx.model.variational:
        return (temperature * rng.standard_normal((n, k))).astype(np.float32), f"the prior N(0, I){temp}"
    codes = ctx.train_codes
    mean, cov = codes.mean(0), np.cov(codes, rowvar=False).reshape(k, k)
    z = rng.multivariate_normal(mean, cov * temperature ** 2, n, method="eigh")
    return z.astype(np.float32), f"a Gaussian fitted to the training codes (an AE has no prior){temp}"


@torch.no_grad()
def nearest(images: np.ndarray, reference: np.ndarray, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """For each image, the index of the closest reference image (Euclidean, pixel space) and the
    root-mean-square pixel difference to it (0 = an exact copy, 1 = black vs white)."""
    x = torch.from_numpy(np.ascontiguousarray(images, np.float32)).flatten(1)
    best_d = torch.full((len(x),), float("inf"))
    best_i = torch.zeros(len(x), dtype=torch.long)
    for start in range(0, len(reference), chunk):
        ref = torch.from_numpy(np.asarray(reference[start:start + chunk]))
        ref = (ref.float() / 255.0 if ref.dtype == torch.uint8 else ref.float()).flatten(1)
        d, i = torch.cdist(x, ref).min(dim=1)
        better = d < best_d
        best_d[better], best_i[better] = d[better], i[better] + start
    rms = best_d / np.sqrt(x.shape[1])
    return best_i.numpy(), rms.numpy()


def generate(ctx: Context, n: int = 64, temperature: float = 1.0, with_nearest: bool = False,
             out: str | Path | None = None, seed: int | None = None) -> tuple[np.ndarray, Path | None]:
    """`aelab generate`: (n images (n, C, H, W), the figure's path)."""
    ctx = as_context(ctx)
    from aelab.plots import explore_figures
    from aelab.plots.figures import image_grid

    z, source = sample_codes(ctx, n, temperature, seed)
    images = ctx.decode(z)
    if not with_nearest:
        title = f"{ctx.kind}: {n} samples from {source}"
        return images, image_grid(images, ctx.out_path(out, "generated.png"), title, cols=min(n, 8))
    index, rms = nearest(images, ctx.train.images)
    neighbours = ctx.train.subset(index).floats()
    title = (f"{ctx.kind}: {n} samples from {source}\nbeside each (right), its nearest training image "
             f"and the RMS pixel distance; median {np.median(rms):.3f}, {int((rms < 0.02).sum())} of {n} "
             "near-copies (< 0.02)")
    path = explore_figures.pairs(images, neighbours, [f"{d:.3f}" for d in rms], title,
                                 ctx.out_path(out, "generated_nearest.png"))
    return images, path
