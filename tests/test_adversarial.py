"""The patch-adversarial term (model.adversarial_weight): off, it builds nothing; on, the
discriminator learns to tell the shipped emojis from their reconstructions, both sides' losses are
logged by name, the loss adds up, and an interrupted run resumes to exactly the uninterrupted one."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

from aelab import runs
from aelab.cli import main
from aelab.config import load_config
from aelab.experiments.train_run import train_run
from aelab.models.registry import build_model
from aelab.plots.figures import loss_curves
from aelab.train.trainer import Trainer
from test_training import StopAfter

EMOJIS = ["data.dataset=folder", "data.path=examples/emojis", "data.input_size=32", "data.channels=3",
          "model.type=ae", "model.architecture=image_conv", "model.stage_channels=[16,32,64]",
          "model.latent_dim=32", "model.activation=leaky_relu", "model.reconstruction_loss=mse",
          "training.batch_size=16", "training.patience=null", "training.learning_rate=0.002"]
WEIGHT = 0.003


def history(run) -> list[dict]:
    return list(csv.DictReader((run / runs.HISTORY).open()))


@pytest.mark.slow
def test_weight_zero_builds_no_discriminator(tmp_path):
    config = load_config(None, EMOJIS + ["training.epochs=1", "training.checkpoint_every=1"])
    assert config.model.adversarial_weight == 0
    model = build_model(config.model, (3, 32, 32), seed=0)
    assert model.adversary is None and model.discriminator_parameters() == []
    assert not any("adversary" in k for k in model.state_dict())
    assert Trainer(model, config).second is None
    train_run(config, tmp_path, progress=False, figures=False)
    with safe_open(str(tmp_path / runs.CHECKPOINT), "pt") as f:
        assert not [k for k in f.keys() if "discriminator" in k or "adversary" in k]
        assert "discriminator_optimizer" not in f.metadata()
    assert "adversarial_loss" not in history(tmp_path)[0]


@pytest.mark.slow
def test_the_discriminator_learns_and_both_losses_are_logged(tmp_path):
    config = load_config(None, EMOJIS + ["training.epochs=6", f"model.adversarial_weight={WEIGHT}",
                                         "training.adversarial_start_epoch=2"])
    metrics = train_run(config, tmp_path, progress=False, figures=False)
    rows = history(tmp_path)
    assert [bool(r["discriminator_loss"]) for r in rows] == [False, False, True, True, True, True]
    d_losses = [float(r["discriminator_loss"]) for r in rows[2:]]
    # Chance is ln 2 = 0.693 (real and reconstructed patches told apart no better than a coin);
    # measured: 0.61 in the first adversarial epoch, 0.21 after four.
    assert d_losses[-1] < math.log(2) - 0.15, d_losses
    for r in rows[2:]:  # an AE's loss: reconstruction + weight * adversarial, nothing hidden
        assert float(r["loss"]) == pytest.approx(float(r["reconstruction_loss"]) + WEIGHT * float(r["adversarial_loss"]),
                                                 rel=1e-5)
        assert float(r["val_loss"]) == pytest.approx(float(r["val_reconstruction_loss"]))  # validation: without it
    assert "adversarial_loss" not in metrics["test"] and metrics["test"]["psnr"] > 12
    weights = load_file(str(tmp_path / runs.MODEL))
    assert any(k.startswith("adversary.discriminator.") for k in weights)  # the run reloads whole
    model, _, _ = runs.load_model(tmp_path / runs.MODEL)
    assert model.adversary is not None
    assert loss_curves(runs.read_history(tmp_path / runs.HISTORY), tmp_path / "loss.png").stat().st_size > 0


@pytest.mark.slow  # ~4 s on a shared machine
def test_resume_with_the_adversarial_term_gives_identical_weights(tmp_path):
    overrides = EMOJIS + ["training.epochs=4", f"model.adversarial_weight={WEIGHT}", "training.adversarial_start_epoch=1",
                          "training.checkpoint_every=1", "model.stage_channels=[8,16]", "data.input_size=16",
                          "training.lr_schedule=cosine"]
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    expected = train_run(load_config(None, overrides), whole, progress=False, figures=False)
    with pytest.raises(KeyboardInterrupt):
        train_run(load_config(None, overrides), resumed, progress=False, figures=False, callbacks=[StopAfter(3)])
    with safe_open(str(resumed / runs.CHECKPOINT), "pt") as f:  # written after epoch 2, its first adversarial one
        assert any(k.startswith("discriminator_optimizer.") for k in f.keys())  # its Adam moments
    metrics = train_run(runs.read_config(resumed), resumed, resume=True, progress=False, figures=False)
    wa, wb = load_file(str(whole / runs.MODEL)), load_file(str(resumed / runs.MODEL))
    assert any(k.startswith("adversary.") for k in wa)
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert metrics["test"]["loss"] == expected["test"]["loss"]
    assert [r["discriminator_loss"] for r in history(resumed)] == [r["discriminator_loss"] for r in history(whole)]


@pytest.mark.parametrize("setting, says", [
    (["model.adversarial_weight=-1"], "model.adversarial_weight: Input should be greater than or equal to 0"),
    (["training.adversarial_start_epoch=3"], "training.adversarial_start_epoch delays the adversarial term, which is off"),
    (["model.adversarial_weight=0.1", "training.epochs=5", "training.adversarial_start_epoch=5"],
     "training.adversarial_start_epoch 5 is not before the last epoch (5)"),
    (["model.adversarial_wieght=0.1"], "did you mean 'model.adversarial_weight'?"),
])
def test_bad_adversarial_settings_are_one_line_naming_the_key(setting, says, capsys):
    assert main(["train"] + [a for s in setting for a in ("--set", s)]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1 and "Traceback" not in err, err
