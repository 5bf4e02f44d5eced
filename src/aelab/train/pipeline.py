"""One training run from a config to a complete run folder: data, model, training, metrics,
history, weights and figures. The CLI's `train` and the sweeps call this."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from aelab import runs
from aelab.config import Config
from aelab.data import load_dataset
from aelab.data.dataset import ImageData
from aelab.data.splits import kfold, split
from aelab.errors import AelabError
from aelab.evaluate.metrics import constant_baseline, evaluate
from aelab.models.autoencoder import Autoencoder
from aelab.models.summary import format_summary
from aelab.models.topology import resolve_widths
from aelab.train import distributed
from aelab.train.trainer import Trainer, pick_device

log = logging.getLogger("aelab")


def prepare_data(config: Config) -> tuple[ImageData, ImageData | None, ImageData]:
    """(train, validation or None, test) as the config asks, all seeded."""
    train, test = load_dataset(config.data, config.training.seed)
    if config.data.exclude_labels:
        train = drop_labels(train, config.data.exclude_labels)
    if config.data.folds is not None:  # cross-validation: the held-out fold is the test set
        rest, held_out = kfold(len(train), config.data.folds, config.training.seed)[config.data.fold]
        train, test = train.subset(rest), train.subset(held_out)
    train, validation = split(train, config.training.validation_split, config.training.seed)
    return train, validation, test


def drop_labels(data: ImageData, names: list[str]) -> ImageData:
    if data.labels is None:
        raise AelabError(f"data.exclude_labels needs a labelled dataset; {data.name} has no labels")
    known = data.label_names or [str(i) for i in range(int(data.labels.max()) + 1)]
    missing = [n for n in names if n not in known]
    if missing:
        raise AelabError(f"data.exclude_labels: {missing} are not labels of {data.name}; its labels are {known}")
    keep = ~np.isin(data.labels, [known.index(n) for n in names])
    return data.subset(np.flatnonzero(keep))


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


def build(config: Config, input_shape: tuple[int, int, int]) -> Autoencoder:
    torch.manual_seed(config.training.seed)  # same seed, same initial weights
    return Autoencoder(config.model, input_shape)


def train_run(config: Config, run: Path, resume: bool = False, progress: bool = True,
              callbacks: list[Callable] | None = None, figures: bool = True,
              context: distributed.Context | None = None) -> dict:
    """Train as `config` says and write everything into the folder `run`. Returns the metrics.
    Under torchrun (`context` set) every rank trains; rank 0 alone writes, the others return {}."""
    run = Path(run)
    main = context is None or context.is_main
    if main:
        run.mkdir(parents=True, exist_ok=True)
    runs.set_threads(config.training.threads)
    train, validation, test = prepare_data(config)
    config = resolve_widths(config, train.shape)  # config.json shows the widths n_layers gave
    model = build(config, train.shape)
    if main:
        log.info("model:\n%s", format_summary(model))
    device = distributed.device_for(context, config.training.device) or pick_device(config.training.device)
    snapshots = None
    if config.training.snapshot_every:  # reconstruction strips during training, then training.gif
        from aelab.explore.snapshots import Snapshots

        snapshots = Snapshots(run, test, config.training.snapshot_every, config.training.seed)
        callbacks = [*(callbacks or []), snapshots]
    tensorboard = None
    if config.training.tensorboard and main:
        from aelab.train.tensorboard import TensorBoardLog

        every = config.training.snapshot_every or max(1, config.training.epochs // 10)
        tensorboard = TensorBoardLog(run, test, every, config.training.seed)
        callbacks = [*(callbacks or []), tensorboard]
    trainer = Trainer(model, config, device, progress=progress, callbacks=callbacks, context=context)
    if resume:
        trainer.load_checkpoint(run / runs.CHECKPOINT)
        log.info("resuming %s after epoch %d", run, trainer.state.epoch)
    elif main:
        runs.write_json(run / runs.CONFIG, config.to_dict())
    state = trainer.fit(train.tensor(), None if validation is None else validation.tensor(),
                        checkpoint_path=run / runs.CHECKPOINT)
    if not main:
        return {}
    model.eval()
    if snapshots is not None:
        snapshots.finish()
    if tensorboard is not None:
        tensorboard.finish(model, state.epoch)
    binary = train.binary
    seed = config.training.seed + 1
    started = time.perf_counter()
    metrics = {"train": evaluate(model, train.tensor(device), seed, binary)}
    if validation is not None:
        metrics["validation"] = evaluate(model, validation.tensor(device), seed, binary)
    metrics["test"] = evaluate(model, test.tensor(device), seed, binary)
    metrics.update({
        "epochs_run": state.epoch, "best_epoch": state.best_epoch, "stopped_early": state.stopped_early,
        "train_seconds": round(state.train_seconds, 3),
        "samples_per_second": round(state.samples_seen / max(state.train_seconds, 1e-9), 1),
        "evaluation_seconds": round(time.perf_counter() - started, 3),
        "n_train": len(train), "n_validation": 0 if validation is None else len(validation), "n_test": len(test),
        "input_shape": list(train.shape), "binary_data": binary,
    })
    metrics["test"]["constant_baseline"] = constant_baseline(train.tensor(device), test.tensor(device),
                                                             config.model.reconstruction_loss)
    warn_if_useless(metrics["test"], config)
    runs.write_json(run / runs.METRICS, metrics)
    runs.write_history(run / runs.HISTORY, state.history)
    runs.save_model(run / runs.MODEL, model.cpu(), config,
                    {"label_names": test.label_names, "binary": binary, "dataset": test.name})
    if figures:
        from aelab.plots.run_figures import write_all

        write_all(run, model, test, state.history, config.training.seed)
        from aelab.explore.report import write_report

        write_report(run)
    return metrics
