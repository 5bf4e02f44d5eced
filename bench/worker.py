"""One benchmark measurement in a fresh process: train one way, print one JSON line.

    python bench/worker.py aelab|textbook|pythae --model vae|conv [--epochs 5 --batch 128 ...]

A fresh process per measurement makes peak RSS (ru_maxrss) mean the same thing for every way.
`pythae` is run with the interpreter of the bench venv (see bench/run.py).
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

import fashion  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("way", choices=["aelab", "textbook", "pythae"])
    p.add_argument("--model", choices=["vae", "conv"], default="vae")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--hidden", type=int, default=400)
    p.add_argument("--latent", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--limit", type=int, default=None, help="training images (default: all 60k)")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--flush-denormal", action="store_true", help="textbook variant: denormals flushed to 0")
    a = p.parse_args()
    a.latent = a.latent or (20 if a.model == "vae" else 2)
    a.lr = a.lr or (1e-3 if a.model == "vae" else 1e-3)
    torch.set_num_threads(a.threads)
    importlib.import_module("torch._dynamo")  # torch.optim imports it on first use: a one-off cost, not timed
    if a.flush_denormal:
        torch.set_flush_denormal(True)
    train_images, test_images = fashion.load(a.limit)
    run = {"aelab": run_aelab, "textbook": run_textbook, "pythae": run_pythae}[a.way]
    test_loss = run(a, train_images, test_images)
    seconds = RESULT["trained"] - RESULT["started"]
    cpu_seconds = RESULT["trained_cpu"] - RESULT["started_cpu"]
    print(json.dumps({
        "way": a.way, "model": a.model, "precision": a.precision, "batch": a.batch, "hidden": a.hidden,
        "n_train": len(train_images), "epochs": a.epochs, "train_seconds": round(seconds, 3),
        "samples_per_s": round(len(train_images) * a.epochs / seconds, 1),
        "cpu_seconds": round(cpu_seconds, 3),  # less sensitive than wall time to a busy machine
        "test_loss": round(test_loss, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


RESULT: dict[str, float] = {}


def mark(what: str) -> None:
    """Timestamps around the measured part: model and data set-up plus training (imports excluded)."""
    RESULT[what], RESULT[what + "_cpu"] = time.perf_counter(), time.process_time()


def run_textbook(a, train_images, test_images) -> float:
    import textbook

    mark("started")
    model = textbook.train(a.model, train_images, a.epochs, a.batch, a.lr, a.hidden, a.latent, a.precision, a.seed)
    mark("trained")
    return textbook.test_loss(a.model, model, test_images)


def aelab_config(a):
    from aelab.config import load_config

    common = [f"training.epochs={a.epochs}", f"training.batch_size={a.batch}", f"training.learning_rate={a.lr}",
              "training.validation_split=0", "training.patience=null", f"training.precision={a.precision}",
              f"training.seed={a.seed}", "training.device=cpu", f"model.latent_dim={a.latent}"]
    if a.model == "vae":
        model = ["model.type=vae", f"model.encoder_layers=[{a.hidden}]", "model.activation=relu",
                 "model.reconstruction_loss=bce"]
    else:  # seed 002
        model = ["model.type=ae", "model.architecture=conv", "model.conv_channels=[8,16,32]",
                 "model.conv_dense=64", "model.activation=tanh", "model.reconstruction_loss=mse"]
    return load_config(None, common + model)


def run_aelab(a, train_images, test_images) -> float:
    from aelab.evaluate.metrics import objective
    from aelab.models import build_model
    from aelab.train.trainer import Trainer

    mark("started")
    config = aelab_config(a)
    model = build_model(config.model, train_images.shape[1:], seed=config.training.seed)
    trainer = Trainer(model, config, "cpu", progress=False)
    trainer.fit(torch.from_numpy(train_images))
    mark("trained")
    return objective(model, torch.from_numpy(test_images), seed=1)["loss"]


def run_pythae(a, train_images, test_images) -> float:
    import pythae_way

    mark("started")
    model = pythae_way.train(a, train_images)
    mark("trained")
    return pythae_way.test_loss(model, test_images)


if __name__ == "__main__":
    main()
