"""`aelab evaluate RUN`: measure a trained run on each split, print a table and merge the numbers
into the run's metrics.json."""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

from aelab.errors import AelabError

log = logging.getLogger("aelab")

# Rows of the printed table, in order, when present.
SHOWN = ("loss", "reconstruction_loss", "kl", "mse", "bce", "l1", "psnr", "ssim", "nll", "elbo", "pixel_accuracy",
         "max_wrong_pixels", "images_with_wrong_pixels", "images_with_over_one_wrong_pixel",
         "knn_accuracy", "silhouette", "active_units")


def add_commands(sub) -> None:
    p = sub.add_parser("evaluate", help="measure a trained run: reconstruction, likelihood, denoising, latent quality",
                       description="Measure a run on its train, validation and test splits and merge the "
                                   "results into its metrics.json.")
    p.add_argument("run", help="a run folder written by aelab train")
    p.add_argument("--data", action="append", default=[], metavar="KEY=VALUE",
                   help="evaluate on other data: override the run's data section, e.g. --data dataset=mnist "
                        "(repeatable); results are stored under '<split>[KEY=VALUE]'")
    p.add_argument("--splits", default=None, help="comma-separated splits (default: all the run has)")
    p.add_argument("--noise", help="denoising at each level, e.g. gaussian:0.2,0.3,0.4 or bitflip:0.05,0.1 "
                                   "(noise drawn from a fixed seed: the same for every model)")
    p.add_argument("--noise-repeats", type=int, default=1, help="corrupted copies of each image, averaged (default 1)")
    p.add_argument("--nll-samples", type=int, default=0, metavar="K",
                   help="VAE family: importance-sampled NLL (IWAE bound) with K samples per image, e.g. 1000")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from aelab.evaluate.denoising import noise_levels
    from aelab.evaluate.run_evaluation import evaluate_run

    if args.nll_samples < 0 or args.noise_repeats < 1:
        raise AelabError("--nll-samples must be >= 0 and --noise-repeats >= 1")
    noise = noise_levels(args.noise) if args.noise else None  # AelabError naming the bad level
    splits = [s.strip() for s in args.splits.split(",")] if args.splits else None
    if args.nll_samples and not _is_variational(Path(args.run)):
        log.warning("--nll-samples: a likelihood needs a VAE (an encoder that gives q(z|x)); skipped for this run")
    results = evaluate_run(Path(args.run), splits, args.data, noise, args.nll_samples, args.noise_repeats)
    print(format_table(results))
    print(f"merged into {Path(args.run) / 'metrics.json'}")
    return 0


def _is_variational(run: Path) -> bool:
    from aelab.evaluate.run_evaluation import run_config

    return run_config(run).model.variational


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def format_table(results: dict[str, dict]) -> str:
    splits = list(results)
    rows = [k for k in SHOWN if any(k in r for r in results.values())]
    lines = [" | ".join(["metric".ljust(34)] + [s.rjust(12) for s in splits])]
    lines += [" | ".join([k.ljust(34)] + [_cell(results[s].get(k)).rjust(12) for s in splits]) for k in rows]
    for split, values in results.items():
        if values.get("denoising"):
            lines += ["", f"denoising ({split}):",
                      "noise             pixel acc.   noisy input acc.   mse     noisy input mse"]
            for d in values["denoising"]:
                acc = d.get("pixel_accuracy")
                noisy = d.get("noisy_pixel_accuracy")
                lines.append(f"{d['noise']:<17} {_pct(acc):>10}   {_pct(noisy):>16}   {d['mse']:<7.4g} {d['noisy_mse']:.4g}")
    return "\n".join(lines)


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.2f}%"
