"""Where new codes come from (`aelab generate --sampler`):

- `prior`: the model's prior (VAE family, WAE: N(0, I); vamp: its VampPrior; VQ-VAE: its
  categorical over codes; grid VQ-VAE: its PixelCNN over the code grid);
- `gaussian`: one Gaussian fitted to the training codes (what a plain AE, with no prior, uses);
- `gmm`: a Gaussian mixture fitted to the training codes (scikit-learn's GaussianMixture with
  `model.gmm_components` full-covariance components, 10 by default): it follows the clusters a
  prior misses, the usual cure for a VAE's samples from holes in its latent space (Ghosh et al.,
  2020; pythae's GMM sampler);
- `auto` [default]: the model's `model.sampler` from its config, whose own `auto` is the prior
  when the model has one, else the fitted Gaussian.

`draw` is the one path behind samples.png, `aelab generate` and the estimators' `sample()`. A
sampler fitted to codes is any object with `sample(n, seed, temperature) -> (n, latent_dim)` and
a `description` for titles."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from aelab.errors import AelabError


@dataclass
class FittedGaussian:
    """N(mean, cov) fitted to codes (N, latent_dim)."""
    mean: np.ndarray
    cov: np.ndarray

    @classmethod
    def fit(cls, codes: np.ndarray) -> "FittedGaussian":
        codes = np.asarray(codes, np.float64)
        k = codes.shape[1]
        cov = np.cov(codes, rowvar=False).reshape(k, k) if len(codes) > 1 else np.zeros((k, k))
        return cls(codes.mean(0), cov)

    def sample(self, n: int, seed: int, temperature: float = 1.0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return rng.multivariate_normal(self.mean, self.cov * temperature ** 2, n, method="eigh")

    description = "a Gaussian fitted to the training codes (an AE has no prior)"


MAX_FIT_CODES = 20_000  # codes a mixture is fitted to at most


@dataclass
class FittedGMM:
    """A Gaussian mixture fitted to codes: weights (K,), means (K, d), covariances (K, d, d)."""
    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray

    @classmethod
    def fit(cls, codes: np.ndarray, components: int = 10, seed: int = 0) -> "FittedGMM":
        from sklearn.mixture import GaussianMixture  # scikit-learn loads slowly: only when asked

        codes = np.asarray(codes, np.float64)
        if len(codes) > MAX_FIT_CODES:  # a seeded subset: seconds, not minutes, on 60k images
            codes = codes[np.sort(np.random.default_rng(seed).choice(len(codes), MAX_FIT_CODES, replace=False))]
        k = max(1, min(components, len(codes) // 2))
        gmm = GaussianMixture(k, covariance_type="full", reg_covar=1e-5, random_state=seed).fit(codes)
        return cls(gmm.weights_, gmm.means_, gmm.covariances_)

    def sample(self, n: int, seed: int, temperature: float = 1.0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        component = rng.choice(len(self.weights), n, p=self.weights / self.weights.sum())
        factors = np.linalg.cholesky(self.covariances)  # (K, d, d)
        eps = rng.standard_normal((n, self.means.shape[1]))
        return self.means[component] + temperature * np.einsum("nij,nj->ni", factors[component], eps)

    @property
    def description(self) -> str:
        return f"a {len(self.weights)}-component Gaussian mixture fitted to the training codes"


SAMPLERS = ("auto", "prior", "gaussian", "gmm")
FIT_SEED = 0  # the mixture is fitted with a fixed seed: the same sampler whatever seed draws from it


def has_prior(model) -> bool:
    return model.prior(1, torch.Generator()) is not None


def resolve(model, sampler: str = "auto") -> str:
    """The sampler that runs: 'auto' is the model's own `model.sampler` (config), and its 'auto' the
    prior when the model has one, else a Gaussian fitted to the codes."""
    if sampler not in SAMPLERS:
        raise AelabError(f"sampler {sampler!r}: choose one of {', '.join(SAMPLERS)}")
    if sampler == "auto":
        sampler = getattr(model.config, "sampler", "auto")
    if sampler == "auto":
        return "prior" if has_prior(model) else "gaussian"
    return sampler


def fit(kind: str, codes: np.ndarray, components: int = 10) -> FittedGaussian | FittedGMM:
    """The sampler `kind` ('gaussian' or 'gmm') fitted to training codes (N, latent_dim)."""
    if kind == "gmm":
        return FittedGMM.fit(codes, components, seed=FIT_SEED)
    return FittedGaussian.fit(codes)


PREFIX = "sampler."  # its tensors in a model file, beside the weights


def to_tensors(fitted: FittedGaussian | FittedGMM | None) -> dict[str, torch.Tensor]:
    """A fitted sampler as tensors for a model file (safetensors: no pickle)."""
    if fitted is None:
        return {}
    arrays = {"mean": fitted.mean, "cov": fitted.cov} if isinstance(fitted, FittedGaussian) else \
        {"weights": fitted.weights, "means": fitted.means, "covariances": fitted.covariances}
    return {PREFIX + k: torch.from_numpy(np.asarray(v, np.float64)) for k, v in arrays.items()}


def from_tensors(tensors: dict[str, torch.Tensor]) -> FittedGaussian | FittedGMM | None:
    arrays = {k[len(PREFIX):]: v.numpy() for k, v in tensors.items() if k.startswith(PREFIX)}
    if set(arrays) == {"mean", "cov"}:
        return FittedGaussian(arrays["mean"], arrays["cov"])
    if set(arrays) == {"weights", "means", "covariances"}:
        return FittedGMM(arrays["weights"], arrays["means"], arrays["covariances"])
    return None


def check_request(n, temperature) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise AelabError(f"n = {n!r}: ask for at least 1 sample (a whole number)")
    if not (isinstance(temperature, (int, float, np.floating)) and math.isfinite(temperature) and temperature > 0):
        raise AelabError(f"temperature {temperature!r}: must be a finite number > 0 (1 is the distribution itself)")


def draw(model, n: int, seed: int, temperature: float = 1.0, sampler: str = "auto",
         codes: Callable[[], np.ndarray] | None = None,
         fitted: FittedGaussian | FittedGMM | None = None) -> tuple[np.ndarray, str]:
    """(n codes (n, latent_dim) float32, what they were drawn from, for titles). A sampler fitted
    to codes is `fitted` when it is of the kind asked for (an estimator's, fitted once), else fitted
    here to `codes()` (a function giving the training codes, called only when needed)."""
    check_request(n, temperature)
    kind = resolve(model, sampler)
    temp = "" if temperature == 1 else f", temperature {temperature:g}"
    if kind == "prior":
        z = model.prior(n, torch.Generator().manual_seed(seed), temperature)
        if z is None:
            raise AelabError(f"a '{model.config.type}' has no prior; use --sampler gaussian or gmm (fitted to "
                             "its training codes)")
        return z.numpy().astype(np.float32), f"{model.prior_description}{temp}"
    wanted = FittedGMM if kind == "gmm" else FittedGaussian
    if not isinstance(fitted, wanted):
        if codes is None:
            raise AelabError(f"sampler {kind!r} is fitted to the training codes; none were given")
        fitted = fit(kind, codes(), getattr(model.config, "gmm_components", 10))
    return fitted.sample(n, seed, temperature).astype(np.float32), f"{fitted.description}{temp}"

