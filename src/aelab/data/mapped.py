"""MappedImages: a uint8 image array (N, C, H, W) that stays in its .npy file on disk.

For image folders larger than memory (data/cache.py decides when). Batches are read through a
read-only memory map; every READ_WINDOW bytes read, the map's pages are dropped from the process
(madvise DONTNEED), so its resident memory stays bounded however large the file is: resident
memory counts every mapped page a process has touched, even clean file-backed ones. The
kernel's page cache keeps the pages for the next epoch when memory allows, so a folder that fits
trains from RAM at nearly in-memory speed, and one that does not reads from disk.

A large subset (a split, a fold) is a view: the parent file plus an index of rows, never a
copy; a small one (the few images a figure shows) is read into memory.
Training and evaluation reach it through `tensor()`, which indexes like the in-memory tensor
the trainer is given otherwise (len, integer-tensor or slice indexing, `.to(device)`, `.device`).
"""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
import torch

# Bytes copied out between two drops of the mapped pages. A read fault maps the pages around the
# one asked for too (fault-around, up to 64 KB), so random 12 KB rows can leave several times the
# bytes copied resident: measured ~0.5 GB of RSS after 50 MB of random rows of a 12 GB file.
READ_WINDOW = 32 << 20
SMALL_SUBSET = 64 << 20  # a subset up to this size is read into memory (figures pick a few images)


class MappedImages:
    def __init__(self, path: str | Path, rows: np.ndarray | None = None, _file: np.memmap | None = None):
        self.path = Path(path)
        self._file = np.load(self.path, mmap_mode="r") if _file is None else _file
        raw = getattr(self._file, "_mmap", None)
        if _file is None and raw is not None and hasattr(mmap, "MADV_RANDOM"):
            raw.madvise(mmap.MADV_RANDOM)  # batches are random rows: no read-ahead of their neighbours
        self.rows = rows  # None: every row of the file, else int64 indices into it
        self._read_since_drop = 0

    # ------------------------------------------------------------------- array-like metadata
    def __len__(self) -> int:
        return len(self._file) if self.rows is None else len(self.rows)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self._file.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self._file.dtype

    @property
    def ndim(self) -> int:
        return self._file.ndim

    @property
    def nbytes(self) -> int:
        return len(self) * self._file[0].nbytes if len(self._file) else 0

    # ------------------------------------------------------------------------------ reading
    def view(self, index) -> "MappedImages":
        """Rows `index` (integers, a slice or a boolean mask) as a view on the same file: no copy."""
        positions = self._positions(index)
        rows = positions if self.rows is None else self.rows[positions]
        return MappedImages(self.path, rows.astype(np.int64), self._file)

    def subset(self, index) -> "MappedImages | np.ndarray":
        """Rows `index`: a view when large (a split), an in-memory array up to SMALL_SUBSET bytes."""
        view = self.view(index)
        return view if view.nbytes > SMALL_SUBSET else np.asarray(view)

    def __getitem__(self, index) -> np.ndarray:
        """An in-memory copy of the rows asked for: an int, a slice, integers or a boolean mask."""
        if isinstance(index, (int, np.integer)):
            return self._rows(np.array([range(len(self))[index]]))[0]
        return self._rows(self._positions(index))

    def _positions(self, index) -> np.ndarray:
        if isinstance(index, slice):
            return np.arange(*index.indices(len(self)))
        if isinstance(index, torch.Tensor):
            index = index.cpu().numpy()
        index = np.asarray(index)
        if index.dtype == bool:
            return np.flatnonzero(index)
        if len(index) and (index.min() < -len(self) or index.max() >= len(self)):
            raise IndexError(f"row index out of range for {len(self)} images")
        return np.where(index < 0, index + len(self), index)

    def _rows(self, index: np.ndarray) -> np.ndarray:
        where = index if self.rows is None else self.rows[index]
        if isinstance(where, np.ndarray) and len(where) > 1 and np.any(np.diff(where) < 0):
            order = np.argsort(where, kind="stable")  # read in file order, hand back in the order asked
            out = np.empty((len(where), *self._file.shape[1:]), self._file.dtype)
            out[order] = self._file[where[order]]
        else:
            out = np.array(self._file[where])
        self._read_since_drop += out.nbytes
        if self._read_since_drop >= READ_WINDOW:
            self.drop_pages()
        return out

    def drop_pages(self) -> None:
        """Let go of every mapped page this process holds (they stay in the page cache)."""
        self._read_since_drop = 0
        raw = getattr(self._file, "_mmap", None)
        if raw is not None and hasattr(raw, "madvise"):
            raw.madvise(mmap.MADV_DONTNEED)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """The whole array in memory (for code that needs one; avoided on the training path)."""
        out = np.empty(self.shape, self.dtype)
        step = max(1, READ_WINDOW // max(1, self._file[0].nbytes)) if len(self._file) else 1
        for start in range(0, len(self), step):
            out[start:start + step] = self[start:start + step]
        return out if dtype is None else out.astype(dtype)

    def all_in(self, values: tuple) -> bool:
        """Every pixel is one of `values` (read chunk by chunk; stops at the first that is not)."""
        step = max(1, READ_WINDOW // max(1, self._file[0].nbytes)) if len(self._file) else 1
        return all(np.isin(self[start:start + step], values).all() for start in range(0, len(self), step))

    def tensor(self, device: torch.device | str = "cpu") -> "MappedTensor":
        return MappedTensor(self, torch.device(device))


class MappedTensor:
    """What the trainer and the evaluation index: batches come out as uint8 tensors on `device`
    (through pinned memory on a GPU, so the copy overlaps the computation)."""

    def __init__(self, images: MappedImages, device: torch.device):
        self.images = images
        self.device = device
        self.dtype = torch.uint8

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> torch.Size:
        return torch.Size(self.images.shape)

    def to(self, device) -> "MappedTensor":
        return MappedTensor(self.images, torch.device(device))

    def __getitem__(self, index) -> torch.Tensor:
        batch = torch.from_numpy(self.images[index])
        if self.device.type == "cuda":
            return batch.pin_memory().to(self.device, non_blocking=True)
        return batch.to(self.device)
