"""The importance-sampled NLL of the two VAEs whose posterior is not Gaussian (issue 25): an svae's
von Mises-Fisher on the sphere with the uniform prior, and a gumbel_vae's categorical codes with the
uniform categorical prior (the discrete model its samples come from), trained for seconds on
scikit-learn's digits. Checked against their definitions: the vMF density integrates to 1, the
one-draw bound is the ELBO, more draws tighten it; the categorical estimate lands on the exact
log p(x), a sum over every code."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

import aelab
from aelab.cli import main
from aelab.evaluate.likelihood import elbo, likelihood_bounds
from aelab.models.svae import log_sphere_area, vmf_log_density

X = load_digits().data / 16
TRAIN, TEST = X[:1400], X[1400:]


def fit(model_type, latent_dim, options=None, epochs=5):
    return aelab.Estimator(model_type=model_type, options=options, latent_dim=latent_dim, encoder_layers=[64],
                           epochs=epochs, batch_size=32, seed=0).fit(TRAIN).model_


def images(model, data=TEST) -> torch.Tensor:
    return torch.as_tensor(data, dtype=torch.float32).view(-1, *model.input_shape)


# ---------------------------------------------------------------------------------------- svae
@pytest.fixture(scope="module")
def svae():
    return fit("svae", latent_dim=8, epochs=15)


@pytest.mark.parametrize("kappa", [1.0, 5.0, 50.0, 2000.0])
def test_the_vmf_density_integrates_to_one_on_the_circle(kappa):
    """d = 2: a 20,000-point quadrature over the angle (a wrong Bessel order or normaliser is off by
    a factor that grows with kappa)."""
    theta = torch.linspace(0, 2 * math.pi, 20_001, dtype=torch.float64)[:-1]
    z = torch.stack([theta.cos(), theta.sin()], 1)
    mu = F.normalize(torch.tensor([[0.3, -1.0]], dtype=torch.float64), dim=1).expand_as(z)
    density = vmf_log_density(z, mu, torch.full((len(z),), kappa, dtype=torch.float64)).exp()
    assert float(density.sum() * (theta[1] - theta[0])) == pytest.approx(1, rel=1e-3)


@pytest.mark.parametrize("kappa", [0.5, 2.0, 5.0])
def test_the_vmf_density_integrates_to_one_on_the_sphere(kappa):
    """d = 3: the mean density at 400,000 uniform points times the sphere's area 4 pi."""
    generator = torch.Generator().manual_seed(0)
    z = F.normalize(torch.randn((400_000, 3), generator=generator, dtype=torch.float64), dim=1)
    mu = F.normalize(torch.tensor([[1.0, 2.0, -0.5]], dtype=torch.float64), dim=1).expand_as(z)
    density = vmf_log_density(z, mu, torch.full((len(z),), kappa, dtype=torch.float64)).exp()
    assert math.exp(log_sphere_area(3)) == pytest.approx(4 * math.pi)
    assert float(density.mean()) * 4 * math.pi == pytest.approx(1, rel=0.01)


def test_the_svae_draws_lie_on_the_sphere_with_the_density_of_their_posterior(svae):
    with torch.no_grad():
        mu, kappa = svae.posterior(images(svae)[:8])
        z, log_q = svae.draw_posterior((mu, kappa), 500, torch.Generator().manual_seed(0))
    assert z.shape == (8, 500, 8) and log_q.shape == (8, 500)
    assert torch.allclose(z.norm(dim=-1), torch.ones(8, 500), atol=1e-5)
    expected = vmf_log_density(z.flatten(0, 1), mu.repeat_interleave(500, 0), kappa.repeat_interleave(500, 0))
    assert torch.allclose(log_q.double().flatten(), expected, atol=1e-3 * float(kappa.max()) + 1e-4)
    assert float(kappa.median()) > 2.5, kappa  # trained: the posteriors have left the prior (the test means something)


def test_the_svae_nll_is_the_elbo_with_one_draw_and_tightens_with_more(svae):
    """K = 1: the bound is a one-draw ELBO, whose mean is the ELBO's (`elbo`, the model's own
    forward pass with other draws); K = 10, 100: lower (weakly), and finite for every image."""
    data = images(svae)
    nll = {}
    for k in (1, 10, 100):
        bound, elbo_k = likelihood_bounds(svae, data, k, seed=0, precision="fp32", workers=1)
        assert torch.isfinite(bound).all() and torch.isfinite(elbo_k).all()
        nll[k] = -float(bound.mean())
    one_draw = likelihood_bounds(svae, data, 1, seed=1, precision="fp32", workers=1)[0]
    forward = elbo(svae, data, seed=2)
    difference = one_draw.double() - forward.double()
    print("svae NLL by draws", nll, "-ELBO", -float(forward.mean()))
    assert abs(float(difference.mean())) < 4 * float(difference.std()) / math.sqrt(len(data)) + 1e-3
    assert nll[10] < nll[1] and nll[100] <= nll[10] + 0.01, nll
    assert nll[1] - nll[100] < 2, nll  # a bound that tightens by nats on a 3-D code is weighed wrongly


# ---------------------------------------------------------------------------------- gumbel_vae
def exact_log_likelihood(model, data: torch.Tensor) -> torch.Tensor:
    """(N,) log p(x) = logsumexp over all K^N one-hot codes of log p(x|z) + log p(z), the decoder's
    Bernoulli likelihood as the bce loss defines it."""
    n, k = model.variables, model.categories
    codes = torch.tensor(list(itertools.product(range(k), repeat=n)))  # (K^N, N)
    z = F.one_hot(codes, k).float().flatten(1)
    with torch.no_grad():
        logits = model.decoder(z).flatten(1)  # (K^N, P)
    log_px = logits @ data.flatten(1).T - F.softplus(logits).sum(1, keepdim=True)  # (K^N, B)
    return torch.logsumexp(log_px, 0) - n * math.log(k)


def test_the_gumbel_vae_nll_lands_on_the_exact_likelihood_of_its_discrete_model():
    """3 variables of 4 categories: 64 codes, log p(x) exact. The estimate with 2,000 draws is a
    lower bound in expectation: within 0.5 nats of it on average, above it by no more than noise."""
    model = fit("gumbel_vae", latent_dim=12, options={"categories": 4}, epochs=8)
    data = images(model)[:100]
    exact = exact_log_likelihood(model.eval(), data)
    bound, elbo_k = likelihood_bounds(model, data, 2000, seed=0, precision="fp32", workers=1)
    gap = exact - bound
    print(f"gumbel_vae exact NLL {-float(exact.mean()):.3f}, estimated {-float(bound.mean()):.3f}, "
          f"-ELBO {-float(elbo_k.mean()):.3f}; gap mean {float(gap.mean()):.4f} min {float(gap.min()):.4f}")
    # measured: exact NLL 26.226, estimated 26.230, -ELBO 26.699; per image -0.07 to +0.04 nats off
    assert 0.1 > float(gap.mean()) > -0.02
    assert float(gap.min()) > -0.2  # never much above log p(x)
    assert float((exact - elbo_k).min()) > -1e-3  # the ELBO with the exact KL is below it, image by image
    assert float((exact - elbo_k).mean()) > 0.05  # and distinctly: the bound's draws carry the difference


# ----------------------------------------------------------------------------------------- CLI
@pytest.mark.parametrize("model_type, settings", [
    ("svae", ["model.latent_dim=3"]),
    ("gumbel_vae", ["model.latent_dim=12", "model.options.categories=4"]),
])
def test_aelab_evaluate_prints_the_nll_of_both_types(model_type, settings, tmp_path, capsys):
    run = tmp_path / model_type
    sets = [a for s in [f"model.type={model_type}", "data.dataset=digits", "training.epochs=3", *settings]
            for a in ("--set", s)]
    assert main(["train", *sets, "--no-progress", "--no-figures", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--nll-samples", "50"]) == 0
    out = capsys.readouterr().out
    nll = float(next(line for line in out.splitlines() if line.startswith("nll ")).split("|")[1])
    elbo_value = float(next(line for line in out.splitlines() if line.startswith("elbo ")).split("|")[1])
    print(model_type, "nll", nll, "-elbo", -elbo_value)
    assert 0 < nll < -elbo_value, out
