"""One sweep trial: train its run folder (resuming or restarting an interrupted one) and add the
latent metrics the sweep compares (and, when the sweep asks, the importance-sampled NLL and the
Fréchet distance of samples). The same function runs in the sweep's own process (--jobs 1),
in a child process of the local pool, and in a child process on a cluster worker."""

from __future__ import annotations

from pathlib import Path

import torch

from aelab import files, runs, stored_samplers, trust
from aelab.config import validate_config
from aelab.evaluate.run_evaluation import measure, merge_metrics, sample_quality, split_data
from aelab.experiments.train_run import train_run
from aelab.models import samplers
from aelab.models.inference import encode
from aelab.run import Run
from aelab.train import trackers


def run_trial(config_dict: dict, run_dir: str, threads: int | None, figures: bool,
              evaluation: dict | None = None) -> None:
    """Train one trial (resuming or restarting an interrupted one) and add the latent metrics;
    `evaluation` (sweep.evaluate): nll_samples, nll_precision, fd_samples."""
    if threads:
        torch.set_num_threads(threads)
    config = validate_config(config_dict)
    # The trial's config is the sweep file's (the user's own, even in a child process): its
    # factories may be imported; another factory named in the trial's folder may not.
    run = Path(run_dir)
    sweep = run.parent.parent  # <sweep>/runs/<trial>: no write below it follows a link (files.route)
    files.hold(sweep)
    try:
        with trust.allowing(config.model.encoder, config.model.decoder):
            _run_trial(config, run, figures, evaluation)
    finally:
        files.let_go(sweep)


def _run_trial(config, run: Path, figures: bool, evaluation: dict | None) -> None:
    if not (run / runs.METRICS).is_file():
        files.route(run / runs.CONFIG)  # the trial's folder is not a link to elsewhere
        # Claimed and held as `aelab train` holds its folder: an interrupted trial resumes from its
        # checkpoint; one that died before its first checkpoint starts again (same seed, same result).
        resume = (run / runs.CHECKPOINT).is_file() and (run / runs.CONFIG).is_file()
        parent = run.parent.parent / trackers.SWEEP_FILE  # the sweep's tracker runs (training.mlflow, .wandb)
        with Run.resume(run) if resume else Run.claim(run, restart=True) as held:
            train_run(config, held, resume=resume, progress=False, figures=figures,
                      tracking_parent=runs.read_json(parent) if parent.is_file() else None)
    model = Run.open(run).model()
    evaluation = evaluation or {}
    parts = split_data(config)
    test = parts["test"]
    noise = config.model.noise
    seed = config.training.seed + 1  # the seed train_run evaluates with
    # A denoising model is also scored at its own noise level, on about 10k corrupted images.
    repeats = max(1, min(100, 10_000 // len(test)))
    extras = measure(model, test, seed, [noise] if noise else None, noise_repeats=repeats,
                     nll_samples=evaluation.get("nll_samples", 0),
                     nll_precision=evaluation.get("nll_precision", "auto"))
    if evaluation.get("fd_samples"):
        kind, train = samplers.resolve(model), parts["train"]
        fitted = None if kind == "prior" else stored_samplers.obtain(  # the one train_run stored
            run, model, kind, lambda: encode(model, train.images, labels=train.labels if model.needs_labels else None),
            config.training.seed, progress=False)
        extras.update(sample_quality(model, parts, evaluation["fd_samples"], seed, ["test"], fitted=fitted,
                                     fit_seed=config.training.seed)["test"])
    for row in extras.pop("denoising", []):
        extras.update({f"denoising_{k}": v for k, v in row.items() if k not in ("noise", "repeats")})
        extras["denoising_repeats"] = row["repeats"]
    merge_metrics(run, {"test": extras})
