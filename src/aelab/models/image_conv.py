"""Convolutional encoder and decoder for real images (`model.architecture: image_conv`).

Built the way well-tuned VAE codebases build them: each stage halves the image with a stride-2
3x3 conv, normalises (BatchNorm or GroupNorm) and applies the activation, then runs optional
pre-activation residual blocks; the last feature map is flattened into the code (or [mean |
log-variance]). The decoder mirrors the stages with stride-2 transposed convs of kernel 4:
every output pixel then gets the same number of kernel taps (2x2), so there is no checkerboard
(Odena et al., 2016), which a kernel-3 stride-2 transposed conv leaves in the image. Each doubles
its input exactly; where the encoder's size was odd the extra row or column is cropped, so any
input size works (28, 64, 70, 128, non-square), with 1 or 3 channels. The last one produces the
image's channels directly (a conv at full resolution would cost as much as the rest of the
decoder on a CPU).

With `grid_channels` D (a grid VQ-VAE) the encoder keeps its last feature map instead of the
dense head: a 1x1 conv gives a D-value code at each of its h x w positions, flattened position by
position to (B, h * w * D); the decoder starts from that grid with a 1x1 conv.

The encoder and decoder are self-contained modules (input shape in, tensors out): an
autoencoder only needs to hold them.
"""

from __future__ import annotations

import torch
from torch import nn

from aelab.models.conv import feature_sizes
from aelab.models.layers import activation, init_layer

GROUPS = 8  # GroupNorm groups (or fewer, when a stage has fewer channels than that)


def norm_layer(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        groups = next(g for g in range(min(GROUPS, channels), 0, -1) if channels % g == 0)
        return nn.GroupNorm(groups, channels)
    return nn.Identity()


def conv_unit(conv: nn.Module, norm: str, act: str, init: str) -> nn.Sequential:
    """conv -> normalisation -> activation; the conv has no bias when a normalisation follows."""
    init_layer(conv, init, act)
    return nn.Sequential(conv, norm_layer(norm, conv.out_channels), activation(act))


def _conv(c_in: int, c_out: int, stride: int, norm: str) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=norm == "none")


class ResidualBlock(nn.Module):
    """x + conv(act(norm(conv(act(norm(x)))))): pre-activation, shape-preserving."""

    def __init__(self, channels: int, norm: str, act: str, init: str):
        super().__init__()
        self.body = nn.Sequential(
            norm_layer(norm, channels), activation(act), _conv(channels, channels, 1, "none"),
            norm_layer(norm, channels), activation(act), _conv(channels, channels, 1, "none"),
        )
        init_layer(self.body[2], init, act)
        # The last conv starts at zero: each block begins as the identity, so depth cannot hurt early.
        nn.init.zeros_(self.body[5].weight)
        nn.init.zeros_(self.body[5].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _blocks(n: int, channels: int, norm: str, act: str, init: str) -> list[nn.Module]:
    return [ResidualBlock(channels, norm, act, init) for _ in range(n)]


class CropTo(nn.Module):
    """Keeps the top-left (height, width): undoes the extra row/column of doubling an odd size."""

    def __init__(self, height: int, width: int):
        super().__init__()
        self.height, self.width = height, width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., : self.height, : self.width]


def upsample(c_in: int, c_out: int, bias: bool, target: tuple[int, int], source: tuple[int, int]) -> list[nn.Module]:
    """A stride-2 kernel-4 transposed conv from `source` to `target` (each side 2s or 2s - 1)."""
    up = nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=bias)  # exactly 2x the size
    return [up] if tuple(2 * s for s in source) == tuple(target) else [up, CropTo(*target)]


def grid_size(size: tuple[int, int], stages: int) -> tuple[int, int]:
    """(h, w) of the encoder's last feature map for images of `size` (H, W)."""
    return feature_sizes(tuple(size), stages, 3)[-1]


class ImageEncoder(nn.Module):
    def __init__(self, input_shape, channels: list[int], blocks: list[int], out_features: int,
                 norm: str, act: str, init: str, grid_channels: int | None = None):
        super().__init__()
        c_in, h, w = input_shape
        stages: list[nn.Module] = []
        for c, n in zip(channels, blocks):
            stages += [conv_unit(_conv(c_in, c, 2, norm), norm, act, init), *_blocks(n, c, norm, act, init)]
            c_in = c
        self.stages = nn.Sequential(*stages)
        fh, fw = grid_size((h, w), len(channels))
        self.grid = grid_channels is not None
        # the code: a dense head over the whole map, or a 1x1 conv giving a code at each position
        self.head = nn.Conv2d(c_in, grid_channels, 1) if self.grid else nn.Linear(c_in * fh * fw, out_features)
        init_layer(self.head, init, "identity")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stages(x)  # (B, channels[-1], H / 2^n, W / 2^n), rounded up
        if self.grid:
            return self.head(h).permute(0, 2, 3, 1).flatten(1)  # (B, h_n * w_n * D), position-major
        return self.head(h.flatten(1))


class ImageDecoder(nn.Module):
    def __init__(self, latent_dim: int, output_shape, channels: list[int], blocks: list[int],
                 norm: str, act: str, init: str, output_activation: str, grid_channels: int | None = None):
        super().__init__()
        c_out, h, w = output_shape
        sizes = feature_sizes((h, w), len(channels), 3)  # the encoder's sizes, input first
        self.start_shape = (channels[-1], *sizes[-1])
        self.grid_shape = None if grid_channels is None else (*sizes[-1], grid_channels)  # (h_n, w_n, D)
        if self.grid_shape is None:
            self.dense = nn.Linear(latent_dim, channels[-1] * sizes[-1][0] * sizes[-1][1])
        else:
            self.dense = nn.Conv2d(grid_channels, channels[-1], 1)  # per position: code -> features
        init_layer(self.dense, init, act)
        layers: list[nn.Module] = [norm_layer(norm, channels[-1]), activation(act)]
        # Stage i (deepest first): residual blocks at its size, then up to the size before it.
        for i in reversed(range(len(channels))):
            layers += _blocks(blocks[i], channels[i], norm, act, init)
            if i > 0:
                up, *crop = upsample(channels[i], channels[i - 1], norm == "none", sizes[i], sizes[i + 1])
                init_layer(up, init, act)
                layers += [up, *crop, norm_layer(norm, channels[i - 1]), activation(act)]
            else:
                up, *crop = upsample(channels[0], c_out, True, sizes[0], sizes[1])
                init_layer(up, init, output_activation)
                layers += [up, *crop]
        self.stages = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.grid_shape is None:
            h = self.dense(z).unflatten(1, self.start_shape)  # (B, channels[-1], h_n, w_n)
        else:  # (B, h_n * w_n * D) position-major -> (B, D, h_n, w_n) -> (B, channels[-1], h_n, w_n)
            h = self.dense(z.unflatten(1, self.grid_shape).permute(0, 3, 1, 2))
        return self.stages(h)  # (B, C, H, W), pre-activation
