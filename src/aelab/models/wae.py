"""model.type 'wae': the Wasserstein autoencoder with an MMD penalty (Tolstikhin et al., 2018).
A deterministic encoder, as in a plain AE; instead of a per-image KL, the codes of a whole batch
are pulled towards the prior N(0, I) by the maximum mean discrepancy between them and as many
prior draws:

    loss = reconstruction_loss + weight * mmd

The MMD and its kernels (`kernel` 'imq', the paper's choice, or 'rbf') are in models/mmd.py,
shared with InfoVAE.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field

from aelab.models.autoencoder import Autoencoder
from aelab.models.losses import reconstruction_loss
from aelab.models.mmd import Kernel, mmd, prior_draws


class WAEOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kernel: Kernel = "imq"  # imq or rbf (models/mmd.py)
    weight: float = Field(10.0, ge=0)  # lambda, the MMD term's weight
    scale: float = Field(1.0, gt=0)  # sigma of the prior the kernel's width is set for


class WAE(Autoencoder):
    Options = WAEOptions

    def objective(self, x: torch.Tensor, generator: torch.Generator | None = None,
                  labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        out = self(self.corrupt(x, generator), generator=generator)
        recon = reconstruction_loss(self, out, x).mean()
        penalty = mmd(out.z, prior_draws(out.z, generator), self.options.kernel, self.options.scale)
        return self.adversarial({"loss": recon + self.options.weight * penalty, "reconstruction_loss": recon,
                                 "mmd": penalty}, out, x)

    def prior(self, n: int, generator: torch.Generator | None = None,
              temperature: float = 1.0) -> torch.Tensor | None:
        return temperature * torch.randn((n, self.config.latent_dim), generator=generator)

    def prior_span(self) -> tuple[float, float] | None:
        return -3.0, 3.0
