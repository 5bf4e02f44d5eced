"""CPU speed settings for the training loop, each scoped to `Trainer.fit` (measured in BENCHMARKS.md).

- denormal floats flushed to zero: Adam's second moments of tiny gradients fall below 1e-38,
  where some CPUs take dozens of cycles per operation; flushing changes values below 1e-38 only;
- one intra-op thread for small models: splitting a tiny op over threads costs more in
  synchronisation than it saves, and on a busy machine every op waits for a descheduled thread.
  A model with many parameters is not small even at a tiny batch: its step streams the weights,
  gradients and Adam's moments through memory, which two cores do faster than one (seed 004's
  13 M parameters at batch 2: 1.3x with 2 threads, bench/small_batch.py);
- keep_freed_memory(): glibc's allocator told to keep freed blocks (measured, not used by default);
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


# glibc's mallopt parameters (malloc.h). By default glibc adapts both thresholds as a program
# frees large blocks (mmap threshold = the largest freed mapped block up to 32 MiB, trim threshold
# twice that); any mallopt call ends that adaptation for good, and glibc has no getter.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's ceiling on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD_KEPT = 2**31 - 1  # the largest value mallopt's int takes: never trim inside the block
# After the block: where glibc's own adaptation ends up for blocks of up to 32 MiB. Not glibc's
# start values (128 KiB): fixed there, every later allocation above 128 KiB would be a fresh
# mapping faulted in page by page (a 1 MB elementwise op measured 16x slower).
AFTER = {M_MMAP_THRESHOLD: ("MALLOC_MMAP_THRESHOLD_", MMAP_THRESHOLD_MAX),
         M_TRIM_THRESHOLD: ("MALLOC_TRIM_THRESHOLD_", 2 * MMAP_THRESHOLD_MAX)}


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


def _after(param: int) -> int:
    env, value = AFTER[param]
    try:  # a setting the process was started with (MALLOC_*_) wins
        return int(os.environ.get(env, value))
    except ValueError:
        return value


@contextlib.contextmanager
def keep_freed_memory():
    """Inside the block, glibc keeps freed memory for the next allocation instead of returning it
    to the OS (a no-op where the C library is not glibc).

    glibc serves an allocation above its mmap threshold with a fresh mapping, unmapped on free,
    and trims the heap's top when more than its trim threshold is free there; a training step that
    frees and re-allocates tens of MB of gradients can then fault in thousands of fresh pages every
    step. Inside the block the mmap threshold is glibc's maximum (32 MiB) and the heap is never
    trimmed. On exit the heap is trimmed (`malloc_trim`) and the thresholds are left where glibc's
    own adaptation takes them for blocks up to 32 MiB (mmap 32 MiB, trim 64 MiB), or at the
    MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ values the process was started with.

    Not used by `Trainer.fit`: on seed 004's batch-2 MLP it made no measurable difference on our
    machine (glibc's adaptation already serves its 25 MB gradients from the heap; BENCHMARKS.md,
    bench/small_batch.py). It pays where a loop's large blocks keep being trimmed and mapped again.
    """
    libc = _glibc()
    if libc is None:
        yield
        return
    wanted = {M_MMAP_THRESHOLD: MMAP_THRESHOLD_MAX, M_TRIM_THRESHOLD: TRIM_THRESHOLD_KEPT}
    for param, value in wanted.items():
        libc.mallopt(param, value)
    try:
        yield
    finally:
        for param in wanted:
            libc.mallopt(param, _after(param))
        libc.malloc_trim(0)


# Below this many multiply-adds per step, splitting each op over threads costs more in
# synchronisation than it saves (and on a busy machine far more); one thread is faster.
SMALL_STEP_MACS = 32e6
# From this many parameters (32 MB of fp32 weights, as much as this CPU's whole L3 cache) a step is
# bound by memory traffic, not by op overhead, whatever its multiply-adds: threads pay.
LARGE_MODEL_PARAMETERS = 8_000_000


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
