"""The IDX format of the MNIST family (LeCun's): a 4-byte magic number, big-endian dimensions, then
the values. Read gzipped or raw, straight into one preallocated array, with the SHA-256 of the
decompressed bytes computed on the way (it identifies the content however it was compressed)."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

import numpy as np

from aelab.errors import AelabError

# The magic number's third byte: the values' type (big-endian, as the format says).
DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CHUNK = 1 << 22


MAX_NDIM = 16  # the format allows 255; numpy holds at most 64; the MNIST family has 1 or 3


def read_idx(path: str | Path, dtype=None, ndim: int | None = None) -> tuple[np.ndarray, str]:
    """(array, sha256 of the decompressed file). Raises AelabError for a file that is not
    complete, valid IDX: wrong magic number, too short or too long, or a broken gzip stream; and,
    when `dtype` or `ndim` are given, for values of another type or dimensions (checked in the
    header, before anything is allocated)."""
    path = Path(path)
    fix = f"delete {path} and provide the file again (aelab downloads it when online)"
    try:
        opener = gzip.open if is_gzip(path) else open
        with opener(path, "rb") as f:
            digest = hashlib.sha256()
            header = _read_exactly(f, 4, digest)
            if header is None or header[:2] != b"\0\0" or header[2] not in DTYPES or header[3] == 0:
                raise AelabError(f"{path} is not an IDX file (magic number {_hex(header)}, expected "
                                 f"00 00 <type> <ndim>); {fix}")
            found_ndim, found_dtype = header[3], np.dtype(DTYPES[header[2]])
            if found_ndim > MAX_NDIM or ndim is not None and found_ndim != ndim:
                raise AelabError(f"{path} has {found_ndim} dimensions, not {ndim or f'at most {MAX_NDIM}'}; {fix}")
            if dtype is not None and found_dtype.newbyteorder("=") != np.dtype(dtype):
                raise AelabError(f"{path} holds {found_dtype.newbyteorder('=')} values, not {np.dtype(dtype)}; {fix}")
            ndim = found_ndim
            dims_bytes = _read_exactly(f, 4 * ndim, digest)
            if dims_bytes is None:
                raise AelabError(f"{path} is truncated inside its header; {fix}")
            shape = tuple(int(d) for d in np.frombuffer(dims_bytes, dtype=">u4"))
            dtype = np.dtype(DTYPES[header[2]])
            _check_size(path, 4 + 4 * ndim + dtype.itemsize * int(np.prod(shape, dtype=object)), shape, fix)
            array = np.empty(shape, dtype=dtype)
            got = _read_into(f, array, digest)
            if got < array.nbytes:
                raise AelabError(f"{path} is truncated: {got} of the {array.nbytes} data bytes its "
                                 f"header announces for shape {shape}; {fix}")
            if f.read(1):
                raise AelabError(f"{path} is longer than its header announces (shape {shape}); {fix}")
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise AelabError(f"{path} is a broken gzip file ({e}); {fix}") from None
    except OSError as e:
        raise AelabError(f"cannot read {path}: {e.strerror or e}") from None
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("="))
    return array, digest.hexdigest()


def _check_size(path: Path, expected: int, shape: tuple, fix: str) -> None:
    """Compare the size the header announces with the file's before allocating anything: a
    damaged header may announce terabytes. Deflate shrinks data at most ~1032 times, which bounds
    what a gzip file can hold; its exact length is checked while reading."""
    size = path.stat().st_size
    limit = 1032 * size + 1024 if is_gzip(path) else size
    if expected > limit:
        raise AelabError(f"{path} is truncated: its header announces shape {shape} ({expected} bytes), "
                         f"more than the file holds; {fix}")
    if expected < size and not is_gzip(path):
        raise AelabError(f"{path} is longer than its header announces (shape {shape}, {expected} bytes, "
                         f"found {size}); {fix}")


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _read_exactly(f, n: int, digest) -> bytes | None:
    data = f.read(n)
    digest.update(data)
    return data if len(data) == n else None


def _read_into(f, array: np.ndarray, digest) -> int:
    """Fill `array`'s memory from `f` in chunks (no second copy of the data); bytes read."""
    view = memoryview(array.reshape(-1).view(np.uint8))
    done = 0
    while done < len(view):
        n = f.readinto(view[done:done + _CHUNK])
        if not n:
            break
        digest.update(view[done:done + n])
        done += n
    return done


def _hex(header: bytes | None) -> str:
    return "(none: the file has fewer than 4 bytes)" if not header else " ".join(f"{b:02x}" for b in header)
