"""Input corruption for denoising: whole-batch tensor ops, clipped to the data range [0, 1]."""

from __future__ import annotations

import torch
from pydantic import TypeAdapter, ValidationError

from aelab.config import BitflipNoise, GaussianNoise, Noise, SaltPepperNoise, parse_noise
from aelab.errors import AelabError


def corrupt(x: torch.Tensor, noise, generator: torch.Generator | None = None) -> torch.Tensor:
    if isinstance(noise, GaussianNoise):
        eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return (x + noise.std * eps).clamp_(0.0, 1.0)
    u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    if isinstance(noise, SaltPepperNoise):
        # Half of the hit pixels go white (salt), half black (pepper).
        salt = (u < noise.p / 2).to(x.dtype)
        pepper = (u >= 1 - noise.p / 2)
        return torch.maximum(x, salt).masked_fill_(pepper, 0.0)
    if isinstance(noise, BitflipNoise):
        return torch.where(u < noise.p, 1.0 - x, x)
    raise TypeError(f"unknown noise {noise!r}")


def noise_from_text(text: str):
    """'gaussian:0.3', 'salt_pepper:0.1', 'bitflip:0.05' -> a validated noise section."""
    try:
        return TypeAdapter(Noise).validate_python(parse_noise(text))
    except ValueError as e:  # ValidationError is a ValueError
        why = e.errors()[0]["msg"] if isinstance(e, ValidationError) else str(e)
        raise AelabError(f"--noise {text}: {why}") from None
