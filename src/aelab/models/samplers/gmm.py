"""`gmm`: a Gaussian mixture fitted to the codes (scikit-learn's GaussianMixture with
`model.gmm_components` full-covariance components): it follows the clusters a prior misses, the
usual first cure for a VAE's samples from holes in its latent space (Ghosh et al., 2020)."""

from __future__ import annotations

import logging

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger("aelab")

MAX_FIT_CODES = 20_000  # codes a mixture is fitted to at most
# Components get at least this many codes each: with fewer, each one is a few training codes and
# its samples are near-copies of training images (measured: 500 components on 2,700 emoji codes,
# 5 each, and 62 on the 124 shipped emojis, 2 each, drew samples closer to training images than
# test images are; 200 on 2,700, 13 each, did not). model.gmm_components is a maximum.
MIN_CODES_PER_COMPONENT = 13


class GMMOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    components: int = Field(10, ge=1, le=1000)  # from model.gmm_components


class FittedGMM:
    """Weights (K,), means (K, d), covariances (K, d, d)."""
    kind = "gmm"
    Options = GMMOptions

    def __init__(self, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray,
                 options: GMMOptions | None = None):
        self.weights, self.means, self.covariances = weights, means, covariances
        self.options = options or GMMOptions(components=len(weights))

    @classmethod
    def fit(cls, codes: np.ndarray, options: GMMOptions | int = 10, seed: int = 0,
            progress: bool = True, spread: np.ndarray | None = None) -> "FittedGMM":
        from sklearn.mixture import GaussianMixture  # scikit-learn loads slowly: only when asked

        options = GMMOptions(components=options) if isinstance(options, int) else options
        codes = np.asarray(codes, np.float64)
        if len(codes) > MAX_FIT_CODES:  # a seeded subset: seconds, not minutes, on 60k images
            codes = codes[np.sort(np.random.default_rng(seed).choice(len(codes), MAX_FIT_CODES, replace=False))]
        k = max(1, min(options.components, len(codes) // MIN_CODES_PER_COMPONENT))
        if k < options.components:
            log.info("gmm sampler: %d components, not %d: %d training codes give at least %d to each "
                     "(fewer would make samples near-copies of training images)", k, options.components,
                     len(codes), MIN_CODES_PER_COMPONENT)
        gmm = GaussianMixture(k, covariance_type="full", reg_covar=1e-5, random_state=seed).fit(codes)
        return cls(gmm.weights_, gmm.means_, gmm.covariances_, options)

    def sample(self, n: int, seed: int, temperature: float = 1.0) -> np.ndarray:
        return self.sample_with_components(n, seed, temperature)[0]

    def sample_with_components(self, n: int, seed: int, temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """(n codes (n, d), the component each was drawn from (n,))."""
        rng = np.random.default_rng(seed)
        component = rng.choice(len(self.weights), n, p=self.weights / self.weights.sum())
        factors = np.linalg.cholesky(self.covariances)  # (K, d, d)
        eps = rng.standard_normal((n, self.means.shape[1]))
        return self.means[component] + temperature * np.einsum("nij,nj->ni", factors[component], eps), component

    def component_of(self, codes: np.ndarray) -> np.ndarray:
        """The most probable component of each code (N, d) -> (N,)."""
        factors = np.linalg.cholesky(self.covariances)  # (K, d, d)
        scores = np.empty((len(codes), len(self.weights)))
        for k, (mean, factor) in enumerate(zip(self.means, factors)):
            white = np.linalg.solve(factor, (np.asarray(codes, np.float64) - mean).T)  # (d, N)
            scores[:, k] = np.log(self.weights[k]) - 0.5 * (white ** 2).sum(0) - np.log(np.diag(factor)).sum()
        return scores.argmax(1)

    @property
    def description(self) -> str:
        return f"a {len(self.weights)}-component Gaussian mixture fitted to the training codes"

    def tensors(self) -> dict[str, torch.Tensor]:
        return {k: torch.from_numpy(np.asarray(v, np.float64))
                for k, v in (("weights", self.weights), ("means", self.means), ("covariances", self.covariances))}

    @classmethod
    def restore(cls, tensors: dict[str, torch.Tensor], options: GMMOptions | None = None, seed: int = 0) -> "FittedGMM":
        return cls(tensors["weights"].numpy(), tensors["means"].numpy(), tensors["covariances"].numpy(), options)
