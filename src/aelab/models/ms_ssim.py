"""The MS-SSIM + L1 reconstruction loss (`model.reconstruction_loss: ms_ssim_l1`) of Zhao, Gallo,
Frosio & Kautz (2017), "Loss functions for image restoration with neural networks": a per-pixel
loss (L1) mixed with a structural one (multi-scale SSIM, Wang, Simoncelli & Bovik 2003), which
keeps edges and thin strokes that a squared error averages into a smear.

Per image, on the scale of aelab's other losses (summed over the image's C·H·W pixel values, so
that `reconstruction_loss + beta * kl` keeps its form and beta weighs the KL against a sum over
pixels, as with mse and l1):

    ms_ssim_l1 = C·H·W · [ α · (1 − MS-SSIM(x̂, x)) + (1 − α) · mean |x̂ − x| ]
               = α · C·H·W · (1 − MS-SSIM(x̂, x))  +  (1 − α) · l1

with α = `model.ms_ssim_weight` (the paper's 0.84). 1 − MS-SSIM is a dissimilarity per pixel,
averaged over the image (0 for a perfect reconstruction, about 1 for an unrelated one); times
C·H·W it is summed over the pixels like the L1 term, so α = 0 is exactly `l1`. (The paper weighs
its L1 term with the Gaussian of the coarsest scale, per patch centre; over a whole image that
weighting averages to the plain mean used here.) Not a likelihood: the IWAE NLL and ELBO of
`aelab evaluate` are refused for it, and metrics.json still reports mse, PSNR and SSIM, so runs
trained with different losses compare on the same numbers.

MS-SSIM comes from torchmetrics, on pixels in [0, 1] (data range 1), its factors clipped at 0
(torchmetrics' `normalize="relu"`: the textbook value wherever it is defined; a reconstruction
anti-correlated with its image at some scale scores 0 and learns from the L1 term alone until it
is not, where the other normalisation, (s + 1) / 2, would halve the loss's scale). Its window and
number of scales follow from the image size rather than being fixed: the standard window
(Gaussian σ = 1.5, 11 pixels) where it fits, else σ = 1.0 (9 pixels), else σ = 0.5 (5 pixels,
the finest of the paper's scales); then as many of Wang et al.'s five dyadic scales as the image
holds with that window, their exponents renormalised to sum to 1 (64x64: σ 1.5, 3 scales; 28x28:
σ 1.5, 2 scales; 8x8: σ 0.5, 2 scales; 5x7: σ 0.5, 1 scale, which is SSIM). Images under 5
pixels on a side are too small for any window: one line says so when the model is built.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from aelab.errors import AelabError

SIGMAS = (1.5, 1.0, 0.5)  # the standard window first; the smaller ones for small images
WANG_EXPONENTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # the five scales' weights (Wang et al. 2003)


@dataclass(frozen=True)
class Window:
    sigma: float  # the Gaussian's standard deviation, pixels
    kernel: int  # its width, pixels
    exponents: tuple[float, ...]  # one per scale, finest first; they sum to 1

    def __str__(self) -> str:
        return f"σ {self.sigma:g} ({self.kernel} pixels), {len(self.exponents)} scale(s)"


def kernel_width(sigma: float) -> int:
    """The width of torchmetrics' Gaussian window for `sigma` (3.5 σ each side, odd)."""
    return int(3.5 * sigma + 0.5) * 2 + 1


def fits(height: int, width: int, kernel: int, scales: int) -> bool:
    """Whether `scales` dyadic scales of a `kernel`-wide window fit an image: the finer scales keep
    at least one valid window position (their contrast terms are cropped to it), the coarsest can
    still be reflect-padded, and torchmetrics' documented size limits hold."""
    for side in (height, width):
        if side < 2 ** scales or side // max(1, scales - 1) ** 2 <= kernel - 1:  # torchmetrics' checks
            return False
        sizes = [side >> i for i in range(scales)]  # each scale halves (average pooling, rounded down)
        if any(s < kernel for s in sizes[:-1]) or sizes[-1] <= (kernel - 1) // 2:
            return False
    return True


@functools.lru_cache(maxsize=64)
def window_for(height: int, width: int) -> Window:
    """The largest standard window that fits, with as many scales as fit (see the module's text);
    an AelabError naming the image size when none does."""
    for sigma in SIGMAS:
        kernel = kernel_width(sigma)
        scales = next((s for s in range(len(WANG_EXPONENTS), 0, -1) if fits(height, width, kernel, s)), 0)
        if scales:
            exponents = WANG_EXPONENTS[:scales]
            return Window(sigma, kernel, tuple(e / sum(exponents) for e in exponents))
    smallest = kernel_width(SIGMAS[-1])
    raise AelabError(f"model.reconstruction_loss 'ms_ssim_l1' needs images of at least {smallest}x{smallest} "
                     f"pixels (its smallest SSIM window is {smallest} pixels wide); these are {height}x{width}: "
                     "use 'mse' or 'l1', or a larger data.input_size")


def ms_ssim(x_hat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B,) MS-SSIM of each image of x_hat against target (B, C, H, W), in fp32 whatever the
    autocast (the window sums of squares need it)."""
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as msssim

    window = window_for(*target.shape[-2:])
    if target.shape[1] == 1:
        # Grey images go in as two identical channels: MS-SSIM averages over channels, so the value
        # and the gradient are the same, but oneDNN then runs its depthwise convolution instead of
        # a 1-to-1-channel one with a slow backward: 73 against 206 ms CPU for 64 28x28 images
        # (bench/sharp_losses.py --grey).
        x_hat, target = x_hat.expand(-1, 2, -1, -1), target.expand(-1, 2, -1, -1)
    with torch.autocast(target.device.type, enabled=False):
        return msssim(x_hat.float(), target.float(), sigma=window.sigma, kernel_size=window.kernel,
                      betas=window.exponents, data_range=1.0, reduction="none", normalize="relu")


def ms_ssim_l1(x_hat: torch.Tensor, target: torch.Tensor, alpha: float) -> torch.Tensor:
    """(B,) the loss of the module's text: α · C·H·W · (1 − MS-SSIM) + (1 − α) · Σ|x̂ − x|."""
    values = target[0].numel()  # C·H·W
    l1 = (x_hat - target).abs().flatten(1).sum(1)
    return alpha * values * (1.0 - ms_ssim(x_hat, target)) + (1.0 - alpha) * l1
