"""fp32 against bf16 autocast per model type, side by side in one process: training speed and
the test loss after the same epochs (the evidence for what `training.precision: auto` picks).

    python bench/precision.py [--limit 20000] [--epochs 2] [--reps 2] [--threads 2]

Each repetition trains every (model, precision) pair once, in turn, so a busy phase of the
machine hits all of them. Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

import fashion  # noqa: E402
import harness  # noqa: E402

MODELS = {  # label -> config overrides
    "MLP VAE 784-400-20": ["model.type=vae", "model.encoder_layers=[400]", "model.latent_dim=20"],
    "MLP AE 784-400-20": ["model.type=ae", "model.encoder_layers=[400]", "model.latent_dim=20"],
    "MLP VAE 784-1600-20": ["model.type=vae", "model.encoder_layers=[1600]", "model.latent_dim=20"],
    "small MLP VAE 784-64-2": ["model.type=vae", "model.encoder_layers=[64]", "model.latent_dim=2"],
    "conv AE (seed 002)": ["model.type=ae", "model.architecture=conv", "model.conv_channels=[8,16,32]",
                           "model.conv_dense=64", "model.activation=tanh", "model.reconstruction_loss=mse",
                           "model.latent_dim=2"],
}


def train_once(overrides: list[str], precision: str, a, train, test) -> dict:
    from aelab.config import load_config
    from aelab.evaluate.metrics import objective
    from aelab.models.registry import build_model

    def build(config, shape):
        return build_model(config.model, tuple(shape), seed=config.training.seed)
    from aelab.train.speed import step_macs
    from aelab.train.trainer import Trainer

    config = load_config(None, overrides + [
        f"training.epochs={a.epochs}", "training.batch_size=128", "training.validation_split=0",
        "training.patience=null", f"training.precision={precision}", "training.device=cpu",
        f"training.threads={a.threads}"])
    model = build(config, train.shape[1:])
    trainer = Trainer(model, config, "cpu", progress=False)
    _, seconds, cpu = harness.timed(lambda: trainer.fit(train))
    return {"samples_per_s": len(train) * a.epochs / seconds, "cpu_s": cpu,
            "test_loss": objective(model, test, seed=1)["loss"], "macs": step_macs(model, 128)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated labels")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    train, test = (torch.from_numpy(x) for x in fashion.load(a.limit))
    labels = [m for m in a.models.split(",") if m]
    print(f"bench/precision.py, {time.strftime('%Y-%m-%d %H:%M')} UTC, {a.limit:,} Fashion-MNIST images, "
          f"{a.epochs} epochs, batch 128, {a.threads} threads, {a.reps} reps; load average before: "
          f"{harness.load_average()}\n")
    # Every other repetition in reverse order: neither precision of a model always trains first.
    results = harness.interleave(
        {(m, p): (lambda m=m, p=p: train_once(MODELS[m], p, a, train, test)) for m in labels for p in ("fp32", "bf16")},
        a.reps, alternate=True, report=lambda rep, key, r: harness.progress(
            f"  rep {rep + 1} {key[0]} {key[1]}: {r['samples_per_s']:,.0f} samples/s, "
            f"CPU {r['cpu_s']:.1f} s, test loss {r['test_loss']:.3f}"))
    def med(rs, k):
        return harness.median(harness.column(rs, k))

    rows = []
    for m in labels:
        f, b = results[m, "fp32"], results[m, "bf16"]
        rows.append([m, f"{f[0]['macs'] / 1e6:.0f}", f"{med(f, 'samples_per_s'):,.0f}", f"{med(b, 'samples_per_s'):,.0f}",
                     f"{med(b, 'samples_per_s') / med(f, 'samples_per_s'):.2f}x", f"{med(f, 'cpu_s') / med(b, 'cpu_s'):.2f}x",
                     f"{med(f, 'test_loss'):.2f}", f"{med(b, 'test_loss'):.2f}",
                     f"{100 * (med(b, 'test_loss') / med(f, 'test_loss') - 1):+.2f}%"])
    print(harness.table(["model", "M multiply-adds per step", "fp32 samples/s", "bf16 samples/s", "bf16 / fp32 (wall)",
                         "bf16 / fp32 (CPU s)", "test loss fp32", "test loss bf16", "loss change"], rows))
    print(f"\nload average after: {harness.load_average()}")


if __name__ == "__main__":
    main()
