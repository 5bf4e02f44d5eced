"""Experiment trackers: a run logged to MLflow (`training.mlflow`) or to Weights & Biases in offline
mode (`training.wandb`), as training callbacks (train/callbacks.py). Both are off by default and
optional extras: `pip install "aelab[mlflow]"`, `pip install "aelab[wandb]"`; their packages are
imported only when a run asks for them.

Each tracker receives the same content:
    parameters   the resolved config, flattened ("model.latent_dim": 2, "training.epochs": 30)
    per epoch    every value of the history row but the epoch, at step = epoch
    at the end   metrics.json's numbers, flattened ("test/loss", "epochs_run"), and the run's
                 files (figures, model.safetensors, metrics.json, history.csv, config.json)

The parameters are logged by on_train_begin (the config the trainer resolved), the epochs by
on_epoch_end; a tracker object also has:
    ids()                   what reopens its run later (written to RUN/tracking.json; --resume reads it)
    finish(metrics, files)  the final numbers and files, then the run marked finished
    fail(interrupted)       the run marked failed (or killed, after Ctrl-C)
"""

from __future__ import annotations

from pathlib import Path

from aelab.config import Config
from aelab.layout import TRACKING
from aelab.train.trackers.mlflow import MLflowTracker, SweepParent
from aelab.train.trackers.wandb import WandbTracker

SWEEP_FILE = TRACKING  # <sweep>/tracking.json, as a run's: the parent run its trials' runs belong to


def from_config(config: Config, runs_folder: Path, run_name: str, folder: Path | None = None,
                resume: dict | None = None, parent: dict | None = None) -> list:
    """The trackers `config.training` asks for, each with its run started (so that a missing package or
    an unreachable store is said before training). `runs_folder`: where an "auto" store goes;
    `folder`: the run folder (None from Python); `resume`: a run's tracking.json, to go on logging
    to the same tracker runs; `parent`: a sweep's tracking.json (its trials become child runs)."""
    resume, parent, trackers = resume or {}, parent or {}, []
    try:
        if config.training.mlflow is not False:
            trackers.append(MLflowTracker(config.training.mlflow, runs_folder, run_name, folder,
                                          resume.get("mlflow"), parent.get("mlflow")))
        if config.training.wandb is not False:
            trackers.append(WandbTracker(config.training.wandb, runs_folder, run_name, folder,
                                         resume.get("wandb"), parent.get("wandb")))
    except BaseException:
        fail(trackers, interrupted=False)  # a run already started is not left "running"
        raise
    return trackers


def start_sweep(config: Config, runs_folder: Path, sweep_name: str, previous: dict | None = None):
    """(the MLflow parent run or None, what the trials read from <sweep>/tracking.json). A sweep run
    again reopens its parent run; W&B groups the trials under the sweep's name."""
    parent, info = None, {}
    if config.training.mlflow is not False:
        parent = SweepParent(config.training.mlflow, runs_folder, sweep_name, (previous or {}).get("mlflow"))
        info["mlflow"] = parent.info
    if config.training.wandb is not False:
        info["wandb"] = {"group": sweep_name}
    return parent, info


def ids(trackers: list) -> dict:
    return {t.name: t.ids() for t in trackers}


def finish(trackers: list, metrics: dict | None, files: list[Path]) -> None:
    for tracker in trackers:
        tracker.finish(metrics, files)


def fail(trackers: list, interrupted: bool) -> None:
    for tracker in trackers:
        tracker.fail(interrupted)


__all__ = ["MLflowTracker", "WandbTracker", "SweepParent", "SWEEP_FILE", "from_config", "start_sweep", "ids",
           "finish", "fail"]
