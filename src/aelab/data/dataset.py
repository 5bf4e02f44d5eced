"""ImageData: a whole dataset as one contiguous array, converted to float one batch at a time."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from aelab.data.ondisk import DiskImages


@dataclass
class ImageData:
    images: np.ndarray | DiskImages  # (N, C, H, W): uint8 in [0, 255], or float32 in [0, 1]
    labels: np.ndarray | None = None  # (N,) int64 indices into label_names
    label_names: list[str] | None = None
    name: str = "data"
    # Ground-truth generative factors when the dataset has them (dsprites): (N, K) int class
    # indices, one column per factor, named by factor_names; disentanglement metrics use them.
    factors: np.ndarray | None = None
    factor_names: list[str] | None = None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # (C, H, W)

    @property
    def binary(self) -> bool:
        """Every pixel is 0 or 1: pixel accuracy and wrong-pixel counts make sense."""
        top = 255 if self.images.dtype == np.uint8 else 1
        if isinstance(self.images, DiskImages):
            return self.images.all_in((0, top))
        return bool(np.isin(self.images, (0, top)).all())

    def subset(self, index: np.ndarray) -> "ImageData":
        labels = None if self.labels is None else self.labels[index]
        factors = None if self.factors is None else self.factors[index]
        if isinstance(self.images, DiskImages):  # a large split of a folder on disk: a view, no copy
            return replace(self, images=self.images.subset(index), labels=labels, factors=factors)
        return replace(self, images=np.ascontiguousarray(self.images[index]), labels=labels, factors=factors)

    def label_text(self, i: int) -> str:
        if self.labels is None:
            return ""
        return self.label_names[self.labels[i]] if self.label_names else str(self.labels[i])

    def tensor(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """The whole set on the device in its stored dtype (uint8 stays uint8: 4x less memory);
        a set on disk reads its batches when indexed."""
        if isinstance(self.images, DiskImages):
            return self.images.tensor(device)
        return torch.from_numpy(self.images).to(device)

    def floats(self) -> np.ndarray:
        return to_float(torch.from_numpy(self.images)).numpy()


def to_float(batch: torch.Tensor) -> torch.Tensor:
    """A batch as float32 in [0, 1]; the only conversion on the hot path."""
    if batch.dtype == torch.uint8:
        return batch.float().div_(255.0)
    return batch.float()


HUGE_PIXEL = 1e3  # images are scaled to [0, 1] (or standardised); a pixel this big is damaged data


def data_problem(images: torch.Tensor, what: str = "training", chunk: int = 4096) -> str | None:
    """Why `images` cannot be trained on (NaN, infinite or huge pixels), or None: asked when the
    loss stops being finite, so that damaged data is named as such, not blamed on the learning rate."""
    if not images.is_floating_point():
        return None  # uint8: 0-255 by construction
    bad, largest = 0, 0.0
    for batch in images.split(chunk):
        finite = torch.isfinite(batch)
        bad += int((~finite).flatten(1).any(1).sum())
        largest = max(largest, float(batch.nan_to_num(0.0, 0.0, 0.0).abs().max()) if batch.numel() else 0.0)
    if bad:
        return f"{bad} {what} image(s) hold NaN or infinite pixel values"
    if largest > HUGE_PIXEL:
        return f"{what} pixel values reach {largest:.3g} (images are scaled to [0, 1])"
    return None


def from_array(x, labels=None, name: str = "array", check_range: bool = True) -> ImageData:
    """Any image array (N, D), (N, H, W), (N, H, W, C) or (N, C, H, W) -> ImageData (N, C, H, W).
    `check_range=False` accepts any real values (models with an unbounded output and MSE/L1)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim == 2:
        x = x[:, None, None, :]  # vectors: one row of pixels
    elif x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)  # channels-last (NumPy / Pillow) to channels-first
    elif x.ndim != 4:
        raise ValueError(f"expected images of shape (N, D), (N, H, W) or (N, H, W, C); got {x.shape}")
    if x.dtype != np.uint8:
        x = x.astype(np.float32)
        lo, hi = float(x.min()), float(x.max())
        if check_range and (lo < 0 or hi > 1):
            raise ValueError(f"pixel values lie in [{lo:g}, {hi:g}]; scale them to [0, 1] "
                             "(or pass uint8 images in [0, 255])")
    y = None if labels is None else np.asarray(labels)
    if y is not None and (y.ndim != 1 or len(y) != len(x)):
        raise ValueError(f"labels: need one per image, a list of {len(x)}; got shape {y.shape}")
    if y is not None and y.dtype.kind in "iu" and len(y) and y.min() < 0:
        raise ValueError(f"labels: class numbers start at 0; got {y.min()}")
    names = None
    if y is not None and y.dtype.kind not in "iu":
        names, y = np.unique(y.astype(str), return_inverse=True)
        names = [str(n) for n in names]
    return ImageData(np.ascontiguousarray(x), None if y is None else y.astype(np.int64), names, name)
