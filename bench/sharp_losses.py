"""What the sharper-reconstruction options cost per training step: examples/images_rgb_vae.json's
network with its MSE loss, with ms_ssim_l1, and each with the patch-adversarial term (issue 22,
item 3), interleaved repetition by repetition in one process, so that a machine shared with other
jobs slows every variant alike.

    python bench/sharp_losses.py --path /work/data_ext/emoji/twitter            # 3 repetitions
    python bench/sharp_losses.py --path DIR --reps 5 --steps 20 --threads 2
    python bench/sharp_losses.py --grey          # MS-SSIM of grey images: as one channel or as two

Each repetition trains every variant for `steps` batches of 64 (a fresh model from the same seed,
the adversarial term on from the first step) through aelab's Trainer, after one untimed warm-up
of each (oneDNN builds its kernels on first use). Reported: process CPU seconds per step (robust
to other jobs on the machine, with one thread) and wall seconds per step, medians over the
repetitions, and each variant's CPU cost relative to MSE: the factor by which to cut its epochs
for a comparison at equal training time.

--grey times MS-SSIM's forward and backward alone on a batch of 64 grey 28x28 images, given to
torchmetrics as they are (one channel) and as two identical channels (what models/ms_ssim.py does:
the same value and gradient, through oneDNN's depthwise convolution).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
import torch  # noqa: E402

from aelab.config import load_config  # noqa: E402
from aelab.data.prepare import prepare_data  # noqa: E402
from aelab.models.registry import build_model  # noqa: E402
from aelab.train.trainer import Trainer  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "images_rgb_vae.json"
VARIANTS = {
    "mse": [],
    "ms_ssim_l1": ["model.reconstruction_loss=ms_ssim_l1"],
    "mse + adversarial": ["model.adversarial_weight=0.001"],
    "ms_ssim_l1 + adversarial": ["model.reconstruction_loss=ms_ssim_l1", "model.adversarial_weight=0.001"],
}


def config_of(path: str, extra: list[str], steps: int, threads: int):
    return load_config(EXAMPLE, [f"data.path={path}", f"training.threads={threads}", "training.epochs=1",
                                 "training.validation_split=0", "training.kl_annealing=none",
                                 "training.lr_schedule=constant", "training.checkpoint_every=100", *extra])


def time_steps(config, images: torch.Tensor) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one epoch over `images` (no validation, no checkpoint)."""
    model = build_model(config.model, images.shape[1:], seed=config.training.seed)
    trainer = Trainer(model, config, "cpu", progress=False)
    cpu, wall = time.process_time(), time.perf_counter()
    trainer.fit(images)
    return time.process_time() - cpu, time.perf_counter() - wall


def grey_channels(reps: int) -> None:
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as msssim

    from aelab.models.ms_ssim import window_for

    window = window_for(28, 28)
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(64, 1, 28, 28, generator=generator).contiguous(memory_format=torch.channels_last)
    for channels in (1, 2, 1, 2):  # the first pair warms up
        times = []
        for _ in range(reps):
            x_hat = torch.rand(x.shape, generator=generator).contiguous(memory_format=torch.channels_last)
            x_hat.requires_grad_(True)
            started = time.process_time()
            value = msssim(x_hat.expand(-1, channels, -1, -1), x.expand(-1, channels, -1, -1), sigma=window.sigma,
                           kernel_size=window.kernel, betas=window.exponents, data_range=1.0, reduction="none")
            value.sum().backward()
            times.append(time.process_time() - started)
        print(f"{channels} channel(s): {harness.median(times) * 1000:.0f} ms CPU, forward + backward")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--path", help="a folder of 64x64 RGB(A) images, e.g. the twitter emojis")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--grey", action="store_true", help="time MS-SSIM alone on grey images, 1 vs 2 channels")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.grey:
        return grey_channels(args.reps)
    if not args.path:
        p.error("--path is required (or --grey)")
    base = config_of(args.path, [], args.steps, args.threads)
    train, _, _ = prepare_data(base)
    images = train.tensor()[: 64 * args.steps]
    configs = {name: config_of(args.path, extra, args.steps, args.threads) for name, extra in VARIANTS.items()}
    for config in configs.values():  # warm-up
        time_steps(config, images[:128])
    per_step = harness.interleave(
        {name: (lambda config=config: [t / args.steps for t in time_steps(config, images)]) for name, config in configs.items()},
        args.reps, report=lambda rep, name, t: print(
            f"rep {rep + 1}: {name:26s} {t[0] * 1000:7.0f} ms CPU/step  {t[1] * 1000:7.0f} ms wall/step", flush=True))
    cpu = {name: [t[0] for t in ts] for name, ts in per_step.items()}
    wall = {name: [t[1] for t in ts] for name, ts in per_step.items()}
    reference = harness.median(cpu["mse"])
    print(f"\n{args.steps} steps of batch 64, {args.threads} thread(s), medians of {args.reps} repetitions")
    print(f"{'variant':26s} {'CPU ms/step':>12s} {'wall ms/step':>13s} {'CPU vs mse':>11s}")
    for name in configs:
        c, w = harness.median(cpu[name]), harness.median(wall[name])
        print(f"{name:26s} {c * 1000:12.0f} {w * 1000:13.0f} {c / reference:10.2f}x")


if __name__ == "__main__":
    main()
