"""model.type 'aae': the adversarial autoencoder (Makhzani, Shlens, Jaitly, Goodfellow & Frey,
2016, "Adversarial Autoencoders"), its deterministic variant. A plain autoencoder whose codes are
matched to the prior N(0, I) by a game: a discriminator on codes (models/code_discriminator.py)
learns to tell prior draws from the encoder's codes, and the encoder learns to fool it.

    autoencoder:    loss = reconstruction_loss + weight * adversarial_loss
    discriminator:  discriminator_loss, minimised by the trainer's second optimizer

    adversarial_loss   = mean softplus(-D(z))                      the encoder's side, non-saturating
                                                                   (Goodfellow et al. 2014): -log D(z)
    discriminator_loss = ½ [mean softplus(-D(p)) + mean softplus(D(z))]   p ~ N(0, I), as many as codes;
                                                                   ln 2 ≈ 0.693 when it cannot tell them apart

The paper alternates a reconstruction phase and a regularisation phase per batch; here both are one
step of the autoencoder's optimizer on their weighted sum (the WAE-GAN of Tolstikhin et al. 2018 is
the same model with weight λ), then one step of the discriminator's. Codes are (B, latent_dim).

The game is on while training from training.adversarial_start_epoch on (the trainer calls
`start_discriminator`); before it, and in eval mode (validation, test metrics, early stopping), the
objective is the reconstruction alone, so an AAE compares with an AE on the same numbers. Its
sampler is the prior it was matched to (model.sampler auto = prior); it has no likelihood.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from aelab.errors import AelabError
from aelab.models.autoencoder import Autoencoder
from aelab.models.code_discriminator import CodeDiscriminator, frozen
from aelab.models.losses import discriminator_loss, reconstruction_loss


class AAEOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # the encoder's adversarial_loss against the reconstruction (summed over pixels) in its loss
    weight: float = Field(1.0, ge=0)
    # hidden widths of the discriminator on codes (the paper's: two layers of 1000; codes of a few
    # dimensions need far less on a CPU)
    discriminator_layers: list[int] = Field([256, 256], min_length=1, max_length=8)


class AAE(Autoencoder):
    Options = AAEOptions

    def __init__(self, config, input_shape, encoder: nn.Module, decoder: nn.Module):
        super().__init__(config, input_shape, encoder, decoder)
        self.code_discriminator = CodeDiscriminator(config.latent_dim, self.options.discriminator_layers)
        self.discriminating = False  # set by the trainer (start_discriminator)
        self._codes: tuple[torch.Tensor, torch.Tensor] | None = None  # (codes, prior draws) for its step

    def objective(self, x: torch.Tensor, generator: torch.Generator | None = None,
                  labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        out = self(self.corrupt(x, generator), generator=generator)
        recon = reconstruction_loss(self, out, x).mean()
        if not (self.training and self.discriminating):
            return {"loss": recon, "reconstruction_loss": recon}
        prior = torch.randn(out.z.shape, generator=generator, device=out.z.device, dtype=out.z.dtype)  # (B, d)
        self._codes = (out.z.detach(), prior)
        with frozen(self.code_discriminator) as discriminator:
            adversarial = F.softplus(-discriminator(out.z).float()).mean()
        return {"loss": recon + self.options.weight * adversarial, "reconstruction_loss": recon,
                "adversarial_loss": adversarial}

    # ------------------------------------------------------------------ the second network
    def own_loss(self, row: dict[str, float]) -> float:
        return row["reconstruction_loss"]

    def discriminator_parameters(self) -> list[nn.Parameter]:
        return list(self.code_discriminator.parameters())

    def start_discriminator(self, on: bool) -> None:
        self.discriminating = on

    def discriminator_objective(self) -> dict[str, torch.Tensor]:
        if self._codes is None:
            raise AelabError("the code discriminator has no batch to learn from: call objective in training "
                             "mode with the discriminator started first")
        codes, prior = self._codes
        self._codes = None
        return {"discriminator_loss": discriminator_loss(self.code_discriminator(prior), self.code_discriminator(codes))}

    # -------------------------------------------------------------------------------- prior
    def prior(self, n: int, generator: torch.Generator | None = None,
              temperature: float = 1.0) -> torch.Tensor | None:
        return temperature * torch.randn((n, self.config.latent_dim), generator=generator)

    def prior_span(self) -> tuple[float, float] | None:
        return -3.0, 3.0
