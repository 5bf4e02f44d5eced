"""Data-parallel training: two gloo processes under torchrun follow the single-process run of the
same global batch, rank 0 alone writes the run folder, a checkpoint of two processes resumes in
one, and an incomplete launcher environment is one clear error."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file

from aelab import cli, runs
from aelab.config import load_config
from aelab.train.distributed import LAUNCHER_VARIABLES
from aelab.experiments.train_run import train_run

# An AE draws nothing at random but the order, so 1 and 2 processes differ only in summation order.
# 1797 digits: the last global batch of each epoch is uneven across the ranks, on purpose.
AE = ["model.type=ae", "model.latent_dim=4", "model.encoder_layers=[32]", "training.batch_size=64",
      "training.threads=1", "training.patience=null", "training.seed=7"]


def cli_args(overrides: list[str]) -> list[str]:
    return [arg for item in overrides for arg in ("--set", item)]


def weights(run) -> dict[str, np.ndarray]:
    return load_file(str(run / runs.MODEL))


def single(tmp_path, name: str, epochs: int):
    run = tmp_path / name
    metrics = train_run(load_config(None, AE + [f"training.epochs={epochs}"]), run, progress=False, figures=False)
    return run, metrics


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """`torchrun --nproc-per-node 2 -m aelab train` for 2 epochs, into a runs directory."""
    root = tmp_path_factory.mktemp("ddp")
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "aelab", "train", "--runs-dir", str(root / "runs"), "--no-progress", "--no-figures",
               *cli_args(AE + ["training.epochs=2"])]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240, cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    return root, done


@pytest.mark.slow
def test_two_processes_write_one_run_folder(two_processes):
    root, done = two_processes
    made = list((root / "runs").iterdir())
    assert len(made) == 1, made  # rank 1 did not make a folder of its own
    assert {runs.CONFIG, runs.MODEL, runs.CHECKPOINT, runs.METRICS} <= {p.name for p in made[0].iterdir()}
    assert not [p for p in made[0].iterdir() if p.name.endswith(".tmp")]
    assert "2 processes (gloo), global batch 64" in done.stderr
    assert done.stdout.strip() == str(made[0])  # one result line, printed by rank 0 only


@pytest.mark.slow  # the two-process fixture (torchrun): ~14 s
def test_two_processes_match_one_process_of_the_same_global_batch(two_processes, tmp_path):
    root, _ = two_processes
    ddp_run = next((root / "runs").iterdir())
    one_run, one = single(tmp_path, "one", epochs=2)
    ddp = json.loads((ddp_run / runs.METRICS).read_text())
    assert ddp["n_train"] == one["n_train"] and ddp["epochs_run"] == 2
    assert ddp["test"]["loss"] == pytest.approx(one["test"]["loss"], rel=1e-4)
    for name, w in weights(one_run).items():
        np.testing.assert_allclose(weights(ddp_run)[name], w, rtol=1e-3, atol=1e-5, err_msg=name)
    # and training did something: the loss fell from the first epoch to the second
    history = runs.read_history(ddp_run / runs.HISTORY)
    assert history[1]["loss"] < history[0]["loss"]


@pytest.mark.slow  # needs the two-process fixture
def test_a_two_process_checkpoint_resumes_in_one_process(two_processes, tmp_path):
    root, _ = two_processes
    ddp_run = next((root / "runs").iterdir())
    resumed = tmp_path / "resumed"
    subprocess.run(["cp", "-r", str(ddp_run), str(resumed)], check=True)
    assert cli.main(["train", "--resume", str(resumed), "--set", "training.epochs=4", "--no-progress",
                     "--no-figures"]) == 0
    straight_run, straight = single(tmp_path, "straight", epochs=4)
    metrics = json.loads((resumed / runs.METRICS).read_text())
    assert metrics["epochs_run"] == 4
    assert metrics["test"]["loss"] == pytest.approx(straight["test"]["loss"], rel=1e-4)


@pytest.mark.parametrize("present", [(), ("RANK", "WORLD_SIZE", "LOCAL_RANK")])
def test_an_incomplete_launcher_environment_is_one_clear_error(present, monkeypatch, tmp_path, capsys):
    for name in LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name in present:
        monkeypatch.setenv(name, "0")
    assert cli.main(["train", "--distributed", "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("aelab: error: distributed training needs") and "\n" not in err
    assert "MASTER_ADDR" in err and "MASTER_PORT" in err and "torchrun" in err
    assert not any(tmp_path.iterdir())  # nothing was written
