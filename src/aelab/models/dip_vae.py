"""model.type 'dip_vae': DIP-VAE (Kumar, Sattigeri & Balakrishnan, 2018, "Variational Inference of
Disentangled Latent Concepts from Unlabeled Observations"). A VAE whose aggregate posterior is
also pushed towards a decorrelated, unit-variance code: the covariance of the codes over the batch
is matched to the identity,

    loss = reconstruction_loss + beta * kl + dip_penalty

    dip_penalty = lambda_od * sum_{i != j} cov_ij^2 + lambda_d * sum_i (cov_ii - 1)^2

    variant 'i':  cov = Cov[mean(x)]                         the posterior means' covariance
    variant 'ii': cov = Cov[mean(x)] + E[diag(sigma^2(x))]   the covariance of q(z) itself

The batch stands for the data: the covariances are the batch's (divided by B). The penalty is a
function of the whole batch, with no Python per image. Logged beside `reconstruction_loss` and `kl`:
`dip_penalty`, and its two parts unweighted, `off_diagonal` and `diagonal`. beta is model.beta (1, the
paper's; KL annealing and free bits act on the KL term as for a VAE).
"""

from __future__ import annotations

from typing import Literal, Optional

import torch
from pydantic import BaseModel, ConfigDict, Field

from aelab.models.autoencoder import ForwardOutput
from aelab.models.vae import VAE
from aelab.vocabulary import DIP_VAE_VARIANTS


class DIPVAEOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # i: the means' covariance; ii: the aggregate posterior's
    variant: Literal[DIP_VAE_VARIANTS] = "i"  # type: ignore[valid-type]
    lambda_od: float = Field(10.0, ge=0)  # weight of the off-diagonal covariances (squared)
    # weight of the diagonal's distance from 1; None: the paper's choice, 10 * lambda_od for 'i', lambda_od for 'ii'
    lambda_d: Optional[float] = Field(None, ge=0)

    @property
    def diagonal_weight(self) -> float:
        if self.lambda_d is not None:
            return self.lambda_d
        return 10 * self.lambda_od if self.variant == "i" else self.lambda_od


def code_covariance(out: ForwardOutput, variant: str) -> torch.Tensor:
    """(d, d) the batch's covariance of the posterior means, plus (variant 'ii') the mean posterior variance."""
    centred = out.mean - out.mean.mean(0)  # (B, d)
    cov = centred.T @ centred / len(centred)
    if variant == "ii":
        cov = cov + torch.diag(out.logvar.exp().mean(0))
    return cov


class DIPVAE(VAE):
    Options = DIPVAEOptions

    def loss_terms(self, out: ForwardOutput, target: torch.Tensor) -> dict[str, torch.Tensor]:
        terms = super().loss_terms(out, target)  # reconstruction_loss, kl, loss = recon + beta * kl
        cov = code_covariance(out, self.options.variant)
        diagonal = torch.diagonal(cov)
        off_diagonal = cov.square().sum() - diagonal.square().sum()
        diagonal_gap = (diagonal - 1).square().sum()
        penalty = self.options.lambda_od * off_diagonal + self.options.diagonal_weight * diagonal_gap
        return {**terms, "loss": terms["loss"] + penalty, "dip_penalty": penalty, "off_diagonal": off_diagonal,
                "diagonal": diagonal_gap}
