"""CPU speed settings for the training loop, each scoped to `Trainer.fit` (measured in BENCHMARKS.md).

- denormal floats flushed to zero: Adam's second moments of tiny gradients fall below 1e-38,
  where some CPUs take dozens of cycles per operation; flushing changes values below 1e-38 only;
- one intra-op thread for small models: splitting a tiny op over threads costs more in
  synchronisation than it saves, and on a busy machine every op waits for a descheduled thread.
  A model with many parameters is not small even at a tiny batch: its step streams the weights,
  gradients and Adam's moments through memory, which two cores do faster than one (seed 004's
  13 M parameters at batch 2: 1.3x with 2 threads, bench/small_batch.py);
- whether bf16 runs in hardware, for `training.precision` (train/precision.py).
"""

from __future__ import annotations

import contextlib
import functools

import torch

from aelab.models.autoencoder import Autoencoder

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
