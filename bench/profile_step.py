"""Where one training step's time goes: aelab's step against the textbook loop's, on the
benchmark's 784-400-20 VAE, batch 128, profiled with torch.profiler, plus the floor: the step's
six large matrix products timed alone.

    python bench/profile_step.py [--steps 150] [--threads 2] [--precision fp32|bf16]

Prints per-step milliseconds by operator group (self CPU time), for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

import fashion  # noqa: E402

GROUPS = [  # (group, substrings of operator names), first match wins
    ("matrix products (mm, addmm)", ("aten::mm", "aten::addmm", "aten::linear", "aten::matmul", "mkldnn")),
    ("optimizer (Adam)", ("adam", "_foreach", "aten::lerp", "aten::addcmul", "aten::addcdiv", "aten::sqrt")),
    ("loss (BCE, KL)", ("binary_cross_entropy", "aten::exp", "aten::sum", "aten::mean", "aten::pow", "aten::square")),
    ("activations (relu, sigmoid)", ("relu", "threshold", "sigmoid")),
    ("batch: index, collate, convert", ("index", "aten::stack", "aten::cat", "aten::to", "_to_copy", "copy_", "div")),
    ("random draws (z)", ("randn", "normal", "randperm")),
    ("gradient bookkeeping (zero_grad, accumulate)", ("zero_", "fill_", "aten::add", "aten::mul", "empty", "detach")),
]


def group_of(name: str) -> str:
    low = name.lower()
    for group, keys in GROUPS:
        if any(k.lower() in low for k in keys):
            return group
    return "other operators"


def aelab_steps(train, steps: int, precision: str):
    from aelab.config import load_config
    from aelab.models.registry import build_model

    def build(config, shape):
        return build_model(config.model, tuple(shape), seed=config.training.seed)
    from aelab.train.trainer import Trainer

    config = load_config(None, ["model.type=vae", "model.encoder_layers=[400]", "model.latent_dim=20",
                                f"training.epochs=1", "training.batch_size=128", "training.validation_split=0",
                                "training.patience=null", f"training.precision={precision}", "training.device=cpu"])
    trainer = Trainer(build(config, train.shape[1:]), config, "cpu", progress=False)
    data = torch.from_numpy(train[:128 * steps])
    return lambda: trainer.fit(data) if not setattr(trainer.state, "epoch", 0) else None


def textbook_steps(train, steps: int, precision: str):
    import textbook

    images = train[:128 * steps]
    return lambda: textbook.train("vae", images, 1, 128, 1e-3, precision=precision)


def floor_steps(steps: int):
    """The six large products of a step (forward, and the two of backward, for 784x400 and 400x784)."""
    x, h = torch.randn(128, 784), torch.randn(128, 400)
    w1, w4 = torch.randn(400, 784), torch.randn(784, 400)
    g_h, g_out = torch.randn(128, 400), torch.randn(128, 784)

    def run():
        for _ in range(steps):
            x @ w1.T, g_h @ w1, g_h.T @ x  # encoder: forward, input grad (unused by the loop), weight grad
            h @ w4.T, g_out @ w4, g_out.T @ h  # decoder
    return run


def profiled(run, steps: int) -> tuple[float, dict[str, float]]:
    run()  # warm-up: oneDNN primitives, first-use imports
    started = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    wall = (time.perf_counter() - started) / steps * 1e3
    groups: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        if event.key.startswith(("aten::", "mkldnn", "Optimizer", "autograd", "Torch")) or "adam" in event.key.lower():
            groups[group_of(event.key)] += event.self_cpu_time_total / 1e3 / steps
    return wall, dict(groups)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    train, _ = fashion.load(128 * a.steps)
    load = os.getloadavg()
    print(f"bench/profile_step.py, {time.strftime('%Y-%m-%d %H:%M')} UTC, {a.steps} steps of 128, {a.precision}, "
          f"{a.threads} threads, CPU capability {torch.backends.cpu.get_cpu_capability()}; load average before: "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    ways = {"textbook": textbook_steps(train, a.steps, a.precision), "aelab": aelab_steps(train, a.steps, a.precision)}
    results = {name: profiled(run, a.steps) for name, run in ways.items()}
    floor = floor_steps(a.steps)
    floor()
    started = time.perf_counter()
    floor()
    floor_ms = (time.perf_counter() - started) / a.steps * 1e3
    names = [g for g, _ in GROUPS] + ["other operators"]
    print("| per step of 128, ms (self CPU time) | textbook | aelab |")
    print("|---|---|---|")
    for g in names:
        print(f"| {g} | {results['textbook'][1].get(g, 0):.2f} | {results['aelab'][1].get(g, 0):.2f} |")
    for name in ("textbook", "aelab"):
        results[name] = (results[name][0], sum(results[name][1].values()))
    print(f"| sum of operators (self CPU, all threads' work on the calling thread) | {results['textbook'][1]:.2f} "
          f"| {results['aelab'][1]:.2f} |")
    print(f"| **wall time per step, profiled** | {results['textbook'][0]:.2f} | {results['aelab'][0]:.2f} |")
    print(f"\nFloor: the six 784x400 matrix products alone, fp32: {floor_ms:.2f} ms per step, so no fp32 loop "
          f"can beat the textbook step by more than {results['textbook'][0] / floor_ms:.2f}x here; aelab's step is "
          f"{results['textbook'][0] / results['aelab'][0]:.2f}x the textbook's (profiled: the profiler adds ~1-2 us per op).")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
