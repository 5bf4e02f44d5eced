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
from aelab.evaluate.metrics import evaluate
from aelab.models.autoencoder import Autoencoder
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
    model = build(config, train.shape)
    device = distributed.device_for(context, config.training.device) or pick_device(config.training.device)
    snapshots = None
    if config.training.snapshot_every:  # reconstruction strips during training, then training.gif
        from aelab.explore.snapshots import Snapshots

        snapshots = Snapshots(run, test, config.training.snapshot_every, config.training.seed)
        callbacks = [*(callbacks or []), snapshots]
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
        "precision": trainer.precision.name, "precision_reason": trainer.precision.reason,
        "samples_per_second": round(state.samples_seen / max(state.train_seconds, 1e-9), 1),
        "evaluation_seconds": round(time.perf_counter() - started, 3),
        "n_train": len(train), "n_validation": 0 if validation is None else len(validation), "n_test": len(test),
        "input_shape": list(train.shape), "binary_data": binary,
    })
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
