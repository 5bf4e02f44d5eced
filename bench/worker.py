"""One benchmark measurement in a fresh process: train one way, print one JSON line.

    python bench/worker.py aelab|textbook|pythae --model vae|conv [--epochs 5 --batch 128 ...]
    torchrun --nproc-per-node 2 bench/worker.py aelab ...   # aelab under DDP (rank 0 prints)

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
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="fp32")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
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
    if RESULT.get("rank", 0) != 0:
        return
    seconds = RESULT["trained"] - RESULT["started"]
    cpu_seconds = RESULT["trained_cpu"] - RESULT["started_cpu"]
    print(json.dumps({
        "way": a.way, "model": a.model, "precision": a.precision, "ran_in": RESULT.get("ran_in", a.precision),
        "device": a.device, "processes": RESULT.get("world", 1), "batch": a.batch, "hidden": a.hidden,
        "n_train": len(train_images), "epochs": a.epochs, "train_seconds": round(seconds, 3),
        "samples_per_s": round(len(train_images) * a.epochs / seconds, 1),
        "cpu_seconds": round(cpu_seconds, 3),  # less sensitive than wall time to a busy machine
        "test_loss": round(test_loss, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_device_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if a.device == "cuda" else None,
    }))


RESULT: dict[str, float] = {}


def mark(what: str, device: str = "cpu") -> None:
    """Timestamps around the measured part: model and data set-up plus training (imports excluded);
    on a GPU after the queued work has finished."""
    if device == "cuda":
        torch.cuda.synchronize()
    RESULT[what], RESULT[what + "_cpu"] = time.perf_counter(), time.process_time()


def run_textbook(a, train_images, test_images) -> float:
    import textbook

    mark("started")
    model = textbook.train(a.model, train_images, a.epochs, a.batch, a.lr, a.hidden, a.latent, a.precision, a.seed,
                           a.device)
    mark("trained", a.device)
    return textbook.test_loss(a.model, model.cpu(), test_images)


def aelab_config(a):
    from aelab.config import load_config

    common = [f"training.epochs={a.epochs}", f"training.batch_size={a.batch}", f"training.learning_rate={a.lr}",
              "training.validation_split=0", "training.patience=null", f"training.precision={a.precision}",
              f"training.seed={a.seed}", f"training.device={a.device}", f"model.latent_dim={a.latent}"]
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

    from aelab.train import distributed

    context = distributed.setup(a.device) if distributed.launched_by_torchrun() else None
    mark("started")
    config = aelab_config(a)
    model = build_model(config.model, train_images.shape[1:], seed=config.training.seed)
    device = distributed.device_for(context, a.device) or torch.device(a.device)
    trainer = Trainer(model, config, device, progress=False, context=context)
    trainer.fit(torch.from_numpy(train_images))
    mark("trained", a.device)
    RESULT.update(ran_in=trainer.precision.name, rank=0 if context is None else context.rank,
                  world=1 if context is None else context.world_size)
    loss = objective(model.cpu(), torch.from_numpy(test_images), seed=1)["loss"]
    distributed.teardown()
    return loss


def run_pythae(a, train_images, test_images) -> float:
    import pythae_way

    mark("started")
    model = pythae_way.train(a, train_images)
    mark("trained")
    return pythae_way.test_loss(model, test_images)


if __name__ == "__main__":
    main()
