"""CPU speed settings for the training loop, each scoped to `Trainer.fit` (measured in BENCHMARKS.md).

- denormal floats flushed to zero: Adam's second moments of tiny gradients fall below 1e-38,
  where some CPUs take dozens of cycles per operation; flushing changes values below 1e-38 only;
- one intra-op thread for small models: splitting a tiny op over threads costs more in
  synchronisation than it saves, and on a busy machine every op waits for a descheduled thread;
- freed memory kept by the allocator (glibc): with small batches the big allocations of each step
  (a wide layer's gradient, tens of MB) are otherwise handed back to the OS when freed and
  faulted in again, page by page, at the next step;
- whether bf16 runs in hardware, for `training.precision` (train/precision.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import logging
import os

import torch

from aelab.models.autoencoder import Autoencoder

log = logging.getLogger("aelab")


@contextlib.contextmanager
def flush_denormals():
    """Treat denormal floats as zero inside the block (a no-op where the CPU cannot)."""
    supported = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if supported:
            torch.set_flush_denormal(False)


@contextlib.contextmanager
def intra_op_threads(n: int | None):
    """Use `n` threads inside the block (None: leave the setting alone)."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# glibc's mallopt parameters (malloc.h) and its defaults (mallopt(3)); glibc has no getter, so a
# setting made with the MALLOC_*_ environment variables is read from there.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
GLIBC_DEFAULTS = {M_TRIM_THRESHOLD: ("MALLOC_TRIM_THRESHOLD_", 128 * 1024),
                  M_MMAP_THRESHOLD: ("MALLOC_MMAP_THRESHOLD_", 128 * 1024)}
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc refuses more on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD_KEPT = 2**31 - 1  # the largest value mallopt's int takes: never trim during the block


@functools.lru_cache(maxsize=1)
def _glibc():
    """glibc's C library (for mallopt, malloc_trim), or None on musl, macOS, Windows."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is None or not hasattr(libc, "mallopt") or not hasattr(libc, "gnu_get_libc_version"):
            return None
    except OSError:
        return None
    libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    return libc


def _glibc_setting(param: int) -> int:
    env, default = GLIBC_DEFAULTS[param]
    try:
        return int(os.environ.get(env, default))
    except ValueError:
        return default


@contextlib.contextmanager
def keep_freed_memory():
    """Inside the block, glibc keeps freed memory for the next allocation instead of returning it
    to the OS (a no-op where the C library is not glibc).

    By default glibc serves each allocation above its mmap threshold with a fresh mmap and unmaps
    it on free, and trims the heap's top when more than 128 KiB are free there: a training step
    that frees and re-allocates a 25 MB gradient then faults in 6,000 fresh pages every step.
    Raising both thresholds (mmap to glibc's maximum, 32 MiB) made seed 004's batch-2 step 1.18x
    faster (BENCHMARKS.md, bench/small_batch.py). The price: memory freed inside the block stays
    with the process until it ends, where it is trimmed back (`malloc_trim`). On exit both
    settings return to glibc's defaults (or the MALLOC_TRIM_THRESHOLD_ / MALLOC_MMAP_THRESHOLD_
    values the process was started with: glibc cannot report its current settings); glibc's
    dynamic mmap threshold, which any explicit setting turns off, stays off.
    """
    libc = _glibc()
    if libc is None:
        yield
        return
    wanted = {M_MMAP_THRESHOLD: MMAP_THRESHOLD_MAX, M_TRIM_THRESHOLD: TRIM_THRESHOLD_KEPT}
    changed = [param for param, value in wanted.items() if libc.mallopt(param, value) == 1]
    try:
        yield
    finally:
        for param in changed:
            libc.mallopt(param, _glibc_setting(param))
        libc.malloc_trim(0)


# Below this many multiply-adds per step, splitting each op over threads costs more in
# synchronisation than it saves (and on a busy machine far more); one thread is faster.
SMALL_STEP_MACS = 32e6


@torch.no_grad()
def step_macs(model: Autoencoder, batch_size: int) -> float:
    """Multiply-adds of one forward over a batch: each weight times the positions it is applied at."""
    macs = 0.0

    def count(layer, inputs, output):
        nonlocal macs
        if isinstance(layer, torch.nn.Linear):
            macs += layer.weight.numel()
        else:  # a conv applies its kernel at each output position, a transposed one at each input's
            where = inputs[0] if isinstance(layer, torch.nn.ConvTranspose2d) else output
            macs += layer.weight.numel() * where.shape[-2] * where.shape[-1]

    kinds = (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d)
    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, kinds)]
    was_training = model.training
    model.eval()  # in training mode, BatchNorm would fold this probe into its running statistics
    try:
        device = next(model.parameters()).device
        x = torch.zeros(1, *model.input_shape, device=device)
        if getattr(model, "needs_labels", False):  # a conditional model maps an image with its label
            model(x, sample=False, labels=torch.zeros(1, dtype=torch.long, device=device))
        else:
            model(x, sample=False)
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return macs * batch_size


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 matrix products run in hardware (CUDA, or a CPU with AVX512-BF16 / AMX)."""
    return True if device.type != "cpu" else _cpu_has_bf16()


@functools.lru_cache(maxsize=1)
def _cpu_has_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:  # not Linux: cannot tell, so fp32 (never slower than emulated bf16)
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
