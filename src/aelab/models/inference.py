"""Batched, gradient-free use of a trained model on arrays: encode, decode, reconstruct."""

from __future__ import annotations

import numpy as np
import torch

from aelab.data.dataset import to_float
from aelab.models.autoencoder import Autoencoder


def _device(model: Autoencoder) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def encode(model: Autoencoder, images, batch_size: int = 2048) -> np.ndarray:
    """(N, C, H, W) uint8 or float images -> (N, latent_dim) codes (posterior means for VAEs)."""
    # batch by batch from whatever holds the images (arrays, tensors, MappedImages on disk)
    out = [model.encode(to_float(torch.as_tensor(images[i:i + batch_size])).to(_device(model)))[0]
           for i in range(0, len(images), batch_size)]
    return torch.cat(out).float().cpu().numpy()


@torch.no_grad()
def decode(model: Autoencoder, z, batch_size: int = 2048) -> np.ndarray:
    """(N, latent_dim) codes -> (N, C, H, W) images in the data's range."""
    z = torch.as_tensor(np.asarray(z, dtype=np.float32))
    out = [model.decode(z[i:i + batch_size].to(_device(model))) for i in range(0, len(z), batch_size)]
    return torch.cat(out).float().cpu().numpy()


def reconstruct(model: Autoencoder, images, batch_size: int = 2048) -> np.ndarray:
    return decode(model, encode(model, images, batch_size), batch_size)
