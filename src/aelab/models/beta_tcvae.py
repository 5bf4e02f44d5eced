"""model.type 'beta_tcvae': β-TC-VAE (Chen, Li, Grosse & Duvenaud, 2018). The VAE's KL term,
averaged over the data, splits into three parts, and only the total correlation is weighted:

    loss = reconstruction_loss + mutual_information + beta * total_correlation + dimension_kl

    mutual_information = E[log q(z|x) - log q(z)]           (codes <-> images)
    total_correlation  = E[log q(z) - sum_d log q(z_d)]     (dependence between latent axes)
    dimension_kl       = E[sum_d log q(z_d) - log p(z)]      (each axis against the prior)

q(z) is the aggregate posterior over the whole training set, (1/N) sum_n q(z|x_n), estimated on
each batch from a (B, B, d) table of log q(z_i,d | x_j) (whole-tensor), in one of two ways
(`model.options.estimator`), both needing the training set's size N (`model.options.dataset_size`,
filled in from the training data before the model is built, so config.json records it):

- mws, minibatch-weighted sampling (the paper's main text): every batch member j weighs 1/(N B).
  The own image i then counts as much as any other, where in q(z_i) it is 1 of N and each other
  batch member stands for (N-1)/(B-1) images: the other images' codes count about B/N times what
  they should, so with B much smaller than N the penalty sees little of the true TC.
- mss, stratified (the paper's appendix; the same idea in its simplest unbiased form): the own image
  weighs 1/N, each of the B-1 others (N-1)/(N (B-1)). Averaged over batches this is exactly q(z_i)
  (tests/test_tc_estimator.py checks it against the brute-force sum); with the whole training set
  as one batch both are exact, mws up to its constant -log N.

What the log's columns are. The three parts are minibatch estimates: log q(z) comes out too low
(with mws by up to log N, its weights summing to 1/N; with mss by less, the log of an unbiased
estimate), so mutual_information reads too high and dimension_kl too low (it can be negative, which
a true KL never is). Their sum does not depend on
that estimate: it is the VAE's KL term, logged as `kl` (a one-sample estimate, as a VAE logs it).
The loss is therefore logged as its three named parts:

    loss = reconstruction_loss + kl + tc_penalty,   tc_penalty = (beta - 1) * total_correlation

so a loss several times the reconstruction term is the weighted total correlation, in `tc_penalty`.
"""

from __future__ import annotations

import math
from typing import Literal, Optional

import torch
from pydantic import BaseModel, ConfigDict, Field

from aelab.errors import AelabError
from aelab.models.losses import reconstruction_loss
from aelab.models.vae import VAE
from aelab.vocabulary import TC_ESTIMATORS

LOG_2PI = math.log(2 * math.pi)


class BetaTCVAEOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    beta: float = Field(6.0, ge=0)  # weight of the total correlation
    dataset_size: Optional[int] = Field(None, ge=1)  # N; filled in from the training set
    # how q(z) is estimated on a batch: mws (each batch member 1/(N B)) or mss (the own image 1/N,
    # each other one (N-1)/(N (B-1)): unbiased for q(z))
    estimator: Literal[TC_ESTIMATORS] = "mws"  # type: ignore[valid-type]


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
        log_qz_x = -0.5 * ((z - mean).square() / logvar.exp() + logvar + LOG_2PI).sum(1)
        log_qz, log_prod_qzd = log_aggregate(z, mean, logvar, n_data, self.options.estimator)
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


def log_aggregate(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor, n_data: int,
                  estimator: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch estimates of log q(z_i) and sum_d log q(z_i,d), each (B,), for codes z (B, d) drawn from
    the posteriors N(mean, exp(logvar)) of the same B images, out of a training set of n_data."""
    batch = len(z)
    # log q(z_i,d | x_j) for every pair (i, j): (B, B, d)
    pairs = -0.5 * ((z[:, None] - mean[None]).square() / logvar.exp()[None] + logvar[None] + LOG_2PI)
    log_weight = log_batch_weights(batch, n_data, estimator).to(pairs)  # (B, B)
    log_qz = torch.logsumexp(pairs.sum(2) + log_weight, dim=1)
    log_prod_qzd = torch.logsumexp(pairs + log_weight[..., None], dim=1).sum(1)
    return log_qz, log_prod_qzd


def log_batch_weights(batch: int, n_data: int, estimator: str) -> torch.Tensor:
    """(B, B) log-weights w_ij: q(z_i) is estimated as sum_j w_ij q(z_i | x_j) (module docstring)."""
    if estimator == "mws" or batch == 1:
        return torch.full((batch, batch), -math.log(batch * n_data))
    other = math.log(max(n_data - 1, 1)) - math.log(n_data * (batch - 1))  # each stands for (N-1)/(B-1) images
    weights = torch.full((batch, batch), other)
    weights.fill_diagonal_(-math.log(n_data))  # the own image: exactly 1 of N
    return weights
