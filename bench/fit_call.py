"""The whole `fit` call against its epochs: how much of a Python-API fit (and of an `aelab train`
run) is fixed overhead rather than training, beside the textbook loop's epochs, interleaved.

    python bench/fit_call.py [--epochs 3] [--reps 3] [--threads 2] [--limit N]

Every measurement is a fresh child process (imports excluded from every timing):
- textbook: bench/textbook.py's loop (DataLoader, shuffle), the loop alone;
- aelab VAE().fit / AE().fit: the whole call, and the sum of its epochs (history_ "seconds");
- aelab train: `train_run` as the CLI calls it (figures off), from loading the data to the last
  file written, and its epochs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import harness  # noqa: E402
from harness import column, median  # noqa: E402


def child(way: str, a) -> dict:
    import importlib

    import torch

    torch.set_num_threads(a.threads)
    importlib.import_module("torch._dynamo")  # imported by torch.optim on first use: not ours to count
    import fashion

    if way == "textbook":
        import textbook

        train, _ = fashion.load(a.limit)
        started = time.perf_counter()
        textbook.train("vae", train, a.epochs, 128, 1e-3)
        seconds = time.perf_counter() - started
        return {"call_s": seconds, "epochs_s": seconds, "n": len(train)}
    if way in ("VAE", "AE"):
        import aelab

        train, _ = fashion.load(a.limit)
        X = train[:, 0]  # (N, 28, 28) uint8, as a user would pass it
        estimator = getattr(aelab, way)(latent_dim=20, encoder_layers=[400], device="cpu")
        started = time.perf_counter()
        estimator.fit(X, epochs=a.epochs, batch_size=128, validation_split=0, patience=None)
        seconds = time.perf_counter() - started
        return {"call_s": seconds, "epochs_s": sum(r["seconds"] for r in estimator.history_), "n": len(X)}
    import tempfile

    from aelab.config import load_config
    from aelab.experiments.train_run import train_run

    config = load_config(None, [
        "data.dataset=fashion-mnist", "model.type=vae", "model.encoder_layers=[400]", "model.latent_dim=20",
        f"training.epochs={a.epochs}", "training.batch_size=128", "training.validation_split=0",
        "training.patience=null", "training.device=cpu"] + ([f"data.limit={a.limit}"] if a.limit else []))
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        metrics = train_run(config, Path(tmp) / "run", progress=False, figures=False)
        seconds = time.perf_counter() - started
    return {"call_s": seconds, "epochs_s": metrics["train_seconds"], "n": metrics["n_train"],
            "evaluation_s": metrics["evaluation_seconds"]}


WAYS = [("textbook loop (DataLoader, shuffle), epochs only", "textbook"),
        ("aelab VAE(...).fit(X) whole call", "VAE"),
        ("aelab AE(...).fit(X) whole call", "AE"),
        ("aelab train (train_run, figures off) whole call", "train_run")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--child")
    a = p.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a)))
        return
    print(f"bench/fit_call.py, {time.strftime('%Y-%m-%d %H:%M')} UTC, 784-400-20 on Fashion-MNIST "
          f"({a.limit or 60000:,} images), {a.epochs} epochs, batch 128, {a.threads} threads, {a.reps} reps; "
          f"load average before: {harness.load_average()}\n")
    options = ["--epochs", a.epochs, "--threads", a.threads] + (["--limit", a.limit] if a.limit else [])
    results = harness.interleave(
        {label: (lambda way=way: harness.fresh(harness.python(__file__, "--child", way, *options))) for label, way in WAYS},
        a.reps, report=lambda rep, label, r: harness.progress(
            f"  rep {rep + 1} {label}: call {r['call_s']:.2f} s, epochs {r['epochs_s']:.2f} s"))
    base = median(column(results[WAYS[0][0]], "call_s"))
    rows = []
    for label, rs in results.items():
        call, epochs = median(column(rs, "call_s")), median(column(rs, "epochs_s"))
        over = median(r["call_s"] - r["epochs_s"] for r in rs)
        share = median((r["call_s"] - r["epochs_s"]) / r["call_s"] for r in rs)
        rows.append([label, f"{call:.2f}", f"{epochs:.2f}", f"{over:.2f}", f"{100 * share:.1f}%",
                     f"{rs[0]['n'] * a.epochs / call:,.0f}", f"{base / call:.2f}x"])
    print(harness.table(["way", "whole call s", "epochs s", "fixed overhead s", "overhead share",
                         "whole-call samples/s", "whole call vs textbook epochs"], rows))
    print(f"\naelab train's fixed part includes loading the data set and evaluating train and test "
          f"(metrics.json); load average after: {harness.load_average()}")


if __name__ == "__main__":
    main()
