"""A discriminator on codes, the second network of the adversarial AE (models/aae.py) and of
FactorVAE (models/factor_vae.py): an MLP from a code (B, latent_dim) to one logit per code,
leaky ReLU 0.2 between its layers (the FactorVAE paper's; its six layers of 1000 units are far
more than a CPU needs for codes of a few dimensions: the types default to two or three of 256).

The model's own step uses it with its weights held constant (`frozen`): the autoencoder's loss
then spends no backward pass on gradients the discriminator's own step (the trainer's second
optimizer, train/second_network.py) computes anyway.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


class CodeDiscriminator(nn.Module):
    def __init__(self, latent_dim: int, widths: list[int]):
        super().__init__()
        layers: list[nn.Module] = []
        width = latent_dim
        for units in widths:
            layers += [nn.Linear(width, units), nn.LeakyReLU(0.2)]
            width = units
        layers.append(nn.Linear(width, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.layers(z).squeeze(1)  # (B, latent_dim) -> (B,) logits


@contextmanager
def frozen(module: nn.Module):
    """`module`'s weights as constants for the duration: gradients reach its inputs only."""
    module.requires_grad_(False)
    try:
        yield module
    finally:
        module.requires_grad_(True)
