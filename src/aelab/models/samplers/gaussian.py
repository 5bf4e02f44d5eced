"""`gaussian`: one Gaussian N(mean, cov) fitted to the codes (what a plain AE, with no prior, uses)."""

from __future__ import annotations

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict


class GaussianOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")  # nothing to set


class FittedGaussian:
    kind = "gaussian"
    Options = GaussianOptions
    description = "a Gaussian fitted to the training codes"

    def __init__(self, mean: np.ndarray, cov: np.ndarray):
        self.mean, self.cov = mean, cov
        self.options = GaussianOptions()

    @classmethod
    def fit(cls, codes: np.ndarray, options: GaussianOptions | None = None, seed: int = 0,
            progress: bool = True, spread: np.ndarray | None = None) -> "FittedGaussian":
        codes = np.asarray(codes, np.float64)
        k = codes.shape[1]
        cov = np.cov(codes, rowvar=False).reshape(k, k) if len(codes) > 1 else np.zeros((k, k))
        return cls(codes.mean(0), cov)

    def sample(self, n: int, seed: int, temperature: float = 1.0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return rng.multivariate_normal(self.mean, self.cov * temperature ** 2, n, method="eigh")

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"mean": torch.from_numpy(np.asarray(self.mean, np.float64)),
                "cov": torch.from_numpy(np.asarray(self.cov, np.float64))}

    @classmethod
    def restore(cls, tensors: dict[str, torch.Tensor], options=None, seed: int = 0) -> "FittedGaussian":
        return cls(tensors["mean"].numpy(), tensors["cov"].numpy())
