"""`training.mlflow`: a run logged to MLflow. The value is a tracking URI ("sqlite:///...",
"http://host:5000", ...), or true / "auto" for a SQLite store beside the runs:
<runs folder>/mlflow/mlflow.db, its artifacts in <runs folder>/mlflow/artifacts/
(`mlflow ui --backend-store-uri sqlite:///runs/mlflow/mlflow.db` shows them).

The MLflow run is named after the run folder and holds the experiment "aelab" (or
$MLFLOW_EXPERIMENT_NAME). A sweep's trials are child runs of one parent run named after the sweep.
Everything goes through MlflowClient with an explicit run id: no global "active run", so several
estimators fitted in one notebook never log into each other's runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

from aelab.errors import AelabError
from aelab.layout import MLFLOW
from aelab.train.callbacks import Callback
from aelab.train.trackers import content

FOLDER = MLFLOW  # <runs folder>/mlflow/: the "auto" store
STORE = "mlflow.db"
ARTIFACTS = "artifacts"
EXPERIMENT = "aelab"
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own tag: the UI nests a run under its parent
BATCH = 100  # MLflow takes at most 100 parameters per log_batch call


def tracking_uri(setting, runs_folder: Path) -> tuple[str, Path | None]:
    """The tracking URI a setting names, and for "auto" the folder of the local artifacts."""
    if setting is True or setting == "auto":
        folder = (Path(runs_folder) / FOLDER).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{folder / STORE}", folder / ARTIFACTS
    return str(setting), None


def open_store(setting, runs_folder: Path, parent: dict | None = None):
    """(client, experiment id, URI) for a setting, created on first use; one error line if it cannot open."""
    needs = ("mlflow", "sqlalchemy", "alembic") if setting is True or str(setting).startswith(("auto", "sqlite")) \
        else ("mlflow",)
    content.check_installed("mlflow", needs, "mlflow")
    from mlflow.tracking import MlflowClient

    uri, artifacts = tracking_uri(setting, runs_folder)
    try:
        with _quiet():  # MLflow and alembic log each step of creating the store's tables
            client = MlflowClient(tracking_uri=uri)
            if parent and parent.get("tracking_uri") == uri:
                return client, parent["experiment_id"], uri
            name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT
            found = client.get_experiment_by_name(name)
            if found is None:
                return client, client.create_experiment(name, artifact_location=artifacts and artifacts.as_uri()), uri
            return client, found.experiment_id, uri
    except Exception as e:  # MlflowException, sqlalchemy's, a refused connection: all say the same to a user
        raise AelabError(f"training.mlflow: cannot open the MLflow tracking store {uri}: {_first_line(e)} "
                         "(give a tracking URI such as sqlite:///mlflow.db or http://host:5000, or true)") from None


class MLflowTracker(Callback):
    name = "mlflow"

    def __init__(self, setting, runs_folder: Path, run_name: str, folder: Path | None = None,
                 resume: dict | None = None, parent: dict | None = None):
        self.client, experiment, self.uri = open_store(setting, runs_folder, parent)
        self.last_epoch = 0
        if resume and resume.get("tracking_uri") == self.uri:
            self.run_id = resume["run_id"]  # --resume: the same MLflow run goes on
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            tags = {"aelab.run_folder": str(Path(folder).resolve())} if folder else {}
            if parent and parent.get("tracking_uri") == self.uri:
                tags[PARENT_TAG] = parent["run_id"]
            self.run_id = self.client.create_run(experiment, run_name=run_name, tags=tags).info.run_id
        self.experiment_id = experiment

    def ids(self) -> dict:
        return {"tracking_uri": self.uri, "experiment_id": self.experiment_id, "run_id": self.run_id}

    def on_train_begin(self, trainer) -> None:
        """The config the trainer resolved (the data's choices in it); a resumed run logs only new keys:
        MLflow keeps a parameter's first value (a changed training.epochs stays in config.json)."""
        from mlflow.entities import Param

        logged = self.client.get_run(self.run_id).data.params
        items = [Param(k, v) for k, v in content.parameters(trainer.config).items() if k not in logged]
        for start in range(0, len(items), BATCH):
            self.client.log_batch(self.run_id, params=items[start:start + BATCH])

    def log_values(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, v, now, step) for k, v in values.items()]
        for start in range(0, len(items), 1000):  # MLflow's limit per call
            self.client.log_batch(self.run_id, metrics=items[start:start + 1000])

    def on_epoch_end(self, trainer, row: dict) -> None:
        self.log_values(content.epoch_values(row), row["epoch"])
        self.last_epoch = row["epoch"]

    def finish(self, metrics: dict | None, files: list[Path]) -> None:
        if metrics:
            self.log_values(content.final_values(metrics), self.last_epoch)
        for path in files:
            self.client.log_artifact(self.run_id, str(path))
        self.client.set_terminated(self.run_id, "FINISHED")

    def fail(self, interrupted: bool) -> None:
        with contextlib.suppress(Exception):  # already failing: the first error is the one to see
            self.client.set_terminated(self.run_id, "KILLED" if interrupted else "FAILED")


class SweepParent:
    """The parent run of a sweep's trials: started (or reopened) by `aelab sweep`, its id written to
    <sweep>/tracking.json for the trials, which may run in other processes or on other machines."""

    def __init__(self, setting, runs_folder: Path, sweep_name: str, previous: dict | None = None):
        self.client, experiment, uri = open_store(setting, runs_folder)
        if previous and previous.get("tracking_uri") == uri:
            self.run_id = previous["run_id"]
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            self.run_id = self.client.create_run(experiment, run_name=sweep_name, tags={"aelab.sweep": "true"}).info.run_id
        self.info = {"tracking_uri": uri, "experiment_id": experiment, "run_id": self.run_id}

    def finish(self, files: list[Path], failed: bool = False) -> None:
        for path in files:
            self.client.log_artifact(self.run_id, str(path))
        self.client.set_terminated(self.run_id, "FAILED" if failed else "FINISHED")


@contextlib.contextmanager
def _quiet():
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:300]
