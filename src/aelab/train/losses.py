"""The training objective, term by term, each per sample (summed over pixels, averaged over the batch).

    loss = reconstruction_loss + beta * kl     (kl is 0 for AE/DAE)

With a sigmoid output and BCE the sigmoid is fused into the loss (BCE with logits): the same
mathematics, more stable, and cheaper than a separate sigmoid + BCE.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from aelab.models.autoencoder import Autoencoder, ForwardOutput


def reconstruction_loss(model: Autoencoder, out: ForwardOutput, target: torch.Tensor,
                        kind: str | None = None) -> torch.Tensor:
    """(B,) per-sample reconstruction loss of kind `kind` (default: the model's)."""
    kind = kind or model.config.reconstruction_loss
    if kind == "bce" and model.config.output_activation == "sigmoid":
        per_pixel = F.binary_cross_entropy_with_logits(out.logits, target, reduction="none")
    else:
        x_hat = model.output_activation(out.logits)
        if kind == "bce":
            per_pixel = F.binary_cross_entropy(x_hat.clamp(1e-6, 1 - 1e-6), target, reduction="none")
        elif kind == "mse":
            per_pixel = (x_hat - target).square()
        else:
            per_pixel = (x_hat - target).abs()
    return per_pixel.flatten(1).sum(1)


def kl_divergence(out: ForwardOutput) -> torch.Tensor:
    """(B,) KL(q(z|x) || N(0, I)) in closed form; zeros for AE/DAE."""
    if out.logvar is None:
        return out.mean.new_zeros(out.mean.shape[0])
    return -0.5 * (1 + out.logvar - out.mean.square() - out.logvar.exp()).sum(1)


def loss_terms(model: Autoencoder, out: ForwardOutput, target: torch.Tensor, beta: float | None = None,
               free_bits: float = 0.0) -> dict[str, torch.Tensor]:
    """Batch means of the objective and its terms; `loss` is what is minimised. During training the
    KL weight may be annealed (`beta`, default the model's) and `free_bits` nats per latent
    dimension (batch-averaged) go unpenalised (Kingma et al., 2016); `kl` always reports the true KL."""
    recon = reconstruction_loss(model, out, target).mean()
    terms = {"loss": recon, "reconstruction_loss": recon}
    if model.variational:
        kl = kl_divergence(out).mean()
        penalised = kl if free_bits <= 0 else kl_per_dimension(out).clamp(min=free_bits).sum()
        beta = model.config.beta if beta is None else beta
        terms = {"loss": recon + beta * penalised, "reconstruction_loss": recon, "kl": kl}
    return terms


def kl_per_dimension(out: ForwardOutput) -> torch.Tensor:
    """(latent_dim,) the KL of each latent dimension, averaged over the batch."""
    return (-0.5 * (1 + out.logvar - out.mean.square() - out.logvar.exp())).mean(0)
