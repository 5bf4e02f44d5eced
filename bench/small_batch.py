"""Small batches: seed 004's MLP VAE (64x64x3 -> 512-256-128 -> 16, cosh before the output) at its
batch of 2, today's loop against the same loop with each change, every measurement a fresh process
(glibc's allocator settings cannot be undone within one), interleaved repetition by repetition.

    python bench/small_batch.py                   # 3 repetitions of every arm, 4 epochs each
    python bench/small_batch.py --reps 5 --epochs 6

Arms: the loop with 1 thread (what aelab picked for this step of few multiply-adds before) and with
2 threads (what it picks now for a model of >= 8 M parameters), each also inside
speed.keep_freed_memory() (glibc keeps freed blocks instead of returning them to the OS). Also printed: minor page
faults per step, and the floor the memory traffic of one step sets: the bytes every step must move
(weights read forward and backward, gradients written, fused Adam reading parameters, gradients and
both moments and writing parameters and moments) over the memory bandwidth measured here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARMS = {"1 thread (aelab's pick for this model before)": ("off", 1),
        "1 thread + keep_freed_memory()": ("on", 1),
        "2 threads (aelab's pick now: 13 M parameters)": ("off", 2),
        "2 threads + keep_freed_memory()": ("on", 2)}


def one(keep: str, threads: int, epochs: int) -> dict:
    import torch

    from aelab.config import load_config
    from aelab.data.prepare import prepare_data
    from aelab.models.registry import build_model
    from aelab.train.speed import keep_freed_memory
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
    load = os.getloadavg()
    print(f"# small batches (seed 004), {time.strftime('%Y-%m-%d %H:%M')} UTC, {os.cpu_count()} CPUs, "
          f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    started = time.time()
    arms = {k: v for k, v in ARMS.items() if not a.arms or any(w in k for w in a.arms)}
    results: dict[str, list[dict]] = {k: [] for k in arms}
    for rep in range(a.reps):
        for label, (keep, threads) in arms.items():
            done = subprocess.run([sys.executable, "-W", "ignore", __file__, "--epochs", str(a.epochs), "--one", keep,
                                   str(threads)], capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(done.stderr[-2000:])
            r = json.loads(done.stdout.strip().splitlines()[-1])
            results[label].append(r)
            print(f"  rep {rep + 1}/{a.reps} {label}: {r['samples_per_s']:.1f} samples/s, "
                  f"{r['faults_per_step']:.0f} page faults/step", file=sys.stderr)
    base = statistics.median(r["samples_per_s"] for r in results[next(iter(arms))])
    r0 = results[next(iter(arms))][0]
    print(f"seed 004's config: {r0['params']:,} parameters, batch {r0['batch']}, {r0['n_train']} training "
          f"emojis (examples/emojis), {a.epochs} epochs (the first not timed)\n")
    print("| way | samples/s, median (min-max) | vs 1 thread | page faults per step |")
    print("|---|---|---|---|")
    for label, rs in results.items():
        s = [r["samples_per_s"] for r in rs]
        print(f"| {label} | {statistics.median(s):.1f} ({min(s):.1f}-{max(s):.1f}) | {statistics.median(s) / base:.2f}x "
              f"| {statistics.median(r['faults_per_step'] for r in rs):,.0f} |")
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
    load = os.getloadavg()
    print(f"\nTotal {time.time() - started:.0f} s; load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
