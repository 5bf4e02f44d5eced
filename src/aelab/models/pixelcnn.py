"""A gated PixelCNN (van den Oord et al., 2016, "Conditional image generation with PixelCNN
decoders") over a grid of code indices: the autoregressive prior of model.type 'vqvae_grid'.

    p(c) = prod_i p(c_i | c_<i)       positions in raster order (row by row, left to right)

Two stacks of causal convolutions: the vertical one sees every row above the current position, the
horizontal one the positions to its left in the same row (and reads the vertical one); together
they have no blind spot. Causality comes from shifting, the equivalent of masked kernels: the
input is shifted down one row (vertical) and right one column (horizontal) before the first layer,
and every conv is padded on the top/left only, so position (i, j) never sees itself or a later one.
Each layer is gated, tanh(a) * sigmoid(b), with a residual connection on the horizontal stack.

Why a PixelCNN rather than a small causal transformer on a 2-core CPU: the grids are small (8x8 to
16x16) and a few 3x3-kernel layers cover them, so a training step is a handful of small convs on
an 8x8 map, and convolutions carry the prior that neighbouring codes depend on each other most,
which a transformer must learn from data (a few thousand emojis here) and pay attention over
every pair of positions for.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def gate(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedLayer(nn.Module):
    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.reach = kernel // 2
        self.vertical = nn.Conv2d(channels, 2 * channels, (self.reach + 1, kernel))  # rows i - reach .. i
        self.horizontal = nn.Conv2d(channels, 2 * channels, (1, self.reach + 1))  # columns j - reach .. j
        self.vertical_to_horizontal = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, v: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = self.reach
        v_pre = self.vertical(F.pad(v, (r, r, r, 0)))  # (B, 2C, H, W): padded above and on both sides
        h_pre = self.horizontal(F.pad(h, (r, 0, 0, 0))) + self.vertical_to_horizontal(v_pre)
        return gate(v_pre), h + self.out(gate(h_pre))


class GatedPixelCNN(nn.Module):
    """Code indices (B, H, W) -> logits (B, codes, H, W) of each position given those before it."""

    def __init__(self, codes: int, channels: int, layers: int, kernel: int = 3):
        super().__init__()
        self.embed = nn.Embedding(codes, channels)
        self.layers = nn.ModuleList(GatedLayer(channels, kernel) for _ in range(layers))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(), nn.Conv2d(channels, codes, 1))

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        x = self.embed(index).permute(0, 3, 1, 2)  # (B, C, H, W)
        v = F.pad(x, (0, 0, 1, 0))[:, :, :-1]  # shifted down: row i holds row i - 1
        h = F.pad(x, (1, 0, 0, 0))[:, :, :, :-1]  # shifted right: (i, j) holds (i, j - 1)
        for layer in self.layers:
            v, h = layer(v, h)
        return self.head(h)

    def loss(self, index: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the codes (B, H, W) under the model, in nats per position."""
        return F.cross_entropy(self(index).float(), index)

    @torch.no_grad()
    def sample(self, n: int, shape: tuple[int, int], generator: torch.Generator | None = None,
               temperature: float = 1.0) -> torch.Tensor:
        """(n, H, W) code indices drawn in raster order, each from softmax(logits / temperature).
        Row i depends only on rows <= i, so each step runs the network on those rows alone."""
        device = self.embed.weight.device
        index = torch.zeros((n, *shape), dtype=torch.long, device=device)
        for i in range(shape[0]):
            for j in range(shape[1]):
                logits = self(index[:, : i + 1])[:, :, i, j].float()
                probs = torch.softmax(logits / temperature, dim=1).cpu()  # draws on the CPU generator
                index[:, i, j] = torch.multinomial(probs, 1, generator=generator).squeeze(1).to(device)
        return index
