"""The decoded cache of an image folder on disk: one .npy file of uint8 (N, C, H, W).

Decoding writes each image straight into the file through a memory map, so no process ever holds the
whole folder: a pool of worker processes (one per core) decodes chunks of files while the
parent shows a progress bar. Reading the cache back, a file that fits comfortably in memory is
read whole (the fastest training); a larger one stays on disk as DiskImages (data/ondisk.py),
whose batches are read from the file with bounded resident memory.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from aelab.data.ondisk import DiskImages

log = logging.getLogger("aelab")

CHUNK = 256  # files per task handed to a worker
PARALLEL_FROM = 512  # fewer files decode in this process (starting workers costs more)
IN_MEMORY_SHARE = 0.25  # caches up to this share of the available memory are read whole


def decode_into(path: Path, files: list[Path], shape: tuple[int, int, int],
                decode: Callable[[Path], np.ndarray], workers: int | None = None,
                desc: str = "decoding") -> dict[int, str]:
    """Decode `files` into a new .npy file at `path` of shape (len(files), *shape), one row per
    file; returns {row: reason} for the files that could not be decoded (their rows are zeros).
    `decode` must be picklable (a module-level function or a functools.partial of one)."""
    np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(len(files), *shape)).flush()
    tasks = [(path, decode, start, files[start:start + CHUNK]) for start in range(0, len(files), CHUNK)]
    if workers is None:
        workers = (os.cpu_count() or 1) if len(files) >= PARALLEL_FROM else 1
    workers = max(1, min(workers, len(tasks)))
    failures: dict[int, str] = {}
    with tqdm(total=len(files), desc=desc, unit="img", leave=False, disable=None) as bar:
        if workers == 1:
            results = map(_decode_chunk, tasks)
            for failed, n in results:
                failures.update(failed)
                bar.update(n)
        else:
            # fork: the workers start at once (spawn would import torch again in each); they only
            # decode images with Pillow and NumPy
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            with multiprocessing.get_context(method).Pool(workers, initializer=_worker_signals) as pool:
                for failed, n in pool.imap_unordered(_decode_chunk, tasks):
                    failures.update(failed)
                    bar.update(n)
    return failures


def _worker_signals() -> None:
    """Ctrl-C and SIGTERM are the parent's to handle (it stops the pool and says so in one line):
    a worker ignores Ctrl-C, which the terminal sends to it too, and dies quietly on SIGTERM,
    which the pool sends it when stopped (a forked worker would raise KeyboardInterrupt, the
    parent's SIGTERM handler, and print a traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _decode_chunk(task) -> tuple[dict[int, str], int]:
    path, decode, start, files = task
    out = np.load(path, mmap_mode="r+")
    failed = {}
    for i, file in enumerate(files):
        try:
            out[start + i] = decode(file)
        except Exception as e:  # Pillow raises many kinds for damaged files
            failed[start + i] = str(e).splitlines()[0] if str(e) else type(e).__name__
    out.flush()
    del out
    return failed, len(files)


def drop_rows(path: Path, rows: list[int]) -> None:
    """Rewrite the .npy file at `path` without `rows` (unreadable files), chunk by chunk."""
    source = np.load(path, mmap_mode="r")
    keep = np.setdiff1d(np.arange(len(source)), rows)
    part = path.with_name(path.name + ".compact")
    target = np.lib.format.open_memmap(part, mode="w+", dtype=source.dtype, shape=(len(keep), *source.shape[1:]))
    step = max(1, (64 << 20) // max(1, source[0].nbytes))
    for start in range(0, len(keep), step):
        target[start:start + step] = source[keep[start:start + step]]
    target.flush()
    del source, target
    os.replace(part, path)


def open_images(path: Path, in_memory: bool | None = None) -> np.ndarray | DiskImages:
    """The cached images: read whole into memory when they fit comfortably (`in_memory` None:
    up to IN_MEMORY_SHARE of the available memory), else left on disk (DiskImages)."""
    if in_memory is None:
        in_memory = path.stat().st_size <= IN_MEMORY_SHARE * available_memory()
    if in_memory:
        return np.load(path)
    images = DiskImages(path)
    log.info("%s holds %.1f GB of decoded images, more than fits comfortably in memory: training "
             "reads it from disk batch by batch", path, path.stat().st_size / 1e9)
    return images


def available_memory() -> int:
    """Bytes of memory available now: Linux's MemAvailable, capped by a cgroup (container)
    limit; elsewhere the physical memory."""
    found = []
    try:
        with open("/proc/meminfo") as f:
            found += [int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:")]
    except OSError:
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            found.append(int(limit))
    except OSError:
        pass
    if not found:
        try:
            found.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (ValueError, OSError, AttributeError):
            found.append(8 << 30)
    return min(found)
