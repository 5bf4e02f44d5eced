"""model.type 'factor_vae': FactorVAE (Kim & Mnih, 2018, "Disentangling by Factorising"). A VAE
whose loss also pays for the total correlation of its codes, TC = KL(q(z) || prod_j q(z_j)), the
dependence between the latent dimensions, estimated by a discriminator (the density-ratio trick):

    VAE:            loss = reconstruction_loss + beta * kl + tc_penalty,   tc_penalty = gamma * total_correlation
    discriminator:  discriminator_loss, minimised by the trainer's second optimizer

- the discriminator D (models/code_discriminator.py) tells codes z ~ q(z) (the batch's sampled
  codes) from codes of prod_j q(z_j): the same codes with each dimension shuffled across the batch
  on its own (`permute_dims`, one permutation per dimension, drawn from the run's generator);
- at its optimum D's logit is log q(z) / prod_j q(z_j), so total_correlation = mean logit D(z) over
  the batch, the term's estimate; its gradient reaches the encoder through z (D's weights constant);
- discriminator_loss = ½ [mean softplus(-D(z)) + mean softplus(D(z̃))], z̃ the permuted codes:
  ln 2 ≈ 0.693 when the dimensions look independent to it.

Differences from the paper, for a CPU: the discriminator has `discriminator_layers` hidden widths
[256, 256, 256] where the paper's has six layers of 1000 units, and it learns on the permuted codes
of the same batch (the paper's Algorithm 2 permutes a second batch's codes: twice the encoder
passes). Its optimizer is built like the VAE's (training.optimizer, learning_rate); the paper's is
Adam with betas (0.5, 0.9). beta is model.beta's KL weight (1, the paper's).

The game is on while training from training.adversarial_start_epoch on (`start_discriminator`);
before it, and in eval mode (validation, test metrics, early stopping), the objective is the
VAE's, reconstruction_loss + beta * kl: the ELBO a VAE's compares with. Codes are (B, latent_dim).
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from aelab.errors import AelabError
from aelab.models.autoencoder import ForwardOutput
from aelab.models.code_discriminator import CodeDiscriminator, frozen
from aelab.models.losses import discriminator_loss
from aelab.models.vae import VAE


class FactorVAEOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gamma: float = Field(10.0, ge=0)  # weight of the total correlation (the paper: 10 to 100 on dSprites)
    # hidden widths of the discriminator on codes (the paper's: six layers of 1000; smaller for a CPU)
    discriminator_layers: list[int] = Field([256, 256, 256], min_length=1, max_length=8)


def permute_dims(z: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """(B, d) codes with each column shuffled across the batch on its own: draws of prod_j q(z_j)."""
    order = torch.rand(z.shape, generator=generator, device=z.device).argsort(0)  # (B, d) a permutation per column
    return z.gather(0, order)


class FactorVAE(VAE):
    Options = FactorVAEOptions

    def __init__(self, config, input_shape, encoder: nn.Module, decoder: nn.Module):
        super().__init__(config, input_shape, encoder, decoder)
        self.tc_discriminator = CodeDiscriminator(config.latent_dim, self.options.discriminator_layers)
        self.discriminating = False  # set by the trainer (start_discriminator)
        self._codes: tuple[torch.Tensor, torch.Tensor] | None = None  # (codes, permuted codes) for its step

    def objective(self, x: torch.Tensor, generator: torch.Generator | None = None,
                  labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        out = self(self.corrupt(x, generator), generator=generator)
        terms = self.loss_terms(out, x)  # reconstruction_loss, kl, loss = recon + beta * kl
        if not (self.training and self.discriminating):
            return terms
        return {**terms, **self.tc_terms(out, terms["loss"], generator)}

    def tc_terms(self, out: ForwardOutput, vae_loss: torch.Tensor,
                 generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        self._codes = (out.z.detach(), permute_dims(out.z.detach(), generator))
        with frozen(self.tc_discriminator) as discriminator:
            total_correlation = discriminator(out.z).float().mean()  # mean log q(z) / prod_j q(z_j)
        tc_penalty = self.options.gamma * total_correlation
        return {"loss": vae_loss + tc_penalty, "total_correlation": total_correlation, "tc_penalty": tc_penalty}

    # ------------------------------------------------------------------ the second network
    def own_loss(self, row: dict[str, float]) -> float:
        return row["reconstruction_loss"] + self.kl_beta * row["kl"]  # the VAE's, as in eval mode

    def discriminator_parameters(self) -> list[nn.Parameter]:
        return list(self.tc_discriminator.parameters())

    def start_discriminator(self, on: bool) -> None:
        self.discriminating = on

    def discriminator_objective(self) -> dict[str, torch.Tensor]:
        if self._codes is None:
            raise AelabError("the total-correlation discriminator has no batch to learn from: call objective in "
                             "training mode with the discriminator started first")
        codes, permuted = self._codes
        self._codes = None
        return {"discriminator_loss": discriminator_loss(self.tc_discriminator(codes), self.tc_discriminator(permuted))}
