"""Fashion-MNIST straight from its IDX gz files (numpy + gzip), so the benchmark depends on no
loader of the code it measures. Images come back as (N, 1, 28, 28) uint8."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

ROOT = Path(os.environ.get("FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))


def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path) as f:
        raw = f.read()
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load(limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) images; `limit` keeps the first `limit` training images."""
    train = read_idx(ROOT / "train-images-idx3-ubyte.gz")[:limit, None]
    test = read_idx(ROOT / "t10k-images-idx3-ubyte.gz")[:, None]
    return np.ascontiguousarray(train), np.ascontiguousarray(test)
