"""Where samples come from, side by side on one trained run: the Fréchet distance of each sampler's
samples to the test split, and how near each sample is to its nearest training image (a mixture
with many components could copy training images instead of generating new ones).

    python bench/samplers.py RUN                                  # prior, gaussian, gmm with 10/30/50 components
    python bench/samplers.py RUN --samplers prior gmm:50 --n 2000

The features are those of `aelab evaluate --fd-samples`: the classifier of the run's training
images (their labels, or for unlabelled images which way up they are). "test images" is the
reference row: the test split's own distance to its nearest training image, and the Fréchet
distance of as many training images as samples. Lower Fréchet distance is better; a median
nearest-image distance far below the test images' would mean copies.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from aelab.evaluate.feature_classifier import classifier_for, task  # noqa: E402
from aelab.evaluate.sample_quality import frechet_distance  # noqa: E402
from aelab.explore import open_run  # noqa: E402
from aelab.explore.generate import nearest  # noqa: E402
from aelab.models import samplers  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--samplers", nargs="+", default=["prior", "gaussian", "gmm:10", "gmm:30", "gmm:50"])
    parser.add_argument("--n", type=int, default=1000, help="samples per sampler (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    ctx = open_run(args.run)
    classifier = classifier_for(ctx.train)
    print(f"run {args.run}: {len(ctx.train)} training, {len(ctx.test)} test images; features of a classifier "
          f"of {task(ctx.train)}")
    reference = ctx.train.images[np.random.default_rng(args.seed).choice(len(ctx.train), min(args.n, len(ctx.train)),
                                                                         replace=False)]
    _, test_rms = nearest(ctx.test.images.astype(np.float32) / 255, ctx.train.images)
    rows = [("real images", frechet_distance(ctx.test.images, reference, classifier), float(np.median(test_rms)),
             float(test_rms.min()), 0.0)]
    for name in args.samplers:
        kind, _, k = name.partition(":")
        started = time.perf_counter()
        if kind == "prior":
            z, _ = samplers.draw(ctx.model, args.n, args.seed, sampler="prior")
        else:
            fitted = samplers.FittedGMM.fit(ctx.train_codes, int(k or 10), seed=samplers.FIT_SEED) \
                if kind == "gmm" else samplers.FittedGaussian.fit(ctx.train_codes)
            z = fitted.sample(args.n, args.seed).astype(np.float32)
        seconds = time.perf_counter() - started
        images = np.clip(ctx.decode(z), 0, 1)
        _, rms = nearest(images, ctx.train.images)
        rows.append((name, frechet_distance(ctx.test.images, images, classifier), float(np.median(rms)),
                     float(rms.min()), seconds))
    print(f"\n{'sampler':<12} {'Fréchet distance to test':>25} {'nearest training image, median RMS':>36} "
          f"{'min':>6} {'fit+draw s':>11}")
    for name, fd, median, low, seconds in rows:
        print(f"{name:<12} {fd:>25.2f} {median:>36.3f} {low:>6.3f} {seconds:>11.1f}")


if __name__ == "__main__":
    main()
