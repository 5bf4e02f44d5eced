"""Seed 002's convolutional autoencoder with k = 2, 8, 16 on MNIST's 10k test set (split 80/20).

MNIST's 60k training files are not needed: the two t10k files are read with aelab's IDX reader,
split with aelab's seeded splits and trained with aelab's Trainer; each k gets a run folder with
the usual figures. Usage:

    python examples/seed002_mnist_testset_conv.py [MNIST_DIR] [--epochs N] [--lr LR] [--out DIR]

MNIST_DIR holds t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz. With the full MNIST
available, `aelab sweep examples/seed002_mnist_conv.json` runs the same models on the real splits.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from aelab import runs
from aelab.config import load_config
from aelab.data.dataset import ImageData
from aelab.data.idx import read_idx
from aelab.data.splits import split
from aelab.evaluate.latent_quality import latent_metrics
from aelab.evaluate.metrics import evaluate
from aelab.models.inference import encode
from aelab.plots.run_figures import write_all
from aelab.train.pipeline import build
from aelab.train.trainer import Trainer

# Seed 002: Conv(8, 16, 32; 3x3, stride 2, tanh) -> Dense(64, tanh) -> k; mirrored decoder with a
# sigmoid output; MSE; Adam, learning rate 5e-4; batch 64.
SETTINGS = ["model.type=ae", "model.architecture=conv", "model.conv_channels=[8,16,32]", "model.conv_dense=64",
            "model.activation=tanh", "model.reconstruction_loss=mse", "training.learning_rate=0.0005",
            "training.batch_size=64", "training.validation_split=0.1", "training.patience=null",
            "training.checkpoint_every=1000", "training.seed=42"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mnist_dir", nargs="?", default="/work/shared/data/mnist")
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--out", default="runs/seed002-mnist-testset")
    parser.add_argument("--k", default="2,8,16")
    parser.add_argument("--lr", type=float, default=5e-4, help="Adam's learning rate (seed 002: 5e-4)")
    args = parser.parse_args()
    images, _ = read_idx(Path(args.mnist_dir) / "t10k-images-idx3-ubyte.gz")
    labels, _ = read_idx(Path(args.mnist_dir) / "t10k-labels-idx1-ubyte.gz")
    data = ImageData(images[:, None], labels.astype("int64"), [str(i) for i in range(10)], "mnist-t10k")
    print("| k | test MSE per image (sum over 784 pixels) | per pixel | k-NN accuracy | silhouette | active units | epochs | train seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for k in (int(v) for v in args.k.split(",")):
        config = load_config(None, SETTINGS + [f"model.latent_dim={k}", f"training.epochs={args.epochs}",
                                                f"training.learning_rate={args.lr}"])
        seed = config.training.seed
        rest, test = split(data, 0.2, seed)
        train, validation = split(rest, config.training.validation_split, seed)
        model = build(config, train.shape)
        started = time.perf_counter()
        state = Trainer(model, config, "cpu", progress=False).fit(train.tensor(), validation.tensor())
        seconds = time.perf_counter() - started
        model.eval()
        metrics = evaluate(model, test.tensor(), seed + 1, binary=False)
        metrics.update(latent_metrics(encode(model, test.images), test.labels, seed + 1))
        run = Path(args.out) / f"k{k}"
        run.mkdir(parents=True, exist_ok=True)
        runs.write_json(run / runs.METRICS, {"test": metrics, "epochs_run": state.epoch, "train_seconds": seconds,
                                             "n_train": len(train), "n_test": len(test)})
        runs.save_model(run / runs.MODEL, model, config, {"label_names": test.label_names, "dataset": test.name})
        write_all(run, model, test, state.history, seed)
        print(f"| {k} | {metrics['mse']:.2f} | {metrics['mse'] / 784:.4f} | {metrics['knn_accuracy']:.3f} | "
              f"{metrics['silhouette']:.3f} | {metrics['active_units']} | {state.epoch} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
