"""Every sampler of one trained run side by side: the Fréchet distance of its samples to the test
split, divided by the real-image floor (the same distance for as many real images that are not
test images: the training images; the mean of three draws, whose spread is printed; each sampler's
distance likewise the mean of --draws draws, with their range), the copy check (median RMS pixel distance of each sample to its
nearest training image, beside that of the test images: samples must not be closer to the
training images than new real images are), and the seconds (wall and CPU) to fit and to draw.
A second reference row decodes the training images' own codes: the best a sampler can reach with
this decoder, so a ratio far above 1 there says the decoder, not the sampler, sets the limit.

    python bench/samplers.py RUN                      # prior, gaussian, gmm:50, flow, two_stage, diffusion
    python bench/samplers.py RUN --samplers gmm:50 gmm:200 --draws 5   # FD: mean and range of 5 draws
    python bench/samplers.py RUN --samplers gmm:10 'flow:{"transforms": 6}' --n 2000
    python bench/samplers.py RUN --codes means --grids out/   # fitted to the posterior means; PNG grids
    python bench/samplers.py RUN --samplers gmm:200 --by-uniqueness u.png   # where the blobs come from

--by-uniqueness (a mixture): each component's training images are measured by how far each is from
its nearest other training image (median RMS); 64 samples are drawn and tiled in the order of their
component's value, and the shares of training images and of samples in components above 0.15 are
printed. Samples from components of one-of-a-kind images are blends of them: a mixture cannot draw
a new one there without copying.

Nothing is written into RUN: samplers are fitted here (the run's model.sampler_options, with the
JSON after a learned sampler's name on top) and grids go to --grids. The features are those of
`aelab evaluate --fd-samples`: a classifier of the run's training images (their labels, or for
unlabelled images which way up they are).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from aelab.evaluate.feature_classifier import classifier_for, task  # noqa: E402
from aelab.evaluate.sample_quality import frechet_distance  # noqa: E402
from aelab.explore import open_run  # noqa: E402
from aelab.evaluate.sample_quality import nearest  # noqa: E402
from aelab.explore.generate import generate  # noqa: E402
from aelab.models import samplers  # noqa: E402
from aelab.data.dataset import to_float  # noqa: E402
from aelab.plots.images import tile  # noqa: E402

DEFAULT = ["prior", "gaussian", "gmm:50", "flow", "two_stage", "diffusion"]


def posterior(ctx) -> tuple[np.ndarray, np.ndarray | None]:
    """The training images' posterior means and standard deviations (None: a model without a posterior)."""
    means, stds = [], []
    with torch.no_grad():
        for start in range(0, len(ctx.train), 512):
            mean, logvar = ctx.model.encode(to_float(torch.as_tensor(ctx.train.images[start:start + 512])))
            means.append(mean)
            stds.append(None if logvar is None else torch.exp(0.5 * logvar))
    return torch.cat(means).numpy(), None if stds[0] is None else torch.cat(stds).numpy()


def fitted_sampler(ctx, name: str, codes: np.ndarray, seed: int, progress: bool, spread=None):
    kind, _, arg = name.partition(":")
    options = samplers.options_for(kind, ctx.model.config)
    if kind == "gmm" and arg:
        options = options.model_copy(update={"components": int(arg)})
    elif arg:
        options = type(options).model_validate({**options.model_dump(), **json.loads(arg)})
    return samplers.fit(kind, codes, options, seed, progress, spread=spread)


UNIQUE = 0.15  # RMS to the nearest other training image above which an image is one of a kind


def by_uniqueness(ctx, fitted, codes: np.ndarray, out: Path, seed: int) -> None:
    """64 samples of a fitted mixture tiled by how one-of-a-kind their component's images are."""
    _, distance = nearest(ctx.train.images, ctx.train.images, k=2)
    alone = distance[:, 1]  # [:, 0] is the image itself
    held = fitted.component_of(codes)
    value = np.array([np.median(alone[held == k]) if (held == k).any() else np.nan for k in range(len(fitted.weights))])
    z, component = fitted.sample_with_components(64, seed)
    order = np.argsort(value[component], kind="stable")
    images = np.clip(ctx.decode(z[order].astype(np.float32)), 0, 1)
    from PIL import Image

    Image.fromarray((tile(images, 8) * 255).round().astype(np.uint8).squeeze()).save(out)
    print(f"  by uniqueness: training images whose nearest other one is > {UNIQUE} RMS: {(alone > UNIQUE).mean():.0%}; "
          f"in components whose median is > {UNIQUE}: {(value[held] > UNIQUE).mean():.0%} of training images, "
          f"{(value[component] > UNIQUE).mean():.0%} of these 64 samples (the last rows of {out})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--samplers", nargs="+", default=DEFAULT)
    parser.add_argument("--n", type=int, default=1000, help="samples per sampler (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws (fits use the run's training.seed)")
    parser.add_argument("--draws", type=int, default=3,
                        help="draws of --n samples per sampler (seeds seed, seed+1, ...): the FD is their mean, "
                             "the range is printed (default 3: one draw of 1,000 moved a ratio by up to 2x)")
    parser.add_argument("--codes", choices=("means", "samples", "posterior"), default="means",
                        help="what the learned samplers are fitted to: the posterior means, one posterior draw "
                             "per image, or fresh posterior draws at every step (default means, what aelab does)")
    parser.add_argument("--grids", help="a folder for a grid of 64 samples per sampler (PNG)")
    parser.add_argument("--progress", action="store_true", help="progress bars while fitting")
    parser.add_argument("--by-uniqueness", metavar="PNG",
                        help="for the first mixture (gmm) listed: 64 samples ordered by how one-of-a-kind their "
                             "component's training images are, and the shares above 0.15 RMS")
    args = parser.parse_args()
    if args.draws < 1 or args.n < 2:
        parser.error(f"--draws {args.draws} --n {args.n}: at least 1 draw of at least 2 samples")

    ctx = open_run(args.run)
    classifier = classifier_for(ctx.train)
    codes, spread = posterior(ctx)
    if args.codes == "samples" and spread is not None:
        codes = codes + spread * np.random.default_rng(ctx.seed).standard_normal(codes.shape).astype(np.float32)
    if args.codes != "posterior":
        spread = None
    print(f"run {args.run}: {len(ctx.train)} training, {len(ctx.test)} test images; {ctx.latent_dim}-D codes "
          f"({args.codes}); features of a classifier of {task(ctx.train)}; {args.n} samples each")
    # The floor is itself a Fréchet distance of a finite sample: on 1,000 emojis it moved from 0.60
    # to 1.00 between three draws of the training images. Its mean over three draws is the divisor,
    # and the spread is printed, so a ratio is not read more precisely than it is.
    floors = [frechet_distance(ctx.test.images, ctx.train.images[np.random.default_rng(args.seed + k).choice(
        len(ctx.train), min(args.n, len(ctx.train)), replace=False)], classifier) for k in range(3)]
    floor = float(np.mean(floors))
    print(f"  real (train) images, three draws: FD {', '.join(f'{f:.2f}' for f in floors)}; the floor is their mean")
    _, test_rms = nearest(ctx.test.images, ctx.train.images)  # uint8 or [0, 1] floats: nearest reads both
    rows = [("real (train) images", floor, float(np.median(test_rms)), float(test_rms.min()), 0, 0, 0)]
    # The best any sampler can do with this decoder: the training images' own codes, decoded. A
    # sampler near this row is limited by the decoder (its blur), not by where it puts codes.
    chosen = np.random.default_rng(args.seed).choice(len(codes), min(args.n, len(codes)), replace=False)
    decoded = np.clip(ctx.decode(codes[chosen]), 0, 1)
    _, decoded_rms = nearest(decoded, ctx.train.images)
    rows.append(("decoded training codes", frechet_distance(ctx.test.images, decoded, classifier),
                 float(np.median(decoded_rms)), float(decoded_rms.min()), 0, 0, 0))
    spreads: dict[str, list[float]] = {}
    for name in args.samplers:
        started, cpu = time.perf_counter(), time.process_time()
        fitted = None
        if name != "prior":
            fitted = fitted_sampler(ctx, name, codes, ctx.seed, args.progress, spread)
            ctx.use_sampler(fitted)
        fit_s, fit_cpu = time.perf_counter() - started, time.process_time() - cpu
        fds = []
        for k in range(args.draws):
            started = time.perf_counter()
            z, _ = samplers.draw(ctx.model, args.n, args.seed + k, sampler=name.partition(":")[0], fitted=fitted)
            draw_s = time.perf_counter() - started
            images = np.clip(ctx.decode(z), 0, 1)
            fds.append(frechet_distance(ctx.test.images, images, classifier))
            if k == 0:  # the copy check on the first draw
                _, rms = nearest(images, ctx.train.images)
        spreads[name] = fds
        rows.append((name, float(np.mean(fds)), float(np.median(rms)), float(rms.min()), fit_s, fit_cpu, draw_s))
        if args.grids:
            Path(args.grids).mkdir(parents=True, exist_ok=True)
            safe = name.partition(":")[0] + (f"_{name.partition(':')[2]}" if name.startswith("gmm:") else "")
            generate(ctx, 64, out=Path(args.grids) / f"samples_{safe}_{args.codes}.png", seed=args.seed,
                     sampler=name.partition(":")[0], replace=True)
        print(f"  {name}: FD {', '.join(f'{f:.2f}' for f in fds)} (mean {rows[-1][1]:.2f}), fit {fit_s:.1f} s",
              flush=True)
        if args.by_uniqueness and name.startswith("gmm"):
            by_uniqueness(ctx, fitted, codes, Path(args.by_uniqueness), args.seed)
            args.by_uniqueness = None  # the first mixture only
    print(f"\n| sampler | FD to test | FD / floor (range of {args.draws} draws) | nearest training image, median RMS (min) "
          "| fit s (CPU s) | draw s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, fd, median, low, fit_s, fit_cpu, draw_s in rows:
        ratio = f"{fd / floor:.2f}"
        if len(spreads.get(name, ())) > 1:
            ratio += f" ({min(spreads[name]) / floor:.2f}-{max(spreads[name]) / floor:.2f})"
        print(f"| {name} | {fd:.2f} | {ratio} | {median:.3f} ({low:.3f}) | {fit_s:.1f} ({fit_cpu:.1f}) | {draw_s:.1f} |")


if __name__ == "__main__":
    main()
