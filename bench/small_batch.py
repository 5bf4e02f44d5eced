"""Small batches: seed 004's MLP VAE (64x64x3 -> 512-256-128 -> 16, cosh before the output) at its
batch of 2, today's loop against the same loop with each change, every measurement a fresh process
(glibc's allocator settings cannot be undone within one), interleaved repetition by repetition.

    python bench/small_batch.py                   # 3 repetitions of every arm, 4 epochs each
    python bench/small_batch.py --reps 5 --epochs 6

Arms: the loop with 1 thread (what aelab picked for this step of few multiply-adds before) and with
2 threads (what it picks now for a model of >= 8 M parameters), each also inside
keep_freed_memory() below (glibc keeps freed blocks instead of returning them to the OS). Also printed: minor page
faults per step, and the floor the memory traffic of one step sets: the bytes every step must move
(weights read forward and backward, gradients written, fused Adam reading parameters, gradients and
both moments and writing parameters and moments) over the memory bandwidth measured here.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import functools
import json
import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import harness  # noqa: E402
from harness import column, median, spread  # noqa: E402


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

    Measured here and not adopted in `Trainer.fit`: on seed 004's batch-2 MLP it made no
    measurable difference (glibc's adaptation already serves its 25 MB gradients from the heap;
    BENCHMARKS.md).
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
ARMS = {"1 thread (aelab's pick for this model before)": ("off", 1),
        "1 thread + keep_freed_memory()": ("on", 1),
        "2 threads (aelab's pick now: 13 M parameters)": ("off", 2),
        "2 threads + keep_freed_memory()": ("on", 2)}


def one(keep: str, threads: int, epochs: int) -> dict:
    import torch

    from aelab.config import load_config
    from aelab.data.prepare import prepare_data
    from aelab.models.registry import build_model
    from aelab.train.trainer import Trainer
    config = load_config(str(HERE.parent / "examples/seed004_emojis.json"), [
        f"data.path={HERE.parent / 'examples/emojis'}", f"training.epochs={epochs}", "training.patience=null",
        f"training.threads={threads}"])
    torch.set_num_threads(threads)
    train, _, _ = prepare_data(config)
    model = build_model(config.model, train.shape, seed=config.training.seed)
    marks = []

    def mark(trainer, row):
        marks.append((time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt, trainer.state.epoch))

    trainer = Trainer(model, config, "cpu", progress=False, callbacks=[mark])
    with keep_freed_memory() if keep == "on" else contextlib.nullcontext():
        trainer.fit(train.tensor())  # no validation pass: the training steps alone (timed and page faults)
    steps = -(-len(train) // config.training.batch_size)
    train_seconds = [r["seconds"] for r in trainer.state.history][1:]  # epoch 1 warms up
    faults = (marks[-1][1] - marks[0][1]) / (steps * (len(marks) - 1))
    params = sum(p.numel() for p in model.parameters())
    return {"samples_per_s": len(train) * len(train_seconds) / sum(train_seconds), "faults_per_step": faults,
            "params": params, "n_train": len(train), "batch": config.training.batch_size,
            "threads": torch.get_num_threads()}


def bandwidth(threads: int) -> float:
    """GB/s of a large copy (read + write), best of 5: what streaming Adam's state can reach."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.ones(64 * 2**20), torch.empty(64 * 2**20)  # 256 MB each, far beyond the caches
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        b.copy_(a)
        best = min(best, time.perf_counter() - started)
    return 2 * a.numel() * 4 / best / 1e9


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--arms", nargs="+", help="only the arms whose label contains one of these words")
    p.add_argument("--one", nargs=2, metavar=("KEEP", "THREADS"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        print(json.dumps(one(a.one[0], int(a.one[1]), a.epochs)))
        return
    print(f"# small batches (seed 004), {time.strftime('%Y-%m-%d %H:%M')} UTC, {os.cpu_count()} CPUs, "
          f"load average before: {harness.load_average()}\n")
    started = time.time()
    arms = {k: v for k, v in ARMS.items() if not a.arms or any(w in k for w in a.arms)}
    results = harness.interleave(
        {label: (lambda keep=keep, threads=threads: harness.fresh(
            harness.python(__file__, "--epochs", a.epochs, "--one", keep, threads))) for label, (keep, threads) in arms.items()},
        a.reps, report=lambda rep, label, r: harness.progress(
            f"  rep {rep + 1}/{a.reps} {label}: {r['samples_per_s']:.1f} samples/s, "
            f"{r['faults_per_step']:.0f} page faults/step"))
    base = median(column(results[next(iter(arms))], "samples_per_s"))
    r0 = results[next(iter(arms))][0]
    print(f"seed 004's config: {r0['params']:,} parameters, batch {r0['batch']}, {r0['n_train']} training "
          f"emojis (examples/emojis), {a.epochs} epochs (the first not timed)\n")
    print(harness.table(["way", "samples/s, median (min-max)", "vs 1 thread", "page faults per step"],
                        [[label, spread(column(rs, "samples_per_s"), ".1f"),
                          f"{median(column(rs, 'samples_per_s')) / base:.2f}x",
                          f"{median(column(rs, 'faults_per_step')):,.0f}"] for label, rs in results.items()]))
    # The floor: bytes one step must move through memory (the weights do not fit in the caches).
    params = r0["params"]
    moved = params * 4 * (1 + 1 + 1 + 7)  # forward read, backward read, gradient write, Adam 4 reads + 3 writes
    print(f"\nMemory traffic per step: {params:,} parameters x 4 bytes x 10 passes (forward read, backward "
          f"read, gradient write, Adam's 4 reads + 3 writes) = {moved / 1e6:.0f} MB")
    for threads in (1, 2):
        gbs = bandwidth(threads)
        steps = gbs * 1e9 / moved
        print(f"- copy bandwidth with {threads} thread(s): {gbs:.1f} GB/s -> at most {steps:.0f} steps/s = "
              f"{steps * r0['batch']:.0f} samples/s at batch {r0['batch']}")
    print(f"\nTotal {time.time() - started:.0f} s; load average after: {harness.load_average()}")


if __name__ == "__main__":
    main()
