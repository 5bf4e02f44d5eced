"""What the per-epoch validation BCE/MSE/L1 (history.csv, loss.png) cost: the validation pass with
and without them, beside one training epoch, interleaved in one process.

    python bench/validation_metrics.py            # MNIST test set, VAE and AE, 5 repetitions

The data is MNIST's published test set (10k images: 7,200 train / 800 validation after the
default splits), found the way configs find it ($AELAB_DATA_DIR/mnist, ~/.cache/aelab/mnist, ...).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from aelab.config import load_config  # noqa: E402
from aelab.evaluate.metrics import objective  # noqa: E402
from aelab.data.prepare import prepare_data  # noqa: E402
from aelab.models.registry import build_model  # noqa: E402
from aelab.train.trainer import Trainer  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.threads} thread(s), torch {torch.__version__}\n")
    print("| model | training epoch s | validation pass s, before | with BCE/MSE/L1 | extra per epoch |")
    print("|---|---|---|---|---|")
    for kind in ("vae", "ae"):
        config = load_config(None, ["data.dataset=mnist", "data.published_split=test", f"model.type={kind}",
                                    "training.epochs=1", "training.threads=" + str(args.threads)])
        train, validation, _ = prepare_data(config)
        model = build_model(config.model, train.shape, seed=config.training.seed)
        trainer = Trainer(model, config, progress=False)
        val = validation.tensor()
        epoch, plain, full = [], [], []
        for _ in range(args.reps):
            started = time.perf_counter()
            trainer.state.epoch = 0
            trainer.fit(train.tensor(), None)
            epoch.append(time.perf_counter() - started)
            started = time.perf_counter()
            objective(model, val, seed=1)
            plain.append(time.perf_counter() - started)
            started = time.perf_counter()
            objective(model, val, seed=1, reconstruction_metrics=True)
            full.append(time.perf_counter() - started)
        e, a, b = (statistics.median(v) for v in (epoch, plain, full))
        print(f"| {kind} | {e:.3f} | {a:.4f} | {b:.4f} | +{b - a:.4f} s ({100 * (b - a) / (e + a):.1f} % of an epoch) |")


if __name__ == "__main__":
    main()
