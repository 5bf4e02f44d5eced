"""What the per-epoch validation BCE/MSE/L1 (history.csv, loss.png) cost: the validation pass with
and without them, beside one training epoch, interleaved in one process.

    python bench/validation_metrics.py            # MNIST test set, VAE and AE, 5 repetitions

The data is MNIST's published test set (10k images: 7,200 train / 800 validation after the
default splits), found the way configs find it ($AELAB_DATA_DIR/mnist, ~/.cache/aelab/mnist, ...).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

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
    rows = []
    for kind in ("vae", "ae"):
        config = load_config(None, ["data.dataset=mnist", "data.published_split=test", f"model.type={kind}",
                                    "training.epochs=1", "training.threads=" + str(args.threads)])
        train, validation, _ = prepare_data(config)
        model = build_model(config.model, train.shape, seed=config.training.seed)
        trainer = Trainer(model, config, progress=False)
        val = validation.tensor()
        def epoch():
            trainer.state.epoch = 0
            trainer.fit(train.tensor(), None)

        seconds = harness.interleave({"epoch": lambda: harness.timed(epoch)[1],
                                      "plain": lambda: harness.timed(lambda: objective(model, val, seed=1))[1],
                                      "full": lambda: harness.timed(lambda: objective(
                                          model, val, seed=1, reconstruction_metrics=True))[1]}, args.reps)
        e, a, b = (harness.median(seconds[k]) for k in ("epoch", "plain", "full"))
        rows.append([kind, f"{e:.3f}", f"{a:.4f}", f"{b:.4f}", f"+{b - a:.4f} s ({100 * (b - a) / (e + a):.1f} % of an epoch)"])
    print(harness.table(["model", "training epoch s", "validation pass s, before", "with BCE/MSE/L1", "extra per epoch"], rows))


if __name__ == "__main__":
    main()
