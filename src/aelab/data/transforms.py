"""Whole-array preprocessing done once at load: size, channels, binarisation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from aelab.data.dataset import ImageData, to_float


def conform(data: ImageData, size: tuple[int, int] | None, channels: int | None,
            mode: str = "pad") -> ImageData:
    """Resize to `size` (keeping the aspect by padding or centre-cropping, or stretching) and
    convert to `channels` (grey <-> RGB). No-op when the data already has that shape."""
    c, h, w = data.shape
    x = None
    if size is not None and tuple(size) != (h, w):
        x = to_float(torch.from_numpy(data.images))
        x = _resize(x, tuple(size), mode)
    if channels is not None and channels != c:
        x = to_float(torch.from_numpy(data.images)) if x is None else x
        if channels == 1:  # ITU-R 601 luma, as Pillow's convert("L")
            x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        else:
            x = x.expand(-1, 3, -1, -1)
    if x is None:
        return data
    images = x.clamp(0, 1).contiguous().numpy()  # not in place: x may be an expanded view
    if data.images.dtype == np.uint8:
        images = np.round(images * 255).astype(np.uint8)
    return replace(data, images=np.ascontiguousarray(images))


def _resize(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    h, w = x.shape[-2:]
    th, tw = size
    if mode == "stretch":
        return _interpolate(x, (th, tw))
    scale = min(th / h, tw / w) if mode == "pad" else max(th / h, tw / w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    x = _interpolate(x, (nh, nw))
    if mode == "pad":  # pad with the image's own background: its border colour (0 for digits)
        top, left = (th - nh) // 2, (tw - nw) // 2
        return F.pad(x, (left, tw - nw - left, top, th - nh - top), value=0.0)
    top, left = (nh - th) // 2, (nw - tw) // 2
    return x[..., top:top + th, left:left + tw]


def _interpolate(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    upscale = size[0] >= x.shape[-2] and size[1] >= x.shape[-1]
    if upscale:
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return F.interpolate(x, size=size, mode="area")


def binarize(data: ImageData) -> ImageData:
    top = 255 if data.images.dtype == np.uint8 else 1.0
    images = np.where(data.images >= top / 2, top, 0).astype(data.images.dtype)
    return replace(data, images=images)
