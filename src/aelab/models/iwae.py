"""model.type 'iwae': the importance-weighted autoencoder (Burda, Grosse & Salakhutdinov, 2016).
The same networks as a VAE, trained on a tighter bound: K draws z_k ~ q(z|x) per image,

    iwae_bound = log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)       loss = -iwae_bound

K = 1 is the VAE's ELBO; K = model.options.samples. `reconstruction_loss` and `kl` (the closed
form, one draw) are logged beside it to compare with a VAE; they are not what is minimised.
The log-densities leave out the likelihood's constant, as the VAE's loss does.
"""

from __future__ import annotations

import math

import torch
from pydantic import BaseModel, ConfigDict, Field

from aelab.models.autoencoder import ForwardOutput
from aelab.models.losses import kl_divergence, reconstruction_loss
from aelab.models.vae import VAE

LOG_2PI = math.log(2 * math.pi)


class IWAEOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    samples: int = Field(5, ge=1, le=1000)  # K, importance samples per image in the training bound


class IWAE(VAE):
    anneals_kl = False  # its bound has no separate KL term to weigh
    Options = IWAEOptions

    def objective(self, x: torch.Tensor, generator: torch.Generator | None = None,
                  labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        k = self.options.samples
        mean, logvar = self.encode(self.corrupt(x, generator))
        std = torch.exp(0.5 * logvar)
        eps = torch.randn((k, *mean.shape), generator=generator, device=mean.device, dtype=mean.dtype)
        z = mean + std * eps  # (K, B, d): all K draws decoded in one batch
        logits = self.decoder(z.flatten(0, 1))
        target = x.expand(k, *x.shape).flatten(0, 1)
        recon = reconstruction_loss(self, ForwardOutput(logits, z.flatten(0, 1), None, z.flatten(0, 1)),
                                    target).view(k, -1)  # (K, B)
        log_pz = -0.5 * (z.square() + LOG_2PI).sum(-1)
        log_qz = -0.5 * (eps.square() + LOG_2PI + logvar).sum(-1)
        bound = torch.logsumexp(-recon + log_pz - log_qz, dim=0) - math.log(k)  # (B,)
        kl = kl_divergence(ForwardOutput(logits, mean, logvar, z[0])).mean()
        terms = {"loss": -bound.mean(), "iwae_bound": bound.mean(), "reconstruction_loss": recon.mean(), "kl": kl}
        return self.adversarial(terms, ForwardOutput(logits, mean, logvar, z), target)  # all K draws
