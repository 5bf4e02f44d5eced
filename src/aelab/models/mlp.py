"""Fully connected encoder and decoder."""

from __future__ import annotations

import math

import torch
from torch import nn

from aelab.models.layers import activation, init_layer


def stack(in_features: int, widths: list[tuple[int, str]], init: str) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for units, act in widths:
        linear = nn.Linear(in_features, units)
        init_layer(linear, init, act)
        layers += [linear, activation(act)]
        in_features = units
    return nn.Sequential(*layers), in_features


class MLPEncoder(nn.Module):
    def __init__(self, input_shape, widths, out_features: int, init: str):
        super().__init__()
        self.hidden, width = stack(math.prod(input_shape), widths, init)
        self.head = nn.Linear(width, out_features)  # latent code, or [mean | log-variance]
        init_layer(self.head, init, "identity")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(x.flatten(1)))  # (B, C, H, W) -> (B, out_features)


class MLPDecoder(nn.Module):
    def __init__(self, latent_dim: int, widths, output_shape, init: str, output_activation: str):
        super().__init__()
        self.output_shape = tuple(output_shape)
        self.hidden, width = stack(latent_dim, widths, init)
        self.head = nn.Linear(width, math.prod(output_shape))
        init_layer(self.head, init, output_activation)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(z)).unflatten(1, self.output_shape)  # (B, C, H, W), pre-activation
