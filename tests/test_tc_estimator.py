"""β-TC-VAE's batch estimates of the aggregate posterior q(z) = (1/N) sum_n q(z|x_n)
(models/beta_tcvae.py), against the brute-force sum over a tiny training set computed with
torch.distributions: the stratified estimator (mss) is exact on the whole set and unbiased on
every smaller batch; minibatch-weighted sampling (mws) is neither."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch.distributions import Normal

from aelab.cli import main
from aelab.models.beta_tcvae import log_aggregate

N, D = 7, 3


@pytest.fixture(scope="module")
def posteriors():
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(N, D, generator=g, dtype=torch.float64)
    logvar = torch.randn(N, D, generator=g, dtype=torch.float64) - 0.5
    z = mean + (0.5 * logvar).exp() * torch.randn(N, D, generator=g, dtype=torch.float64)
    return z, mean, logvar


def brute_force(z, mean, logvar):
    """log q(z_i) and sum_d log q(z_i,d) over all N images, (N,) each."""
    dims = Normal(mean[None], (0.5 * logvar).exp()[None]).log_prob(z[:, None])  # (N, N, D)
    log_qz = torch.logsumexp(dims.sum(2), 1) - math.log(N)
    log_qzd = torch.logsumexp(dims, 1) - math.log(N)
    return log_qz, log_qzd.sum(1)


def test_on_the_whole_training_set_mss_is_exact_and_mws_is_off_by_log_n(posteriors):
    log_qz, log_prod = brute_force(*posteriors)
    mss_qz, mss_prod = log_aggregate(*posteriors, N, "mss")
    mws_qz, mws_prod = log_aggregate(*posteriors, N, "mws")
    assert torch.allclose(mss_qz, log_qz) and torch.allclose(mss_prod, log_prod)
    assert torch.allclose(mws_qz, log_qz - math.log(N))
    assert torch.allclose(mss_qz - mss_prod, log_qz - log_prod)  # the total correlation, image by image


@pytest.mark.parametrize("batch", [2, 3, 5])
def test_averaged_over_every_batch_mss_is_q_of_z_and_mws_is_not(posteriors, batch):
    z, mean, logvar = posteriors
    exact = brute_force(z, mean, logvar)[0].exp()
    for i in range(N):  # image i with each set of batch-1 others: uniform batches, as training draws them
        draws = {"mss": [], "mws": []}
        for others in itertools.combinations([j for j in range(N) if j != i], batch - 1):
            members = torch.tensor([i, *others])
            for estimator, values in draws.items():
                values.append(log_aggregate(z[members], mean[members], logvar[members], N, estimator)[0][0].exp())
        assert torch.isclose(torch.stack(draws["mss"]).mean(), exact[i], rtol=1e-9)
        assert torch.stack(draws["mws"]).mean() < 0.8 * exact[i]


def test_a_misspelt_estimator_is_one_line_naming_the_key(capsys):
    assert main(["train", "--no-progress", "--set", "model.type=beta_tcvae",
                 "--set", "model.options.estimator=msss"]) == 2
    err = capsys.readouterr().err.strip()
    assert "model.options.estimator: Input should be 'mws' or 'mss'" in err and len(err.splitlines()) == 1, err
