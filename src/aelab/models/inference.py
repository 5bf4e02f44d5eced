"""Batched, gradient-free use of a trained model on arrays: encode, decode, reconstruct."""

from __future__ import annotations

import numpy as np
import torch

from aelab.data.dataset import to_float
from aelab.models.autoencoder import Autoencoder


def _device(model: Autoencoder) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def encode(model: Autoencoder, images, batch_size: int = 2048, labels=None) -> np.ndarray:
    """(N, C, H, W) uint8 or float images -> (N, latent_dim) codes (posterior means for VAEs).
    `labels`: class indices (N,) or class weights (N, K), for conditional models (a CVAE), which need them."""
    device = _device(model)

    def part(i):  # batch by batch from whatever holds the images (arrays, tensors, images on disk)
        batch = to_float(torch.as_tensor(images[i:i + batch_size])).to(device)
        if labels is None:
            return model.encode(batch)[0]
        return model.encode(batch, labels=_labels(labels, i, batch_size, device))[0]
    return torch.cat([part(i) for i in range(0, len(images), batch_size)]).float().cpu().numpy()


@torch.no_grad()
def decode(model: Autoencoder, z, batch_size: int = 2048, labels=None) -> np.ndarray:
    """(N, latent_dim) codes -> (N, C, H, W) images in the data's range; `labels` as in encode."""
    z = torch.as_tensor(np.asarray(z, dtype=np.float32))
    device = _device(model)
    def part(i):
        batch = z[i:i + batch_size].to(device)
        if labels is None:
            return model.decode(batch)
        return model.decode(batch, labels=_labels(labels, i, batch_size, device))
    return torch.cat([part(i) for i in range(0, len(z), batch_size)]).float().cpu().numpy()


def reconstruct(model: Autoencoder, images, batch_size: int = 2048, labels=None) -> np.ndarray:
    return decode(model, encode(model, images, batch_size, labels), batch_size, labels)


def _labels(labels, start: int, batch_size: int, device) -> torch.Tensor:
    part = np.asarray(labels)[start:start + batch_size]  # class indices (N,), or class weights (N, K)
    return torch.as_tensor(part, dtype=torch.long if part.ndim == 1 else torch.float32, device=device)
