"""The importance-sampled NLL of `aelab evaluate --nll-samples K`: before and after, side by side.

    python bench/nll.py                      # 1,000 MNIST test images x 1,000 samples, 3 repetitions
    python bench/nll.py --images 200 --reps 1   # a quick look

"before" is the code aelab shipped until issue 14 (copied below, unchanged): 256 images at a time,
64 samples per pass, the target expanded to every sample and a per-pixel BCE tensor; its ELBO in
a second pass. "after" is `aelab.evaluate.likelihood.likelihood_bounds` in fp32 and in bf16 (the
default where the CPU has native bf16). The model is a 16-D MLP VAE (784-256-128-16) trained for
3 epochs on MNIST's published test images, found the way a config finds them (data.path,
$AELAB_DATA_DIR/mnist, ~/.cache/aelab/mnist, /usr/share/datasets/mnist; --data-dir sets the
first). Each repetition runs every way once, in turn, so a busy machine slows all alike.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

from aelab import runs  # noqa: E402
from aelab.config import load_config  # noqa: E402
from aelab.data.dataset import to_float  # noqa: E402
from aelab.evaluate.likelihood import LOG_2PI, elbo, likelihood_bounds, log_likelihood_constant  # noqa: E402
from aelab.models.autoencoder import ForwardOutput  # noqa: E402
from aelab.data.prepare import prepare_data  # noqa: E402
from aelab.experiments.train_run import train_run  # noqa: E402
from aelab.models.losses import reconstruction_loss  # noqa: E402


@torch.no_grad()
def before_iwae_bound(model, data, samples, seed, batch_size=256, max_rows=16384):
    """aelab's iwae_bound before issue 14, verbatim apart from the name."""
    model.eval()
    generator = torch.Generator(device=data.device).manual_seed(seed)
    constant = log_likelihood_constant(model)
    chunk = max(1, min(samples, max_rows // batch_size))
    bounds = []
    for start in range(0, len(data), batch_size):
        x = to_float(data[start:start + batch_size])
        mean, logvar = model.encode(x)
        std = torch.exp(0.5 * logvar)
        log_weights = []
        for done in range(0, samples, chunk):
            k = min(chunk, samples - done)
            eps = torch.randn((k, *mean.shape), generator=generator, device=x.device)
            z = mean + std * eps
            logits = model.decoder(z.flatten(0, 1))
            target = x.expand(k, *x.shape).flatten(0, 1)
            out = ForwardOutput(logits, z.flatten(0, 1), None, z.flatten(0, 1))
            log_px = -reconstruction_loss(model, out, target).view(k, -1) + constant
            log_pz = -0.5 * (z.square() + LOG_2PI).sum(-1)
            log_qz = -0.5 * (eps.square() + LOG_2PI + logvar).sum(-1)
            log_weights.append(log_px + log_pz - log_qz)
        w = torch.cat(log_weights)
        bounds.append(torch.logsumexp(w, 0) - math.log(samples))
    return torch.cat(bounds)


def before(model, data, samples, seed):
    return before_iwae_bound(model, data, samples, seed), elbo(model, data, seed)


WAYS = {
    "before (fp32, 2 passes)": before,
    "after, fp32": lambda m, d, k, s: likelihood_bounds(m, d, k, s, precision="fp32"),
    "after, bf16": lambda m, d, k, s: likelihood_bounds(m, d, k, s, precision="bf16"),
}


def trained_model(data_dir: str | None):
    overrides = ["data.dataset=mnist", "data.published_split=test", "model.latent_dim=16",
                 "training.epochs=3", "training.seed=0"]
    if data_dir:
        overrides.append(f"data.path={data_dir}")
    config = load_config(None, overrides)
    run = Path(tempfile.mkdtemp(prefix="aelab-bench-nll-")) / "run"
    train_run(config, run, progress=False, figures=False)
    model, _, _ = runs.load_model(run)
    return model, prepare_data(config)[2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--data-dir", help="a folder with MNIST's t10k IDX files (default: the dataset lookup order)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, test = trained_model(args.data_dir)
    data = test.tensor()[:args.images]
    results = {}

    def run(way: str) -> float:
        (bound, elbo_), seconds, _ = harness.timed(lambda: WAYS[way](model, data, args.samples, 1))
        results[way] = (-float(bound.mean()), float(elbo_.mean()))
        return seconds

    seconds = harness.interleave({way: (lambda way=way: run(way)) for way in WAYS}, args.reps,
                                 report=lambda rep, way, s: harness.progress(f"  rep {rep + 1}/{args.reps} {way}: {s:.2f} s"))
    base = harness.median(seconds["before (fp32, 2 passes)"])
    ref_nll = results["after, fp32"][0]
    flags = [f for f in ("avx512_bf16", "amx_bf16") if f in open("/proc/cpuinfo").read()] \
        if os.path.exists("/proc/cpuinfo") else []
    print(f"\n{args.images} images x {args.samples} samples, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, CPU flags: {' '.join(flags) or 'no native bf16'}\n")
    print(harness.table(["way", "seconds, median (min-max)", "speed-up", "NLL (nats/image)", "vs fp32 after", "ELBO"],
                        [[way, harness.spread(seconds[way]), f"{base / harness.median(seconds[way]):.1f}x",
                          f"{results[way][0]:.3f}", f"{results[way][0] - ref_nll:+.4f}", f"{results[way][1]:.3f}"]
                         for way in WAYS]))


if __name__ == "__main__":
    main()
