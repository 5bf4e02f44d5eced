"""The training images nearest to an image in pixel space (as `aelab generate --nearest` pairs
each sample with its nearest one): is a reconstruction or a sample a copy of what was learned?"""

from __future__ import annotations

import numpy as np

from aelab.evaluate.sample_quality import nearest
from aelab.explore.context import Context


def nearest_training(ctx: Context, image: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """One image (1, C, H, W) in [0, 1] -> (its k nearest training images (k, C, H, W) in [0, 1],
    their root-mean-square pixel distances (k,), nearest first)."""
    index, rms = nearest(image, ctx.train.images, k=k)
    return ctx.train.subset(index[0]).floats(), rms[0]
