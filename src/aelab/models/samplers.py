"""Where new codes come from: the model's prior (VAE family) or, for a model without one (a plain
AE), a Gaussian fitted to its training codes. `draw` is the one path behind samples.png,
`aelab generate` and the estimators' `sample()`.

A sampler fitted to codes is any object with `sample(n, seed, temperature) -> (n, latent_dim)` and
a `description` for titles (a Gaussian mixture is one more class beside FittedGaussian)."""

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


def check_request(n, temperature) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise AelabError(f"n = {n!r}: ask for at least 1 sample (a whole number)")
    if not (isinstance(temperature, (int, float, np.floating)) and math.isfinite(temperature) and temperature > 0):
        raise AelabError(f"temperature {temperature!r}: must be a finite number > 0 (1 is the distribution itself)")


def draw(model, n: int, seed: int, temperature: float = 1.0,
         fitted: Callable[[], FittedGaussian] | FittedGaussian | None = None) -> tuple[np.ndarray, str]:
    """(n codes (n, latent_dim) float32, what they were drawn from, for titles). `fitted` (or a
    function making it, called only when needed) serves models without a prior."""
    check_request(n, temperature)
    temp = "" if temperature == 1 else f", temperature {temperature:g}"
    z = model.prior(n, torch.Generator().manual_seed(seed), temperature)
    if z is not None:
        return z.numpy().astype(np.float32), f"{model.prior_description}{temp}"
    gaussian = fitted() if callable(fitted) else fitted
    if gaussian is None:
        raise AelabError(f"a '{model.config.type}' has no prior; sampling needs its training codes")
    return gaussian.sample(n, seed, temperature).astype(np.float32), f"{gaussian.description}{temp}"
