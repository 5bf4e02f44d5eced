"""model.type 'vae_gan': VAE-GAN (Larsen, Sønderby, Larochelle & Winther, 2016, "Autoencoding
beyond pixels using a learned similarity metric"). A VAE whose reconstruction is judged by a
discriminator's features instead of pixels, the decoder also being a GAN's generator:

    VAE:            loss = feature_loss + beta * kl + pixel_weight * reconstruction_loss + weight * adversarial_loss
    discriminator:  discriminator_loss, minimised by the trainer's second optimizer

- feature_loss = ½ |Dis_l(x̃) − Dis_l(x)|² per image, summed over the discriminator's last hidden
  layer (a Gaussian likelihood of its features: the paper's learned similarity), x̃ = Dec(z),
  z ~ q(z|x); its gradient reaches encoder and decoder through x̃, the discriminator's weights
  being constants in this step;
- adversarial_loss: the decoder's side of the game, the non-saturating generator loss (Goodfellow
  et al. 2014), C·H·W · mean softplus(−D) over the patches of reconstructions and of images decoded
  from prior draws z_p ~ N(0, I) (one per image), averaged; reconstructions from the codes detached,
  so that, as in the paper, the encoder learns from kl and feature_loss only. The paper's γ, which
  weighs feature_loss against the GAN term for the decoder alone, is 1 / weight here;
- discriminator_loss = ½ [mean softplus(−D(x)) + ½ (mean softplus(D(x̃)) + mean softplus(D(x_p)))]:
  ln 2 ≈ 0.693 at chance;
- reconstruction_loss: the pixel loss of model.reconstruction_loss, logged to compare with other
  models; pixel_weight 0 (the paper's) keeps it out of the loss.

The discriminator is the patch discriminator of models/adversarial.py (its depth follows the image
size) without BatchNorm: features of real and decoded images are then each image's own, not coupled
by batch statistics. The game is on while training from training.adversarial_start_epoch on
(`start_discriminator`); before it the model trains as a VAE on pixels, and in eval mode
(validation, test metrics, early stopping) its objective is the VAE's, reconstruction_loss +
beta * kl, the pixel ELBO other models report.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from aelab.errors import AelabError
from aelab.models.adversarial import PatchDiscriminator
from aelab.models.code_discriminator import frozen
from aelab.models.losses import discriminator_loss
from aelab.models.vae import VAE


class VAEGANOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # the decoder's adversarial_loss against feature_loss (the paper's gamma is 1 / weight)
    weight: float = Field(0.01, ge=0)
    # the pixel reconstruction_loss in the loss (0: the paper's, features only)
    pixel_weight: float = Field(0.0, ge=0)


class VAEGAN(VAE):
    Options = VAEGANOptions

    def __init__(self, config, input_shape, encoder: nn.Module, decoder: nn.Module):
        super().__init__(config, input_shape, encoder, decoder)
        if min(self.input_shape[1:]) < 3:
            raise AelabError(f"model.type 'vae_gan': its patch discriminator needs images of at least 3x3 pixels; "
                             f"these are {self.input_shape[1]}x{self.input_shape[2]} (from Python, give images "
                             "(N, H, W) or (N, C, H, W), not flat rows)")
        self.discriminator = PatchDiscriminator(self.input_shape, batch_norm=False)
        self.discriminating = False  # set by the trainer (start_discriminator)
        self._images: tuple[torch.Tensor, torch.Tensor] | None = None  # (real, decoded) for its step

    def objective(self, x: torch.Tensor, generator: torch.Generator | None = None,
                  labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        out = self(self.corrupt(x, generator), generator=generator)
        terms = self.loss_terms(out, x)  # reconstruction_loss (pixels), kl, loss = recon + beta * kl
        if not (self.training and self.discriminating):
            return terms
        recon, kl = terms["reconstruction_loss"], terms["loss"] - terms["reconstruction_loss"]  # kl: as weighted
        prior = torch.randn(out.z.shape, generator=generator, device=out.z.device, dtype=out.z.dtype)  # (B, d)
        decoded = self.decode(torch.cat([out.z.detach(), prior]))  # (2B, C, H, W): the generator's images
        self._images = (x, decoded.detach())
        with frozen(self.discriminator) as discriminator:
            with torch.no_grad():
                target = discriminator.features(x)  # (B, F, h, w)
            features = discriminator.features(self.output_activation(out.logits)).float()
            feature_loss = 0.5 * (features - target.float()).square().flatten(1).sum(1).mean()
            adversarial = F.softplus(-discriminator(decoded).float()).flatten(1).mean(1).mean() * x[0].numel()
        loss = feature_loss + kl + self.options.pixel_weight * recon + self.options.weight * adversarial
        return {**terms, "loss": loss, "feature_loss": feature_loss, "adversarial_loss": adversarial}

    # ------------------------------------------------------------------ the second network
    def own_loss(self, row: dict[str, float]) -> float:
        return row["reconstruction_loss"] + self.kl_beta * row["kl"]  # the VAE's, as in eval mode

    def discriminator_parameters(self) -> list[nn.Parameter]:
        return list(self.discriminator.parameters())

    def start_discriminator(self, on: bool) -> None:
        self.discriminating = on

    def discriminator_objective(self) -> dict[str, torch.Tensor]:
        if self._images is None:
            raise AelabError("the VAE-GAN discriminator has no batch to learn from: call objective in training "
                             "mode with the discriminator started first")
        real, decoded = self._images
        self._images = None
        return {"discriminator_loss": discriminator_loss(self.discriminator(real), self.discriminator(decoded))}
