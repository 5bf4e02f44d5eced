"""`diffusion`: a small denoising diffusion model over the codes (Ho et al. 2020, DDPM, trained to
predict the noise added at a random step of a cosine schedule, Nichol & Dhariwal 2021), drawn
from with DDIM's deterministic sampler (Song et al. 2021) in a few dozen steps. Noise becomes a code
by a fixed path, so the temperature scales the starting noise; the weights used are an exponential
moving average of the trained ones (steadier samples than the last step's)."""

from __future__ import annotations

import math

import torch
from pydantic import Field
from torch import nn

from aelab.models.samplers.fitting import LearnedSampler, TrainingOptions

STEPS = 1000  # of the forward (noising) process
# A code's prediction at a step is clamped to this many standard deviations: at the last steps the
# signal left is ~1e-9 of the noise, and dividing by it turned the first predictions into 1e4-sized
# garbage that the next steps never undid (a 2-D ring came out at +-1e5 without the clamp).
CLAMP = 6.0


class DiffusionOptions(TrainingOptions):
    steps: int = Field(5000, ge=1, le=10_000_000)
    patience: int = Field(8, ge=1, le=100_000)
    check_every: int = Field(250, ge=1, le=100_000)
    batch_size: int = Field(256, ge=1, le=65_536)  # a step costs about the same at 128 or 256 codes
    hidden: int = Field(256, ge=1, le=8192)
    layers: int = Field(3, ge=1, le=16)  # residual blocks
    learning_rate: float = Field(1e-3, gt=0, le=1)
    sampling_steps: int = Field(50, ge=1, le=STEPS)  # DDIM steps when drawing
    ema_decay: float = Field(0.999, ge=0, lt=1)


def alpha_bars(steps: int = STEPS) -> torch.Tensor:
    """The cosine schedule's share of signal left at each step, (steps,), from ~1 down to ~0."""
    s = 0.008
    t = torch.arange(steps + 1, dtype=torch.float64) / steps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, 0).float()


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """(B,) integer steps -> (B, dim) sines and cosines of geometrically spaced frequencies."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class Block(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.norm, self.linear1, self.linear2 = nn.LayerNorm(width), nn.Linear(width, width), nn.Linear(width, width)
        self.time = nn.Linear(width, width)

    def forward(self, h: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        x = nn.functional.silu(self.linear1(self.norm(h)) + self.time(t_emb))
        return h + self.linear2(nn.functional.silu(x))


class Denoiser(nn.Module):
    """(noisy codes (B, d), steps (B,)) -> the noise in them (B, d)."""

    def __init__(self, dim: int, width: int, blocks: int):
        super().__init__()
        self.width = width
        self.inp = nn.Linear(dim, width)
        self.time_mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.blocks = nn.ModuleList(Block(width) for _ in range(blocks))
        self.out = nn.Sequential(nn.LayerNorm(width), nn.SiLU(), nn.Linear(width, dim))
        self.register_buffer("alpha_bar", alpha_bars(), persistent=False)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t_emb = self.time_mlp(timestep_embedding(t, self.width))  # (B, width)
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, t_emb)
        return self.out(h)


class DiffusionSampler(LearnedSampler):
    kind = "diffusion"
    Options = DiffusionOptions
    ema = True

    @classmethod
    def build(cls, dim: int, options: DiffusionOptions) -> nn.Module:
        return Denoiser(dim, options.hidden, options.layers)

    @classmethod
    def loss(cls, net, batch, options, generator) -> torch.Tensor:
        t = torch.randint(0, STEPS, (len(batch),), generator=generator)
        noise = torch.randn(batch.shape, generator=generator)
        a = net.alpha_bar[t][:, None]
        noisy = a.sqrt() * batch + (1 - a).sqrt() * noise
        return (net(noisy, t) - noise).square().mean()

    def generate(self, noise: torch.Tensor) -> torch.Tensor:
        """DDIM (eta = 0): from pure noise at the last step down to a code, deterministically."""
        net, x = self.net, noise
        steps = torch.linspace(STEPS - 1, 0, self.options.sampling_steps).round().long().tolist()
        for i, t in enumerate(steps):
            a = net.alpha_bar[t]
            eps = net(x, torch.full((len(x),), t))
            x0 = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-CLAMP, CLAMP)
            a_next = net.alpha_bar[steps[i + 1]] if i + 1 < len(steps) else torch.tensor(1.0)
            x = a_next.sqrt() * x0 + (1 - a_next).sqrt() * eps
        return x

    @property
    def description(self) -> str:
        return "a diffusion model fitted to the training codes"
