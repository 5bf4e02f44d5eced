"""model.type 'wae': the Wasserstein autoencoder with an MMD penalty (Tolstikhin et al., 2018).
A deterministic encoder, as in a plain AE; instead of a per-image KL, the codes of a whole batch
are pulled towards the prior N(0, I) by the maximum mean discrepancy between them and as many
prior draws:

    loss = reconstruction_loss + weight * mmd

`kernel`: 'imq' (inverse multiquadratic, C / (C + |z - z'|^2), the paper's choice: heavy tails
keep gradients alive for codes far from the prior) or 'rbf' (exp(-|z - z'|^2 / C)); C = 2 * d *
scale^2, the paper's 2 d sigma^2. The MMD is the unbiased estimate (no i = j pairs).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from aelab.models.autoencoder import Autoencoder
from aelab.models.losses import reconstruction_loss


class WAEOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kernel: Literal["imq", "rbf"] = "imq"
    weight: float = Field(10.0, ge=0)  # lambda, the MMD term's weight
    scale: float = Field(1.0, gt=0)  # sigma of the prior the kernel's width is set for


class WAE(Autoencoder):
    Options = WAEOptions

    def objective(self, x: torch.Tensor, generator: torch.Generator | None = None,
                  labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        out = self(self.corrupt(x, generator), generator=generator)
        recon = reconstruction_loss(self, out, x).mean()
        prior = torch.randn(out.z.shape, generator=generator, device=out.z.device, dtype=out.z.dtype)
        mmd = self.mmd(out.z, prior)
        return self.adversarial({"loss": recon + self.options.weight * mmd, "reconstruction_loss": recon, "mmd": mmd},
                                out, x)

    def kernel(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        c = 2.0 * a.shape[1] * self.options.scale ** 2
        d2 = torch.cdist(a, b).square()
        return c / (c + d2) if self.options.kernel == "imq" else torch.exp(-d2 / c)

    def mmd(self, z: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        n = len(z)
        if n < 2:
            return z.new_zeros(())
        off_diagonal = 1.0 - torch.eye(n, device=z.device, dtype=z.dtype)
        within = ((self.kernel(z, z) + self.kernel(prior, prior)) * off_diagonal).sum() / (n * (n - 1))
        return within - 2.0 * self.kernel(z, prior).mean()

    def prior(self, n: int, generator: torch.Generator | None = None,
              temperature: float = 1.0) -> torch.Tensor | None:
        return temperature * torch.randn((n, self.config.latent_dim), generator=generator)

    def prior_span(self) -> tuple[float, float] | None:
        return -3.0, 3.0
