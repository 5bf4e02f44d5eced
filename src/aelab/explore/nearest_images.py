"""The training images nearest to an image in pixel space (as `aelab generate --nearest` pairs
each sample with its nearest one): is a reconstruction or a sample a copy of what was learned?"""

from __future__ import annotations

import numpy as np
import torch

from aelab.explore.context import Context


@torch.no_grad()
def nearest_training(ctx: Context, image: np.ndarray, k: int = 5, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """One image (1, C, H, W) in [0, 1] -> (its k nearest training images (k, C, H, W) in [0, 1],
    their root-mean-square pixel distances (k,), nearest first)."""
    x = torch.from_numpy(image).flatten(1)
    train = ctx.train.images
    found_d, found_i = [], []
    for start in range(0, len(train), chunk):
        ref = torch.from_numpy(train[start:start + chunk])
        ref = (ref.float() / 255.0 if ref.dtype == torch.uint8 else ref.float()).flatten(1)
        d, i = torch.cdist(x, ref)[0].topk(min(k, len(ref)), largest=False)
        found_d.append(d)
        found_i.append(i + start)
    d, order = torch.cat(found_d).topk(min(k, len(train)), largest=False)
    index = torch.cat(found_i)[order].numpy()
    return ctx.train.subset(index).floats(), (d / np.sqrt(x.shape[1])).numpy()
