"""Convolutional encoder and decoder after seed 002: stride-2 convs, a dense layer, the code;
the decoder mirrors it with transposed convs. Every shape is derived from the input size."""

from __future__ import annotations

import torch
from torch import nn

from aelab.models.layers import activation, init_layer


def feature_sizes(size: tuple[int, int], n_convs: int, kernel: int) -> list[tuple[int, int]]:
    """Spatial size before each stride-2 conv and after the last: [(H0, W0), (H1, W1), ...]."""
    sizes = [tuple(size)]
    for _ in range(n_convs):
        sizes.append(tuple((s + 2 * (kernel // 2) - kernel) // 2 + 1 for s in sizes[-1]))
    return sizes


class ConvEncoder(nn.Module):
    def __init__(self, input_shape, channels, dense, out_features, act, kernel, init):
        super().__init__()
        c_in, h, w = input_shape
        convs: list[nn.Module] = []
        for c in channels:
            conv = nn.Conv2d(c_in, c, kernel, stride=2, padding=kernel // 2)
            init_layer(conv, init, act)
            convs += [conv, activation(act)]
            c_in = c
        self.convs = nn.Sequential(*convs)
        fh, fw = feature_sizes((h, w), len(channels), kernel)[-1]
        self.dense = nn.Linear(c_in * fh * fw, dense)
        self.act = activation(act)
        self.head = nn.Linear(dense, out_features)
        init_layer(self.dense, init, act)
        init_layer(self.head, init, "identity")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.convs(x)  # (B, channels[-1], H / 2^n, W / 2^n), rounded up
        return self.head(self.act(self.dense(h.flatten(1))))


class ConvDecoder(nn.Module):
    def __init__(self, latent_dim, output_shape, channels, dense, act, kernel, init, output_activation):
        super().__init__()
        c_out, h, w = output_shape
        sizes = feature_sizes((h, w), len(channels), kernel)
        self.start_shape = (channels[-1], *sizes[-1])
        self.dense = nn.Sequential(
            nn.Linear(latent_dim, dense), activation(act),
            nn.Linear(dense, channels[-1] * sizes[-1][0] * sizes[-1][1]), activation(act),
        )
        init_layer(self.dense[0], init, act)
        init_layer(self.dense[2], init, act)
        # Mirror of the encoder; output_padding makes each layer hit the encoder's size exactly.
        targets = list(zip(reversed(channels[:-1]), reversed(sizes[1:-1]))) + [(c_out, sizes[0])]
        layers: list[nn.Module] = []
        c_in, size = self.start_shape[0], sizes[-1]
        for i, (c, target) in enumerate(targets):
            pad = tuple(t - (2 * s - 2 - 2 * (kernel // 2) + kernel) for t, s in zip(target, size))
            deconv = nn.ConvTranspose2d(c_in, c, kernel, stride=2, padding=kernel // 2, output_padding=pad)
            last = i == len(targets) - 1
            init_layer(deconv, init, output_activation if last else act)
            layers += [deconv] if last else [deconv, activation(act)]
            c_in, size = c, target
        self.deconvs = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.dense(z).unflatten(1, self.start_shape)  # (B, channels[-1], h_n, w_n)
        return self.deconvs(h)  # (B, C, H, W), pre-activation
