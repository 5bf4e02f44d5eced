"""DiskImages: a uint8 image array (N, C, H, W) that stays in its .npy file on disk.

For image folders larger than memory (data/cache.py decides when). Batches are read from the file
with positional reads (pread, one per run of consecutive rows) into fresh arrays, through the
kernel's page cache: a folder that fits in RAM trains from the cache at nearly in-memory speed,
one that does not reads from disk, and the process's resident memory holds only the batches.
Not a memory map, although the decoders write the file through one: resident memory counts every
mapped page a process touches, and this kernel maps whole large folios on a fault, so reading
18 MB of random 12 KB rows through a map of a 3 GB file left 2 GB resident (measured).

A large subset (a split, a fold) is a view: the file plus an index of rows, never a copy; a small
one (the few images a figure shows) is read into memory. Training and evaluation reach it through
`tensor()`, which indexes like the in-memory tensor the trainer is given otherwise (len,
integer-tensor or slice indexing, `.to(device)`, `.device`).
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

import numpy as np
import torch

SMALL_SUBSET = 64 << 20  # a subset up to this size is read into memory (figures pick a few images)
CHUNK_BYTES = 64 << 20  # reads of the whole array go this much at a time


class _File:
    """An open .npy file: its layout, and positional reads of rows."""

    def __init__(self, path: Path):
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            self.shape, fortran, self.dtype = read_header(f)
            self.offset = f.tell()
        if fortran or not self.shape:
            raise ValueError(f"{path} is not a C-ordered array of images")
        self.row_bytes = math.prod(self.shape[1:]) * self.dtype.itemsize
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        self._lock = threading.Lock()  # for the seek + read fallback where there is no pread

    def read(self, rows: np.ndarray, out: np.ndarray) -> None:
        """Rows `rows` (ascending) into `out`, one read per run of consecutive rows."""
        flat = out.reshape(len(rows), -1).view(np.uint8)
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        for first, end in zip([0, *breaks.tolist()], [*breaks.tolist(), len(rows)]):
            self._read_into(memoryview(flat[first:end]).cast("B"), self.offset + int(rows[first]) * self.row_bytes)

    def _read_into(self, buffer: memoryview, offset: int) -> None:
        while len(buffer):
            if hasattr(os, "preadv"):
                got = os.preadv(self.fd, [buffer], offset)
            else:
                with self._lock:
                    os.lseek(self.fd, offset, os.SEEK_SET)
                    got = os.readv(self.fd, [buffer])
            if got <= 0:
                raise OSError(f"unexpected end of the image file at byte {offset}")
            buffer, offset = buffer[got:], offset + got

    def __del__(self):
        fd = getattr(self, "fd", None)
        if fd is not None:
            os.close(fd)


class DiskImages:
    def __init__(self, path: str | Path, rows: np.ndarray | None = None, _file: _File | None = None):
        self.path = Path(path)
        self._file = _File(self.path) if _file is None else _file
        self.rows = rows  # None: every row of the file, else int64 indices into it

    # ------------------------------------------------------------------- array-like metadata
    def __len__(self) -> int:
        return self._file.shape[0] if self.rows is None else len(self.rows)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self._file.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self._file.dtype

    @property
    def ndim(self) -> int:
        return len(self._file.shape)

    @property
    def nbytes(self) -> int:
        return len(self) * self._file.row_bytes

    # ------------------------------------------------------------------------------ reading
    def view(self, index) -> "DiskImages":
        """Rows `index` (integers, a slice or a boolean mask) as a view on the same file: no copy."""
        positions = self._positions(index)
        rows = positions if self.rows is None else self.rows[positions]
        return DiskImages(self.path, rows.astype(np.int64), self._file)

    def subset(self, index) -> "DiskImages | np.ndarray":
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
        out = np.empty((len(where), *self._file.shape[1:]), self._file.dtype)
        if len(where) > 1 and np.any(np.diff(where) < 0):
            order = np.argsort(where, kind="stable")  # read in file order, hand back in the order asked
            ordered = np.empty_like(out)
            self._file.read(where[order], ordered)
            out[order] = ordered
        elif len(where):
            self._file.read(where, out)
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """The whole array in memory (for code that needs one; avoided on the training path)."""
        out = np.empty(self.shape, self.dtype)
        step = max(1, CHUNK_BYTES // max(1, self._file.row_bytes))
        for start in range(0, len(self), step):
            out[start:start + step] = self[start:start + step]
        return out if dtype is None else out.astype(dtype)

    def all_in(self, values: tuple) -> bool:
        """Every pixel is one of `values` (read chunk by chunk; stops at the first that is not)."""
        step = max(1, CHUNK_BYTES // max(1, self._file.row_bytes))
        return all(np.isin(self[start:start + step], values).all() for start in range(0, len(self), step))

    def tensor(self, device: torch.device | str = "cpu") -> "DiskTensor":
        return DiskTensor(self, torch.device(device))


class DiskTensor:
    """What the trainer and the evaluation index: batches come out as uint8 tensors on `device`
    (through pinned memory on a GPU, so the copy overlaps the computation)."""

    def __init__(self, images: DiskImages, device: torch.device):
        self.images = images
        self.device = device
        self.dtype = torch.uint8

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> torch.Size:
        return torch.Size(self.images.shape)

    def to(self, device) -> "DiskTensor":
        return DiskTensor(self.images, torch.device(device))

    def __getitem__(self, index) -> torch.Tensor:
        batch = torch.from_numpy(self.images[index])
        if self.device.type == "cuda":
            return batch.pin_memory().to(self.device, non_blocking=True)
        return batch.to(self.device)
