"""Training-time augmentation of image batches: random horizontal flips and small shifts.

Both work on a whole batch at once (one `where`, one gather): no Python per image. A shifted image
repeats its edge pixels into the gap (the background, for emojis and centred photos). The
autoencoder then reconstructs the augmented image, so augmentation widens what it learns to
encode without changing the objective.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def augment(x: torch.Tensor, flip: bool, shift: int, generator: torch.Generator) -> torch.Tensor:
    """x (B, C, H, W) float -> the same shape, each image flipped with probability 1/2 (`flip`)
    and moved by up to `shift` pixels in each direction."""
    if flip:
        mirrored = torch.rand(len(x), 1, 1, 1, generator=generator, device=x.device) < 0.5
        x = torch.where(mirrored, x.flip(-1), x)
    if shift > 0:
        x = random_shift(x, shift, generator)
    return x


def random_shift(x: torch.Tensor, shift: int, generator: torch.Generator) -> torch.Tensor:
    b, _, h, w = x.shape
    padded = F.pad(x, (shift, shift, shift, shift), mode="replicate")
    dy, dx = torch.randint(0, 2 * shift + 1, (2, b, 1), generator=generator, device=x.device)
    rows = (torch.arange(h, device=x.device) + dy)[:, :, None]  # (B, H, 1)
    cols = (torch.arange(w, device=x.device) + dx)[:, None, :]  # (B, 1, W)
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()
