"""`aelab denoise`: corrupt test images, reconstruct them, and show noisy / denoised / clean
(seed 003) with a per-image score: pixel accuracy on binary data, mean squared error otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from aelab.data.noise import corrupt, noise_from_text  # noqa: F401 (noise_from_text: imported from here before)
from aelab import limits
from aelab.errors import AelabError
from aelab.explore.context import Context, as_context
from aelab.layout import DENOISE, slug
from aelab.models.inference import reconstruct
from aelab.plots.explore_figures import denoise_rows


def denoising(ctx: Context, noise: str = "gaussian:0.3", n: int = 10, seed: int | None = None):
    """(indices, noisy, denoised, clean, scores, score name): n seeded test images."""
    ctx = as_context(ctx)
    spec = noise_from_text(noise)
    if n < 1:
        raise AelabError(f"-n {n}: ask for at least 1 image")
    limits.check("figure_images", n, "-n")
    n = min(n, len(ctx.test))
    seed = ctx.seed if seed is None else limits.check("seed", seed, "--seed")
    index = np.sort(np.random.default_rng(seed).choice(len(ctx.test), n, replace=False))
    clean = ctx.test_images(index)
    generator = torch.Generator().manual_seed(seed)
    noisy = corrupt(torch.from_numpy(clean), spec, generator).numpy()
    denoised = reconstruct(ctx.model, noisy)
    if ctx.binary:
        scores = ((denoised >= 0.5) == (clean >= 0.5)).reshape(n, -1).mean(1)
        name = "pixel accuracy"
    else:
        scores = np.square(denoised - clean).reshape(n, -1).mean(1)
        name = "MSE"
    return index, noisy, denoised, clean, scores, name


def denoise(ctx: Context, noise: str = "gaussian:0.3", n: int = 10, out: str | Path | None = None,
            seed: int | None = None, replace: bool = False) -> tuple[np.ndarray, Path]:
    """The figure; returns (per-image scores, its path). `replace`: see Context.out_path."""
    ctx = as_context(ctx)
    index, noisy, denoised, clean, scores, name = denoising(ctx, noise, n, seed)
    fmt = (lambda s: f"{s:.1%}") if name == "pixel accuracy" else (lambda s: f"{s:.4f}")
    mean = float(scores.mean())
    title = (f"{ctx.kind}: denoising {len(index)} test images with {noise} noise; "
             f"{name} of the denoised image under it (mean {fmt(mean)})")
    labels = [ctx.test.label_text(i) for i in index]
    captions = [f"#{i}" + (f" ({l})" if l else "") + f"\n{fmt(s)}" for i, l, s in zip(index, labels, scores)]
    path = denoise_rows(noisy, denoised, clean, captions, title,
                        ctx.out_path(out, DENOISE.format(noise=slug(noise)), replace))
    return scores, path
