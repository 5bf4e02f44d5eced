"""The maximum mean discrepancy between a batch of codes and as many draws of the prior, the
penalty of WAE (Tolstikhin et al., 2018) and of InfoVAE's MMD-VAE (Zhao et al., 2019): it pulls
the aggregate posterior, the codes of the whole batch, towards the prior, not each image's code.

`kernel`: 'imq' (inverse multiquadratic, C / (C + |z - z'|^2), WAE's choice: heavy tails keep
gradients alive for codes far from the prior) or 'rbf' (exp(-|z - z'|^2 / C)); C = 2 * d *
scale^2, WAE's 2 d sigma^2. The estimate is the unbiased one (no i = j pairs within a sample).
"""

from __future__ import annotations

from typing import Literal

import torch

from aelab.vocabulary import MMD_KERNELS as KERNELS

Kernel = Literal[KERNELS]  # type: ignore[valid-type]


def kernel(a: torch.Tensor, b: torch.Tensor, kind: str, scale: float) -> torch.Tensor:
    """(len(a), len(b)) kernel values between codes a (N, d) and b (M, d)."""
    c = 2.0 * a.shape[1] * scale ** 2
    d2 = torch.cdist(a, b).square()
    return c / (c + d2) if kind == "imq" else torch.exp(-d2 / c)


def mmd(z: torch.Tensor, prior: torch.Tensor, kind: str, scale: float) -> torch.Tensor:
    """() the unbiased squared MMD between codes z (B, d) and prior draws (B, d)."""
    n = len(z)
    if n < 2:
        return z.new_zeros(())
    off_diagonal = 1.0 - torch.eye(n, device=z.device, dtype=z.dtype)
    within = ((kernel(z, z, kind, scale) + kernel(prior, prior, kind, scale)) * off_diagonal).sum() / (n * (n - 1))
    return within - 2.0 * kernel(z, prior, kind, scale).mean()


def prior_draws(z: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """As many draws of N(0, I) as there are codes in z, from the run's generator."""
    return torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
