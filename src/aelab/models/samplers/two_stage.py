"""`two_stage`: a second VAE fitted to the codes (Dai & Wipf 2019, "Diagnosing and enhancing VAE
models"). The first VAE's codes do not fill its prior N(0, I); a second, small MLP VAE learns to map
them to a Gaussian u that does, with a learned decoder variance gamma that shrinks as it fits (their
point: a learned gamma lets the second stage match the code distribution, where a fixed one blurs
it). Drawing: u ~ N(0, I) (times the temperature) -> its decoder's mean -> a code."""

from __future__ import annotations

import math

import torch
from pydantic import Field
from torch import nn

from aelab.models.samplers.fitting import LearnedSampler, TrainingOptions

LOG_2PI = math.log(2 * math.pi)


class TwoStageOptions(TrainingOptions):
    steps: int = Field(5000, ge=1, le=10_000_000)
    hidden: int = Field(512, ge=1, le=8192)
    layers: int = Field(3, ge=1, le=16)
    kl_weight: float = Field(1.0, gt=0, le=100)  # 1: the ELBO itself


def mlp(inputs: int, hidden: int, layers: int, outputs: int) -> nn.Sequential:
    widths = [inputs] + [hidden] * layers
    blocks = [m for a, b in zip(widths, widths[1:]) for m in (nn.Linear(a, b), nn.SiLU())]
    return nn.Sequential(*blocks, nn.Linear(widths[-1], outputs))


class SecondStageVAE(nn.Module):
    def __init__(self, dim: int, hidden: int, layers: int):
        super().__init__()
        self.encoder = mlp(dim, hidden, layers, 2 * dim)  # code -> (mean, log-variance) of u
        self.decoder = mlp(dim, hidden, layers, dim)  # u -> mean of the code
        # The decoder variance, learned, from e^-3: started at 1, the second stage sat at the collapsed
        # saddle (u ignored, every code decoded to the mean) on a 2-D ring of 8 modes for 100 epochs.
        self.log_gamma = nn.Parameter(torch.tensor(-3.0))

    def terms(self, z: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.encoder(z).chunk(2, dim=-1)  # (B, d) each
        u = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=generator)
        z_hat = self.decoder(u)  # (B, d)
        # -log N(z; z_hat, gamma I), summed over dimensions
        reconstruction = 0.5 * ((z - z_hat).square() / self.log_gamma.exp() + self.log_gamma + LOG_2PI).sum(-1)
        kl = 0.5 * (mean.square() + logvar.exp() - 1 - logvar).sum(-1)
        return reconstruction.mean(), kl.mean()


class TwoStageSampler(LearnedSampler):
    kind = "two_stage"
    Options = TwoStageOptions

    @classmethod
    def build(cls, dim: int, options: TwoStageOptions) -> nn.Module:
        return SecondStageVAE(dim, options.hidden, options.layers)

    @classmethod
    def loss(cls, net, batch, options, generator) -> torch.Tensor:
        reconstruction, kl = net.terms(batch, generator)
        return (reconstruction + options.kl_weight * kl) / batch.shape[1]  # negative ELBO per dimension

    def generate(self, noise: torch.Tensor) -> torch.Tensor:
        return self.net.decoder(noise)

    @property
    def description(self) -> str:
        return "a second-stage VAE fitted to the training codes"
