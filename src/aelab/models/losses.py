"""Loss terms of the models' objectives, each per sample (summed over pixels; callers average
over the batch).

With a sigmoid output and BCE the sigmoid is fused into the loss (BCE with logits): the same
mathematics, more stable, and cheaper than a separate sigmoid + BCE. `ms_ssim_l1` (Zhao et al.
2017) is defined on the same per-image scale as the others: models/ms_ssim.py says how.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from aelab.models.ms_ssim import ms_ssim_l1

LOG_2PI = math.log(2 * math.pi)


def reconstruction_loss(model, out, target: torch.Tensor, kind: str | None = None) -> torch.Tensor:
    """(B,) per-sample reconstruction loss of kind `kind` (default: the model's) of the decoder
    output `out.logits` (pre-activation) against `target`."""
    kind = kind or model.config.reconstruction_loss
    if kind == "bce" and model.config.output_activation == "sigmoid":
        return F.binary_cross_entropy_with_logits(out.logits, target, reduction="none").flatten(1).sum(1)
    return image_loss(model.output_activation(out.logits), target, kind, model.config.ms_ssim_weight)


def image_loss(x_hat: torch.Tensor, target: torch.Tensor, kind: str, ms_ssim_weight: float | None = None) -> torch.Tensor:
    """(B,) loss of kind `kind` of images x_hat (in the data's range) against target, per image."""
    if kind == "ms_ssim_l1":
        return ms_ssim_l1(x_hat, target, ms_ssim_weight)
    if kind == "bce":  # written out: F.binary_cross_entropy raises on NaN, a diverged model's output
        p = x_hat.clamp(1e-6, 1 - 1e-6)
        per_pixel = -(target * p.log() + (1 - target) * (1 - p).log())
    elif kind == "mse":
        per_pixel = (x_hat - target).square()
    else:
        per_pixel = (x_hat - target).abs()
    return per_pixel.flatten(1).sum(1)


def kl_divergence(out) -> torch.Tensor:
    """(B,) KL(q(z|x) || N(0, I)) in closed form; zeros for a model without a posterior."""
    if out.logvar is None:
        return out.mean.new_zeros(out.mean.shape[0])
    return gaussian_kl(out.mean, out.logvar)


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """(B,) KL(N(mean, diag(exp(logvar))) || N(0, I)) of parameters (B, latent_dim), in closed form."""
    return -0.5 * (1 + logvar - mean.square() - logvar.exp()).sum(1)


def loss_terms(model, out, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Batch means of `model`'s objective and its named terms; `loss` is what is minimised."""
    return model.loss_terms(out, target)


def kl_per_dimension(out) -> torch.Tensor:
    """(latent_dim,) the KL of each latent dimension, averaged over the batch."""
    return (-0.5 * (1 + out.logvar - out.mean.square() - out.logvar.exp())).mean(0)


def gaussian_log_density(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """(...,) log N(z; mean, diag(exp(logvar))) of codes (..., latent_dim), summed over dimensions."""
    return -0.5 * ((z - mean).square() * torch.exp(-logvar) + logvar + LOG_2PI).sum(-1)


def standard_normal_log_density(z: torch.Tensor) -> torch.Tensor:
    """(...,) log N(z; 0, I) of codes (..., latent_dim)."""
    return -0.5 * (z.square() + LOG_2PI).sum(-1)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """A discriminator's logistic loss: ½ [mean softplus(−D(real)) + mean softplus(D(fake))], its
    cross-entropy on both; ln 2 ≈ 0.693 at chance, below when it tells them apart. The one used by
    every discriminator (the patch-adversarial term, aae, factor_vae, vae_gan)."""
    return 0.5 * (F.softplus(-real_logits.float()).mean() + F.softplus(fake_logits.float()).mean())
