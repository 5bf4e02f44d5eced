"""model.type 'beta_tcvae': β-TC-VAE (Chen, Li, Grosse & Duvenaud, 2018). The VAE's KL term,
averaged over the data, splits into three parts, and only the total correlation is weighted:

    loss = reconstruction_loss + mutual_information + beta * total_correlation + dimension_kl

    mutual_information = E[log q(z|x) - log q(z)]           (codes <-> images)
    total_correlation  = E[log q(z) - sum_d log q(z_d)]     (dependence between latent axes)
    dimension_kl       = E[sum_d log q(z_d) - log p(z)]      (each axis against the prior)

q(z) is the aggregate posterior over the whole training set, estimated on each batch by
minibatch-weighted sampling, which needs the training set's size N: `model.options.dataset_size`,
filled in from the training data before the model is built (options_from_data), so config.json
records it. The estimate is whole-tensor: a (B, B, d) table of log q(z_i,d | x_j).

What the log's columns are. The three parts are minibatch estimates: with a batch of B out of N
images, log q(z) comes out too low by up to log(N/B)-ish, so mutual_information reads too high and
dimension_kl too low (it can be negative, which a true KL never is). Their sum does not depend on
that estimate: it is the VAE's KL term, logged as `kl` (a one-sample estimate, as a VAE logs it).
The loss is therefore logged as its three named parts:

    loss = reconstruction_loss + kl + tc_penalty,   tc_penalty = (beta - 1) * total_correlation

so a loss several times the reconstruction term is the weighted total correlation, in `tc_penalty`.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from pydantic import BaseModel, ConfigDict, Field

from aelab.errors import AelabError
from aelab.models.losses import reconstruction_loss
from aelab.models.vae import VAE

LOG_2PI = math.log(2 * math.pi)


class BetaTCVAEOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    beta: float = Field(6.0, ge=0)  # weight of the total correlation
    dataset_size: Optional[int] = Field(None, ge=1)  # N; filled in from the training set


class BetaTCVAE(VAE):
    anneals_kl = False  # its KL is split in three terms, weighted by options.beta
    Options = BetaTCVAEOptions

    @classmethod
    def options_from_data(cls, data) -> dict:
        return {"dataset_size": len(data)}

    def objective(self, x: torch.Tensor, generator: torch.Generator | None = None,
                  labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        n_data = self.options.dataset_size
        if n_data is None:
            raise AelabError("model.options.dataset_size: a 'beta_tcvae' needs the training set's size "
                             "(aelab fills it in when it trains; set it when building the model yourself)")
        out = self(self.corrupt(x, generator), generator=generator)
        recon = reconstruction_loss(self, out, x).mean()
        z, mean, logvar = out.z, out.mean, out.logvar
        batch = len(z)
        log_qz_x = -0.5 * ((z - mean).square() / logvar.exp() + logvar + LOG_2PI).sum(1)
        # log q(z_i,d | x_j) for every pair (i, j): (B, B, d)
        pairs = -0.5 * ((z[:, None] - mean[None]).square() / logvar.exp()[None] + logvar[None] + LOG_2PI)
        log_norm = math.log(batch * n_data)
        log_qz = torch.logsumexp(pairs.sum(2), dim=1) - log_norm
        log_prod_qzd = (torch.logsumexp(pairs, dim=1) - log_norm).sum(1)
        log_pz = -0.5 * (z.square() + LOG_2PI).sum(1)
        mutual_information = (log_qz_x - log_qz).mean()
        total_correlation = (log_qz - log_prod_qzd).mean()
        dimension_kl = (log_prod_qzd - log_pz).mean()
        kl = mutual_information + total_correlation + dimension_kl  # = E[log q(z|x) - log p(z)]
        tc_penalty = (self.options.beta - 1) * total_correlation  # the weight beyond the KL's own 1
        loss = recon + kl + tc_penalty
        return self.adversarial({"loss": loss, "reconstruction_loss": recon, "kl": kl, "tc_penalty": tc_penalty,
                                 "mutual_information": mutual_information, "total_correlation": total_correlation,
                                 "dimension_kl": dimension_kl}, out, x)
