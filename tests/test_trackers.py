"""Experiment trackers with their real backends: a run logged to an MLflow SQLite store, read back
through MlflowClient; a W&B offline run, read back from its own record file; a sweep as one MLflow
parent run with a child run per trial; an estimator's fit logged the same way."""

from __future__ import annotations

import json

import pytest
from sklearn.datasets import load_digits

import aelab
from aelab import runs
from aelab.config import load_config
from aelab.errors import AelabError
from aelab.experiments.sweep import run_sweep
from aelab.experiments.train_run import train_run
from aelab.train.trackers import content
from wandb_records import offline_run

pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

QUICK = ["model.encoder_layers=[32]", "training.threads=1", "training.epochs=4"]


def store(folder) -> MlflowClient:
    return MlflowClient(f"sqlite:///{folder / 'mlflow' / 'mlflow.db'}")


def only_run(client: MlflowClient, **filters):
    experiment = client.get_experiment_by_name("aelab")
    return client.search_runs([experiment.experiment_id], **filters)


@pytest.mark.slow
def test_an_mlflow_run_holds_the_config_every_epoch_the_final_metrics_and_the_run_files(tmp_path):
    run = tmp_path / "runs" / "digits-vae"
    metrics = train_run(load_config(None, QUICK + ["training.mlflow=true"]), run, progress=False)
    client = store(tmp_path / "runs")
    [logged] = only_run(client)
    assert logged.info.run_name == "digits-vae" and logged.info.status == "FINISHED"
    params = logged.data.params
    assert params["model.type"] == "vae" and params["model.latent_dim"] == "2" and params["training.epochs"] == "4"
    assert json.loads(params["model.encoder_layers"])[0]["units"] == 32  # the resolved config, flattened
    history = runs.read_history(run / runs.HISTORY)
    for column in ("loss", "val_loss", "kl", "val_mse", "learning_rate"):
        steps = client.get_metric_history(logged.info.run_id, column)
        assert [m.step for m in steps] == [1, 2, 3, 4]
        assert [m.value for m in steps] == pytest.approx([row[column] for row in history], rel=1e-6)
    assert logged.data.metrics["test/loss"] == pytest.approx(metrics["test"]["loss"])
    assert logged.data.metrics["epochs_run"] == 4
    artifacts = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert {"model.safetensors", "metrics.json", "history.csv", "reconstruction.png", "samples.png"} <= artifacts
    copy = client.download_artifacts(logged.info.run_id, "model.safetensors", str(tmp_path))
    assert aelab.load(copy).transform(load_digits().images[:5, None] / 16).shape == (5, 2)
    assert json.loads((run / "tracking.json").read_text())["mlflow"]["run_id"] == logged.info.run_id


@pytest.mark.slow
def test_a_wandb_offline_run_holds_the_same_content_in_the_run_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "cache"))  # W&B's own debug log, off the home folder
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "config"))
    run = tmp_path / "font-ae"
    config = load_config(None, QUICK + ["data.dataset=font5x7", "model.type=ae", "training.validation_split=0.2",
                                        "training.wandb=true"])
    metrics = train_run(config, run, progress=False, figures=False)
    logged = offline_run(run / "wandb")
    assert logged["name"] == "font-ae" and logged["exit_code"] == 0
    assert logged["config"]["model.type"] == "ae" and logged["config"]["data.dataset"] == "font5x7"
    history = runs.read_history(run / runs.HISTORY)
    assert sorted(logged["history"]) == [1, 2, 3, 4]
    assert [logged["history"][step]["val_loss"] for step in (1, 2, 3, 4)] == \
        pytest.approx([row["val_loss"] for row in history], rel=1e-6)
    assert logged["summary"]["test/reconstruction_loss"] == pytest.approx(metrics["test"]["reconstruction_loss"])
    assert {"model.safetensors", "metrics.json", "history.csv"} <= set(logged["files"])


@pytest.mark.slow
def test_a_sweep_is_one_mlflow_parent_run_with_a_child_run_per_trial(tmp_path):
    base = {"model": {"encoder_layers": [16]}, "training": {"epochs": 2, "threads": 1, "mlflow": True}}
    run_sweep(base, {"model.latent_dim": [2, 3]}, 1, tmp_path / "sweep", progress=False)
    client = store(tmp_path / "sweep" / "runs")
    [parent] = only_run(client, filter_string="tags.`aelab.sweep` = 'true'")
    children = only_run(client, filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert parent.info.run_name == "sweep" and parent.info.status == "FINISHED"
    assert sorted(c.info.run_name for c in children) == ["latent_dim=2", "latent_dim=3"]
    assert sorted(c.data.params["model.latent_dim"] for c in children) == ["2", "3"]
    assert "results.csv" in {a.path for a in client.list_artifacts(parent.info.run_id)}


@pytest.mark.slow  # ~18 s on a shared machine (MLflow)
def test_an_estimators_fit_is_logged_with_its_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # mlflow=True: a store in ./runs/mlflow/
    X = load_digits().images / 16
    vae = aelab.VAE(encoder_layers=[32], epochs=3, validation_split=0.1, threads=1, mlflow=True).fit(X)
    client = store(tmp_path / "runs")
    [logged] = only_run(client)
    assert logged.data.params["training.validation_split"] == "0.1"
    assert [m.step for m in client.get_metric_history(logged.info.run_id, "val_loss")] == [1, 2, 3]
    copy = client.download_artifacts(logged.info.run_id, "model.safetensors", str(tmp_path))
    assert aelab.load(copy).transform(X[:4]) == pytest.approx(vae.transform(X[:4]), abs=1e-6)


def test_tracker_settings_and_stores_that_cannot_work_are_one_line_each(tmp_path):
    with pytest.raises(AelabError, match="training.mlflow: takes true, false or a tracking URI"):
        load_config(None, ["training.mlflow=3"])
    config = load_config(None, QUICK + ["training.mlflow=nowhere-scheme://x"])
    with pytest.raises(AelabError, match="training.mlflow: cannot open the MLflow tracking store nowhere-scheme://x"):
        train_run(config, tmp_path / "run", progress=False)
    with pytest.raises(AelabError, match=r'needs the no_such_tracker package: pip install "aelab\[mlflow\]"'):
        content.check_installed("mlflow", ("mlflow", "no_such_tracker"), "mlflow")
