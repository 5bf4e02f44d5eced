"""Conv networks on a CPU: fp32 vs channels_last vs bf16 autocast, against the textbook PyTorch
loop of the same architecture, interleaved repetition by repetition in one process.

    python bench/conv_options.py                      # both models, 3 repetitions
    python bench/conv_options.py --models conv --reps 5
    python bench/conv_options.py --compile            # add a torch.compile row (aelab fp32, conv)

- conv: seed 002's conv AE (8-16-32 tanh, dense 64, code 2, MSE), Fashion-MNIST's first 20,000
  training images, 2 epochs, batch 128, Adam 1e-3 (bench/run.py's conv setting); test loss: the
  pixel-summed squared error per image over the 10,000 test images.
- image_conv: examples/images_rgb_vae.json's network (stages 32-64-128-256, BatchNorm, LeakyReLU,
  latent 128, beta-VAE beta 0.05, MSE), batch 64 of 64x64 RGB emojis (3,786 of them: 3,000 for
  training, 786 for the test loss, MSE + beta KL per image with a seeded z draw), Adam 2e-3,
  constant beta and learning rate (the example's warm-up and cosine schedule cost no time per step).
  The textbook loop builds the same layers in plain nn (bench/textbook.py ImageVAE).

Every way trains a fresh model from the same seed; the first repetition is preceded by an untimed
warm-up of every way (oneDNN builds its kernels on first use). `samples/s` = training images x
epochs / wall seconds of the training; `CPU s` = process CPU time of the same span.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import harness  # noqa: E402
import textbook  # noqa: E402
from harness import column, median, spread  # noqa: E402

# An aelab folder cache of the 3,786 emojis: the shared data beside the repository, else aelab's caches.
EMOJI_CACHES = [str(HERE.parent / "../shared/data/folders/emojis-*.npz"),
                *([os.path.join(os.environ["AELAB_DATA_DIR"], "folders", "emojis-*.npz")] if os.environ.get("AELAB_DATA_DIR") else []),
                os.path.expanduser("~/.cache/aelab/folders/emojis-*.npz")]


def emojis(path: str | None, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) uint8 (N, 3, 64, 64): a decoded folder cache of emojis, split 3,000 / rest."""
    found = [path] if path else [p for pattern in EMOJI_CACHES for p in sorted(glob.glob(pattern))]
    if not found:
        raise SystemExit("no emoji cache found: pass --emojis FILE.npz (an aelab folder cache of 64x64 RGB images)")
    images = np.load(found[0])["images"]
    order = np.random.default_rng(0).permutation(len(images))
    train, test = images[order[:3000]], images[order[3000:]]
    return np.ascontiguousarray(train[:limit]), np.ascontiguousarray(test)


def aelab_config(model: str, precision: str, epochs: int, seed: int = 0):
    from aelab.config import load_config

    common = [f"training.epochs={epochs}", "training.validation_split=0", "training.patience=null",
              f"training.precision={precision}", f"training.seed={seed}"]
    if model == "conv":
        return load_config(None, common + [
            "training.batch_size=128", "training.learning_rate=0.001", "model.latent_dim=2", "model.type=ae",
            "model.architecture=conv", "model.conv_channels=[8,16,32]", "model.conv_dense=64",
            "model.activation=tanh", "model.reconstruction_loss=mse"])
    return load_config(str(HERE.parent / "examples/images_rgb_vae.json"), common + [
        "training.kl_annealing=none", "training.lr_schedule=constant"])


def run_aelab(model: str, precision: str, channels_last: bool | None, epochs: int, train, test,
              compiled: bool = False, seed: int = 0) -> dict:
    from aelab.evaluate.metrics import objective
    from aelab.models import build_model
    from aelab.train.trainer import Trainer

    config = aelab_config(model, precision, epochs, seed)

    def build_and_fit():
        net = build_model(config.model, train.shape[1:], seed=seed)
        trainer = Trainer(net, config, "cpu", progress=False, channels_last=channels_last)
        if compiled:  # the encoder and decoder compiled; the loop, loss and optimizer as they are
            net.encoder, net.decoder = torch.compile(net.encoder), torch.compile(net.decoder)
        trainer.fit(torch.from_numpy(train))
        return net, trainer

    (net, trainer), seconds, cpu = harness.timed(build_and_fit)
    if compiled:
        net.encoder, net.decoder = net.encoder._orig_mod, net.decoder._orig_mod
    loss = objective(net, torch.from_numpy(test), seed=1)["loss"]
    return {"seconds": seconds, "cpu": cpu, "loss": loss, "ran_in": trainer.precision.name,
            "layout": "channels_last" if trainer.memory_format is torch.channels_last else "contiguous"}


def run_textbook(model: str, epochs: int, train, test, seed: int = 0) -> dict:
    kind = "conv" if model == "conv" else "image"
    batch, lr, latent = (128, 1e-3, 2) if model == "conv" else (64, 2e-3, 128)
    net, seconds, cpu = harness.timed(lambda: textbook.train(kind, train, epochs, batch, lr, latent=latent, seed=seed))
    return {"seconds": seconds, "cpu": cpu, "loss": textbook.test_loss(kind, net, test),
            "ran_in": "fp32", "layout": "contiguous"}


def ways(model: str, compile_row: bool) -> list[tuple[str, dict]]:
    out = [("textbook loop (DataLoader, shuffle, nn defaults)", {"textbook": True}),
           ("aelab fp32, contiguous (NCHW)", {"precision": "fp32", "channels_last": False}),
           ("aelab fp32, channels_last", {"precision": "fp32", "channels_last": True}),
           ("aelab bf16 autocast, contiguous", {"precision": "bf16", "channels_last": False}),
           ("aelab bf16 autocast, channels_last", {"precision": "bf16", "channels_last": True}),
           ("aelab defaults (precision auto, layout auto)", {"precision": "auto", "channels_last": None})]
    if compile_row:
        out.append(("aelab fp32, channels_last, torch.compile", {"precision": "fp32", "channels_last": True,
                                                                 "compiled": True}))
    return out


def run_way(model: str, spec: dict, epochs: int, train, test) -> dict:
    if spec.get("textbook"):
        return run_textbook(model, epochs, train, test)
    return run_aelab(model, spec["precision"], spec["channels_last"], epochs, train, test, spec.get("compiled", False))


def loss_over_seeds(model: str, seeds: int, epochs: int, train, test, with_textbook: bool = True) -> str:
    """Test loss only, seeds 0..N-1: the textbook loop, aelab fp32 and aelab bf16 (both channels_last).
    A few hundred steps leave single runs chaotic (the same arithmetic in another memory layout
    moves the loss by a few %), so the precision's effect is read from the medians."""
    ways = {"textbook": lambda s: run_textbook(model, epochs, train, test, s),
            "aelab fp32": lambda s: run_aelab(model, "fp32", True, epochs, train, test, seed=s),
            "aelab bf16": lambda s: run_aelab(model, "bf16", True, epochs, train, test, seed=s)}
    if not with_textbook:  # the precision's effect alone (longer runs)
        ways["textbook"] = lambda s: {"loss": float("nan")}
    losses = {w: [] for w in ways}
    for s in range(seeds):
        for w, run in ways.items():
            losses[w].append(run(s)["loss"])
        print(f"  {model} seed {s}: " + ", ".join(f"{w} {v[-1]:.3f}" for w, v in losses.items()), file=sys.stderr)
    rows = []
    for s in range(seeds):
        t, f, b = (losses[w][s] for w in ways)
        rows.append([s, f"{t:.3f}", f"{f:.3f}", f"{b:.3f}", f"{100 * (b / f - 1):+.2f}%", f"{100 * (f / t - 1):+.2f}%"])
    med = {w: median(v) for w, v in losses.items()}
    rows.append(["median", f"{med['textbook']:.3f}", f"{med['aelab fp32']:.3f}", f"{med['aelab bf16']:.3f}",
                 f"{100 * (med['aelab bf16'] / med['aelab fp32'] - 1):+.2f}%",
                 f"{100 * (med['aelab fp32'] / med['textbook'] - 1):+.2f}%"])
    return harness.table(["seed", *ways, "bf16 vs fp32", "aelab fp32 vs textbook"], rows)


def speed_table(results: dict[str, list[dict]], n_train: int, epochs: int) -> str:
    base = next(iter(results))
    speed = {k: [n_train * epochs / r["seconds"] for r in v] for k, v in results.items()}
    base_speed = median(speed[base])
    base_loss = median(column(results[base], "loss"))
    rows = []
    for label, rs in results.items():
        loss = median(column(rs, "loss"))
        rows.append([label, rs[0]["ran_in"], rs[0]["layout"], spread(speed[label], ",.0f"),
                     f"{median(speed[label]) / base_speed:.2f}x", f"{median(column(rs, 'cpu')):.1f}", f"{loss:.3f}",
                     f"{100 * (loss / base_loss - 1):+.2f}%"])
    return harness.table(["way", "ran in", "layout", "samples/s, median (min-max)", "vs textbook", "CPU s, median",
                          "test loss", "loss vs textbook"], rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", choices=["conv", "image_conv"], default=["conv", "image_conv"])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--conv-epochs", type=int, default=2)
    p.add_argument("--conv-limit", type=int, default=20000, help="Fashion-MNIST training images")
    p.add_argument("--image-epochs", type=int, default=2)
    p.add_argument("--image-limit", type=int, default=None, help="training emojis (default: all 3,000)")
    p.add_argument("--emojis", help="an aelab folder cache (.npz) of 64x64 RGB images")
    p.add_argument("--compile", action="store_true", help="add a torch.compile row (conv only)")
    p.add_argument("--loss-seeds", type=int, default=0,
                   help="instead of the speed table: test losses of textbook / fp32 / bf16 over this many seeds")
    p.add_argument("--no-textbook", action="store_true", help="--loss-seeds without the textbook loop")
    p.add_argument("--only", nargs="+", help="only the ways whose label contains one of these words")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    import importlib
    importlib.import_module("torch._dynamo")  # torch.optim imports it on first use: not timed
    flags = open("/proc/cpuinfo").read().split("flags")[1].split("\n")[0].split() if os.path.exists("/proc/cpuinfo") else []
    cpu_flags = " ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags)
    print(f"# conv options, {time.strftime('%Y-%m-%d %H:%M')} UTC, torch {torch.__version__}, {os.cpu_count()} CPUs "
          f"({torch.backends.cpu.get_cpu_capability()}; flags: {cpu_flags}), {a.threads} threads, "
          f"load average before: {harness.load_average()}\n")
    started = time.time()
    for model in a.models:
        if model == "conv":
            import fashion
            train, test = fashion.load(a.conv_limit)
            epochs, what = a.conv_epochs, (f"seed 002's conv AE, Fashion-MNIST {len(train):,} images, {a.conv_epochs} "
                                           "epochs, batch 128")
        else:
            train, test = emojis(a.emojis, a.image_limit)
            epochs, what = a.image_epochs, (f"image_conv beta-VAE, {len(train):,} 64x64 RGB emojis, {a.image_epochs} "
                                            f"epochs, batch 64 ({len(test)} test images)")
        if a.loss_seeds:
            print(f"## {what}: test loss over seeds\n\n{loss_over_seeds(model, a.loss_seeds, epochs, train, test, not a.no_textbook)}\n")
            continue
        chosen = [(l, s) for l, s in ways(model, a.compile and model == "conv")
                  if not a.only or s.get("textbook") or any(w in l for w in a.only)]
        for label, spec in chosen:  # warm-up: every way once on a few batches, untimed
            if not spec.get("compiled"):
                run_way(model, spec, 1, train[:256], test[:256])
        results = harness.interleave(
            {label: (lambda spec=spec: run_way(model, spec, epochs, train, test)) for label, spec in chosen}, a.reps,
            report=lambda rep, label, r: harness.progress(
                f"  {model} rep {rep + 1}/{a.reps} {label}: {len(train) * epochs / r['seconds']:,.0f} samples/s, "
                f"test loss {r['loss']:.3f} ({r['ran_in']}, {r['layout']})"))
        print(f"## {what}\n")
        print(speed_table(results, len(train), epochs) + "\n")
    print(f"Total {time.time() - started:.0f} s; load average after: {harness.load_average()}")


if __name__ == "__main__":
    main()
