"""What a new user sees when a run goes wrong or a file is not what the command expects: a sweep
file given to `aelab train`, a run that learned nothing."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from aelab import runs
from aelab.cli import main
from aelab.data.builtin import digits
from aelab.evaluate.metrics import constant_baseline

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
QUICK = ["--no-progress", "--no-figures", "--set", "training.threads=1"]


def test_train_on_a_sweep_file_trains_its_first_trial_and_says_so(tmp_path, caplog):
    run = tmp_path / "run"
    with caplog.at_level(logging.WARNING, logger="aelab"):
        assert main(["train", "--config", str(EXAMPLES / "seed003_font_dae.json"), "--out", str(run),
                     "--set", "training.epochs=3", *QUICK]) == 0
    message = caplog.text
    assert "is a sweep of 8 trials; training one: model.latent_dim=2, model.noise=\"gaussian:0.2\"" in message
    assert "aelab sweep" in message
    model = json.loads((run / runs.CONFIG).read_text())["model"]
    assert model["latent_dim"] == 2 and model["noise"] == {"type": "gaussian", "std": 0.2}
    # --set picks another trial, and the message no longer claims the overridden key.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="aelab"):
        assert main(["train", "--config", str(EXAMPLES / "seed003_font_dae.json"), "--out", str(tmp_path / "b"),
                     "--set", "training.epochs=3", "--set", "model.latent_dim=12", *QUICK]) == 0
    assert "training one: model.noise=\"gaussian:0.2\" (" in caplog.text
    assert json.loads((tmp_path / "b" / runs.CONFIG).read_text())["model"]["latent_dim"] == 12


def test_constant_baseline_is_the_loss_of_each_pixels_mean():
    x = torch.tensor([[0.0, 1.0], [1.0, 1.0]]).view(2, 1, 1, 2)
    # mean image (0.5, 1): MSE = (0.25 + 0) + (0.25 + 0) over 2 images = 0.25 per image
    assert constant_baseline(x, x, "mse") == pytest.approx(0.25)
    assert constant_baseline(x, x, "l1") == pytest.approx(0.5)  # median image (0, 1): one pixel off by 1 in one image
    images = torch.from_numpy(digits().images)
    bce = constant_baseline(images, images, "bce")
    assert 25 < bce < 45  # 64 grey pixels, each guessed at its mean


def test_a_run_that_learned_nothing_ends_with_a_warning_and_advice(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="aelab"):
        assert main(["train", "--out", str(tmp_path / "useless"), "--set", "training.epochs=1",
                     "--set", "training.learning_rate=1e-7", "--set", "model.type=ae", *QUICK]) == 0
    assert "learned nothing useful" in caplog.text and "training.learning_rate (now 1e-07)" in caplog.text
    metrics = json.loads((tmp_path / "useless" / runs.METRICS).read_text())
    assert metrics["test"]["reconstruction_loss"] >= metrics["test"]["constant_baseline"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="aelab"):
        assert main(["train", "--out", str(tmp_path / "fine"), "--set", "training.epochs=10",
                     "--set", "model.type=ae", *QUICK]) == 0
    assert "learned nothing" not in caplog.text
    metrics = json.loads((tmp_path / "fine" / runs.METRICS).read_text())
    assert metrics["test"]["reconstruction_loss"] < metrics["test"]["constant_baseline"]
