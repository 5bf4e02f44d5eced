"""Activations by name (including seed 004's cosh) and weight initialisation schemes."""

from __future__ import annotations

import torch
from torch import nn


class Cosh(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cosh(x)


ACTIVATIONS = {
    "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "gelu": nn.GELU,
    "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "identity": nn.Identity, "softplus": nn.Softplus,
    "cosh": Cosh, "silu": nn.SiLU,
}
RELU_LIKE = {"relu", "leaky_relu", "elu", "gelu", "softplus", "silu"}


def activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


def resolve_init(init: str, architecture: str, act: str) -> str:
    """The init scheme `model.init` means for this architecture and hidden activation.

    `auto` is PyTorch's own layer defaults (`reset_parameters`: Kaiming-uniform with a = sqrt(5),
    uniform biases) for seed 002's `conv` network unless its activation is relu-like: with tanh,
    Xavier-normal weights and zero biases made the conv AE's test loss 7.9% worse than the same
    layers with PyTorch's defaults (the textbook loop) after the same training, and 8.2% worse over
    seeds 0-9, against +0.25% with the defaults (BENCHMARKS.md, bench/init_seeds.py). Everywhere
    else `auto` stays He before relu-like layers and Xavier otherwise (seed 003). Runs that need
    the old conv behaviour set `init: xavier`.
    """
    if init == "auto" and architecture == "conv" and act not in RELU_LIKE:
        return "pytorch"
    return init


def init_layer(layer: nn.Module, scheme: str, followed_by: str) -> None:
    """He for relu-like layers, Xavier for tanh/sigmoid/linear ones (seed 003), or N(0, 0.01)."""
    if scheme == "pytorch":  # PyTorch's own default (Kaiming-uniform, a = sqrt(5); uniform biases)
        layer.reset_parameters()
        return
    if scheme == "auto":
        scheme = "he" if followed_by in RELU_LIKE else "xavier"
    if scheme == "he":
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    elif scheme == "xavier":
        nn.init.xavier_normal_(layer.weight)
    else:  # "normal"
        nn.init.normal_(layer.weight, mean=0.0, std=0.01)
    if layer.bias is not None:  # convs followed by a normalisation have none
        nn.init.zeros_(layer.bias)
