"""`aelab evaluate RUN`: measure a trained run on each split, print a table and merge the numbers
into the run's metrics.json."""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

from aelab import layout
from aelab.errors import AelabError
from aelab.vocabulary import PRECISIONS, SAMPLER_CHOICES

# Modules that load torch, scikit-learn or the data are imported inside the handlers, so that
# `aelab --help` and `--version` start in well under a second.

log = logging.getLogger("aelab")

# Rows of the printed table, in order, when present.
LOSS_TERMS = ("loss", "reconstruction_loss", "kl")  # every VAE's; a model's own named terms follow them
SHOWN = (*LOSS_TERMS, "mse", "bce", "l1", "psnr", "ssim", "nll", "elbo", "pixel_accuracy",
         "max_wrong_pixels", "images_with_wrong_pixels", "images_with_over_one_wrong_pixel",
         "knn_accuracy", "silhouette", "active_units", "mig", "factor_vae_score", "sap", "dci_disentanglement",
         "dci_completeness", "dci_informativeness", "frechet_distance", "frechet_distance_real", "frechet_ratio",
         "nearest_training_rms", "nearest_training_rms_real", "classifier_accuracy")
# Measured for a sampler asked for by name (--sampler gmm): shown under their own names, e.g.
# frechet_distance_gmm, beside the rows above.
PER_SAMPLER = ("frechet_distance", "frechet_ratio", "nearest_training_rms")


def add_commands(sub) -> None:
    p = sub.add_parser("evaluate", help="measure a trained run: reconstruction, likelihood, denoising, latent quality",
                       description="Measure a run on its test split (--splits train,validation,test for "
                                   "the others) and merge the results into its metrics.json. Each stage "
                                   "is reported as it runs (-q: quiet).")
    p.add_argument("run", help="a run folder written by aelab train")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="data.KEY=VALUE",
                   help="evaluate on other data: override the run's data section, e.g. --set data.dataset=mnist "
                        "(repeatable); results are stored under '<split>[KEY=VALUE]'")
    p.add_argument("--data", action="append", default=[], help=argparse.SUPPRESS)  # older spelling: KEY=VALUE
    p.add_argument("--splits", default=None, help="comma-separated splits: train, validation, test "
                                                  "(default: test), e.g. --splits train,validation,test")
    p.add_argument("--noise", help="denoising at each level, e.g. gaussian:0.2,0.3,0.4 or bitflip:0.05,0.1 "
                                   "(noise drawn from a fixed seed: the same for every model)")
    p.add_argument("--noise-repeats", type=int, default=1, help="corrupted copies of each image, averaged (default 1)")
    p.add_argument("--nll-samples", type=int, default=0, metavar="K",
                   help="VAE family: importance-sampled NLL (IWAE bound) with K samples per image, e.g. 1000; "
                        "the ELBO comes from the same draws")
    p.add_argument("--nll-precision", choices=PRECISIONS, default="auto",
                   help="decoder precision of the NLL: auto (bf16 on CPUs with native bf16, within a few "
                        "hundredths of a nat of fp32; else fp32), bf16 or fp32")
    p.add_argument("--limit", type=int, metavar="N",
                   help="measure N of each split's images (a seeded choice; stored as '<split>[limit=N]'): "
                        "a quick figure where the whole split is slow, e.g. --nll-samples 1000 on 10,000 "
                        "images (the time it will take is logged when the NLL starts)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--fd-samples", type=int, default=0, metavar="N",
                   help="sample quality: the Fréchet distance of N samples to each split, in the features of a "
                        "small classifier trained on the run's training images (on their labels, or for "
                        "unlabelled images on which way up they are), e.g. 2000")
    p.add_argument("--sampler", choices=SAMPLER_CHOICES, default="auto",
                   help="where --fd-samples draws codes, as aelab generate (default auto: the run's "
                        "model.sampler); an explicit one is stored as frechet_distance_<sampler>")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from aelab.evaluate.denoising import noise_levels
    from aelab.evaluate.run_evaluation import evaluate_run, run_config
    from aelab.run import Run

    if args.nll_samples < 0 or args.noise_repeats < 1 or args.fd_samples < 0 or args.fd_samples == 1:
        raise AelabError("--nll-samples must be >= 0, --noise-repeats >= 1 and --fd-samples 0 or >= 2")
    noise = noise_levels(args.noise) if args.noise else None  # AelabError naming the bad level
    splits = [s.strip() for s in args.splits.split(",")] if args.splits else None
    why_not = _no_likelihood(Path(args.run)) if args.nll_samples else None
    if why_not:
        log.warning("--nll-samples: %s; skipped for this run", why_not)
    overrides = data_overrides(args)  # one line for a --set that is not data.*, before anything is read
    run_config(Path(args.run))  # says so when RUN is not a run folder, before a lock file is made in it
    with Run.hold(args.run):  # metrics.json and a fitted sampler are written: not while a training works there
        results = evaluate_run(Path(args.run), splits, overrides, noise, args.nll_samples,
                               args.noise_repeats, progress=not (args.no_progress or args.quiet),
                               nll_precision=args.nll_precision, fd_samples=args.fd_samples, sampler=args.sampler,
                               limit=args.limit)
    print(format_table(results))
    print(f"merged into {Path(args.run) / layout.METRICS}")
    split, values = next(((s, v) for s, v in reversed(results.items()) if "factor_of_dimension" in v), (None, None))
    if values is not None and not data_overrides(args):
        from aelab.explore.factor_traversal import factor_traversal

        print(f"factor of each latent dimension ({split}): {', '.join(values['factor_of_dimension'])}")
        print(factor_traversal(Path(args.run), values["factor_mutual_information"]))
    return 0


def _no_likelihood(run: Path) -> str | None:
    """Why the run's model has no likelihood to bound, or None when it has one."""
    from aelab.evaluate.likelihood import LIKELIHOODS
    from aelab.evaluate.run_evaluation import run_config
    from aelab.models.registry import is_registered, model_class, not_registered_for_run

    config = run_config(run)
    if not is_registered(config.model.type):
        raise not_registered_for_run(config.model.type, run)
    if not model_class(config.model.type).variational:
        return "a likelihood needs a VAE (an encoder that gives q(z|x))"
    if not model_class(config.model.type).posterior_density:
        return (f"the importance-sampled likelihood draws from q(z|x) with its density, which a "
                f"'{config.model.type}' does not give (draw_posterior: docs/extending.md)")
    if config.model.reconstruction_loss not in LIKELIHOODS:
        return (f"a likelihood needs a decoder likelihood (reconstruction_loss bce, mse or l1), not "
                f"'{config.model.reconstruction_loss}'")
    return None


def data_overrides(args: argparse.Namespace) -> list[str]:
    """--set data.KEY=VALUE (and the older --data KEY=VALUE) -> KEY=VALUE items of the data section;
    a run's model and training are its own, so other keys are refused."""
    items = list(args.data)
    for item in args.overrides:
        key, _, value = item.partition("=")
        if not key.startswith("data."):
            raise AelabError(f"--set {item}: {args.command} changes only the data (--set data.KEY=VALUE, e.g. "
                             "--set data.test_split=0.5); the model and its training are the run's")
        items.append(item.removeprefix("data."))
    return items


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def format_table(results: dict[str, dict]) -> str:
    splits = list(results)
    present = list(dict.fromkeys(k for r in results.values() for k in r))
    # a model's own named terms (log_det, iwae_bound, tc_penalty, ...): after the loss terms every model has
    own = [k for k in present if k not in SHOWN and not any(k.startswith(p + "_") for p in PER_SAMPLER)
           and all(_is_number(r[k]) for r in results.values() if k in r)]
    rows = [k for k in LOSS_TERMS if k in present] + own
    for k in SHOWN[len(LOSS_TERMS):]:
        rows += [k] if k in present else []
        if k in PER_SAMPLER:  # frechet_distance_gmm, ... right after frechet_distance
            rows += [p for p in present if p.startswith(k + "_") and p not in SHOWN]
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
