"""One training run from a config to a complete run folder: data, model, training, metrics,
history, weights and figures. The CLI's `train` and the sweeps call this.
(Moved from train/pipeline.py: it draws the figures, so it sits above explore/.)"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

import torch

from aelab import layout, runs, stored_samplers
from aelab.config import Config
from aelab.data.prepare import prepare_data
from aelab.evaluate.metrics import constant_baseline, evaluate
from aelab.experiments.live_history import LiveHistory
from aelab.explore.context import Context
from aelab.explore.report import write_report
from aelab.explore.run_figures import write_all
from aelab.explore.snapshots import Snapshots
from aelab.models.summary import format_summary
from aelab.run import Run
from aelab.train import distributed, trackers
from aelab.train.assemble import assemble, fit
from aelab.train.tensorboard import TensorBoardLog
from aelab.train.trainer import Trainer, pick_device

log = logging.getLogger("aelab")
# What a tracker (training.mlflow, training.wandb) receives of the finished run folder.
TRACKED_FILES = (*layout.TRAINING_FIGURES, layout.TRAINING_GIF, layout.MODEL, layout.METRICS, layout.HISTORY,
                 layout.CONFIG)


def train_run(config: Config, run: Run | str | Path, resume: bool = False, progress: bool = True,
              callbacks: list[Callable] | None = None, figures: bool = True,
              context: distributed.Context | None = None, tracking_parent: dict | None = None) -> dict:
    """Train as `config` says and write everything into the run folder `run` (a Run the caller
    claimed, or a path written without a claim). Returns the metrics.
    Under torchrun (`context` set) every rank trains; rank 0 alone writes, the others return {}.
    With training.mlflow / training.wandb the run is also logged to those trackers (a sweep's
    trials as children of `tracking_parent`, the sweep's tracking.json)."""
    run = run if isinstance(run, Run) else Run.at(run, resumed=resume)
    active = _trackers(config, run.path, resume, tracking_parent) if context is None or context.is_main else []
    try:
        metrics = _train_run(config, run, resume, progress, [*(callbacks or []), *active], figures, context)
    except BaseException as e:
        trackers.fail(active, interrupted=isinstance(e, KeyboardInterrupt))
        raise
    trackers.finish(active, metrics, [run.path / name for name in TRACKED_FILES if run.has(name)])
    return metrics


def _trackers(config: Config, run: Path, resume: bool, parent: dict | None) -> list:
    """The trackers the config asks for; their run ids in RUN/tracking.json, which --resume reads to
    go on logging into the same tracker runs."""
    if config.training.mlflow is False and config.training.wandb is False:
        return []
    run.mkdir(parents=True, exist_ok=True)
    previous = runs.read_json(run / layout.TRACKING) if resume and (run / layout.TRACKING).is_file() else None
    active = trackers.from_config(config, run.parent, run.name, run, previous, parent)
    runs.write_json(run / layout.TRACKING, trackers.ids(active))
    return active


def _train_run(config: Config, run: Run, resume: bool, progress: bool, callbacks: list, figures: bool,
               context: distributed.Context | None) -> dict:
    main = context is None or context.is_main
    folder = run.path
    if main:
        folder.mkdir(parents=True, exist_ok=True)
    runs.set_threads(config.training.threads)
    train, validation, test = prepare_data(config)
    # What the data decides is written into config.json (once: a run killed from then on can be
    # resumed), so that the run reloads and resumes the same.
    config, model, sampler = assemble(config, train)
    if main and not resume:
        run.write_config(config)
    if main:
        log.info("model:\n%s", format_summary(model))
    device = distributed.device_for(context, config.training.device) or pick_device(config.training.device)
    # Training callbacks (train/callbacks.py): the caller's first, so that one which stops
    # training is seen by the snapshots (a last strip) and TensorBoard; each writes its last
    # files when training ends.
    callbacks = list(callbacks or [])
    if config.training.snapshot_every:  # reconstruction strips during training, then training.gif
        callbacks.append(Snapshots(folder, test, config.training.snapshot_every, config.training.seed))
    if config.training.tensorboard and main:
        every = config.training.snapshot_every or max(1, config.training.epochs // 10)
        callbacks.append(TensorBoardLog(folder, test, every, config.training.seed))
    if main:  # history.csv during training, for `aelab serve` (after the snapshot of the epoch)
        callbacks.append(LiveHistory(folder / runs.HISTORY))
    trainer = Trainer(model, config, device, progress=progress, callbacks=callbacks, context=context)
    if resume and run.has(runs.CHECKPOINT):
        trainer.load_checkpoint(folder / runs.CHECKPOINT)
        log.info("resuming %s after epoch %d", folder, trainer.state.epoch)
    elif resume:  # killed before its first checkpoint: start again (same seed, same result)
        log.info("%s has no checkpoint yet: training it from the start", folder)
    if main and resume:  # after the checkpoint fitted: a refused --resume leaves config.json as it was
        run.write_config(config)
    state = fit(trainer, train, validation, checkpoint_path=folder / runs.CHECKPOINT)
    labelled = model.needs_labels
    if not main:
        return {}
    model.eval()
    binary = train.binary
    seed = config.training.seed + 1
    started = time.perf_counter()
    def measure(part):
        labels = _labels(part).to(device) if labelled else None
        return evaluate(model, part.tensor(device), seed, binary, labels=labels)

    metrics = {"train": measure(train)}
    if validation is not None:
        metrics["validation"] = measure(validation)
    metrics["test"] = measure(test)
    metrics.update({
        "epochs_run": state.epoch, "best_epoch": state.best_epoch, "stopped_early": state.stopped_early,
        "train_seconds": round(state.train_seconds, 3),
        "samples_per_second": round(state.samples_seen / max(state.train_seconds, 1e-9), 1),
        "precision": trainer.precision.name, "precision_reason": trainer.precision.reason,
        "evaluation_seconds": round(time.perf_counter() - started, 3),
        "n_train": len(train), "n_validation": 0 if validation is None else len(validation), "n_test": len(test),
        "input_shape": list(train.shape), "binary_data": binary,
    })
    metrics["test"]["constant_baseline"] = constant_baseline(train.tensor(device), test.tensor(device),
                                                             config.model.reconstruction_loss,
                                                             ms_ssim_weight=config.model.ms_ssim_weight)
    warn_if_useless(metrics["test"], config)
    runs.write_json(folder / runs.METRICS, metrics)
    runs.write_history(folder / runs.HISTORY, state.history)
    runs.save_model(folder / runs.MODEL, model.cpu(), config,
                    {"label_names": test.label_names, "binary": binary, "dataset": test.name})
    context = Context(model, test, train, folder, config.training.seed)
    if sampler != "prior":  # samples.png, generate, evaluate draw from it: fitted once, stored in the run
        fitted = stored_samplers.fit(model, sampler, context.train_codes, config.training.seed, progress)
        stored_samplers.save(folder, fitted, model, config.training.seed)
        context.use_sampler(fitted)
        metrics["sampler_seconds"] = round(fitted.fit_seconds, 3)
        log.info("fitted the %s sampler in %.1f s", sampler, fitted.fit_seconds)
        runs.write_json(folder / runs.METRICS, metrics)
    if figures:
        write_all(context, state.history)
        write_report(folder)
    return metrics


def warn_if_useless(test: dict, config: Config) -> None:
    """A run whose test reconstruction is no better than the best constant guess learned nothing:
    say so, and what to try, instead of ending as if all went well."""
    loss, baseline = test["reconstruction_loss"], test["constant_baseline"]
    if loss < baseline:
        return
    cfg = config.training
    layers = (config.model.encoder_layers or []) + (config.model.decoder_layers or [])
    hints = [f"a lower training.learning_rate (now {cfg.learning_rate:g})"]
    if "cosh" in {config.model.activation, *(layer.activation for layer in layers)}:
        hints.append("a bounded activation instead of cosh (relu, tanh, elu)")
    hints.append(f"more training.epochs (now {cfg.epochs})")
    guess = "median" if config.model.reconstruction_loss == "l1" else "mean"
    log.warning("this model learned nothing useful: its test reconstruction loss %.4g is no better than "
                "%.4g, that of the best constant guess (each pixel at its training %s); try %s",
                loss, baseline, guess, ", ".join(hints))


def _labels(data) -> torch.Tensor:
    return torch.from_numpy(data.labels)
