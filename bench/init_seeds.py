"""Seed 002's conv AE: aelab's `model.init` against the textbook loop (PyTorch's layer defaults),
over several seeds, in one process: the test loss of each way and the median gap.

    python bench/init_seeds.py                    # seeds 0-9, Fashion-MNIST 20,000 images, 2 epochs
    python bench/init_seeds.py --seeds 3 --inits auto xavier pytorch

The setting is bench/run.py's conv row (batch 128, Adam 1e-3, tanh, MSE summed over pixels); the
test loss is the pixel-summed squared error per test image (all 10,000). Losses do not depend on
the machine's load, so this can run on a busy machine.
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
import textbook  # noqa: E402


def aelab_loss(init: str, seed: int, train_images, test_images, epochs: int) -> float:
    from aelab.config import load_config
    from aelab.evaluate.metrics import objective
    from aelab.models import build_model
    from aelab.train.trainer import Trainer

    config = load_config(None, [
        f"training.epochs={epochs}", "training.batch_size=128", "training.learning_rate=0.001",
        "training.validation_split=0", "training.patience=null", "training.precision=fp32",
        f"training.seed={seed}", "model.latent_dim=2", "model.type=ae", "model.architecture=conv",
        "model.conv_channels=[8,16,32]", "model.conv_dense=64", "model.activation=tanh",
        "model.reconstruction_loss=mse", f"model.init={init}"])
    model = build_model(config.model, train_images.shape[1:], seed=seed)
    Trainer(model, config, "cpu", progress=False).fit(torch.from_numpy(train_images))
    return objective(model.cpu(), torch.from_numpy(test_images), seed=1)["loss"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--limit", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--inits", nargs="+", default=["auto", "xavier"],
                   help="aelab model.init values to compare (auto: the default)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    train_images, test_images = fashion.load(a.limit)
    started = time.time()
    ways = ["textbook"] + [f"aelab init {i}" for i in a.inits]
    losses: dict[str, list[float]] = {w: [] for w in ways}
    for seed in range(a.seeds):
        model = textbook.train("conv", train_images, a.epochs, 128, 1e-3, latent=2, seed=seed)
        losses["textbook"].append(textbook.test_loss("conv", model, test_images))
        for init in a.inits:
            losses[f"aelab init {init}"].append(aelab_loss(init, seed, train_images, test_images, a.epochs))
        print(f"  seed {seed}: " + ", ".join(f"{w} {v[-1]:.3f}" for w, v in losses.items()), file=sys.stderr)
    print(f"# seed 002's conv AE, Fashion-MNIST {len(train_images):,} images, {a.epochs} epochs, batch 128, "
          f"seeds 0-{a.seeds - 1}, {time.strftime('%Y-%m-%d %H:%M')} UTC\n")
    rows = [[s, *(f"{losses[w][s]:.3f}" for w in ways),
             *(f"{100 * (losses[w][s] / losses['textbook'][s] - 1):+.2f}%" for w in ways[1:])] for s in range(a.seeds)]
    med = {w: harness.median(v) for w, v in losses.items()}
    gaps = {w: harness.median(100 * (x / t - 1) for x, t in zip(losses[w], losses["textbook"])) for w in ways[1:]}
    rows.append(["median", *(f"{med[w]:.3f}" for w in ways), *(f"{gaps[w]:+.2f}%" for w in ways[1:])])
    print(harness.table(["seed", *ways, *(f"{w} vs textbook" for w in ways[1:])], rows))
    print(f"\nmedian loss vs the textbook median: " + ", ".join(
        f"{w} {100 * (med[w] / med['textbook'] - 1):+.2f}%" for w in ways[1:]) + f"; {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
