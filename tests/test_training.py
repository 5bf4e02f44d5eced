"""The core promise: real small models trained on real data reach real bounds, the same seed
gives the same weights, and an interrupted run resumes to exactly the uninterrupted result."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from aelab import runs
from aelab.config import load_config
from aelab.data.builtin import digits
from aelab.experiments.train_run import train_run

FONT_AE = ["data.dataset=font5x7", "model.type=ae", "model.latent_dim=2", "model.encoder_layers=[64,32]",
           "data.test_split=0", "training.validation_split=0", "training.batch_size=8",
           "training.learning_rate=0.003", "training.patience=null", "training.checkpoint_every=100"]


def weights(run) -> dict[str, np.ndarray]:
    return load_file(str(run / runs.MODEL))


@pytest.fixture(scope="module")
def font_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("font")
    config = load_config(None, FONT_AE + ["training.epochs=500"])
    return run, train_run(config, run, progress=False, figures=False)


@pytest.mark.slow
def test_font_autoencoder_with_2d_latent_reconstructs_every_glyph(font_run):
    run, metrics = font_run
    test = metrics["test"]
    assert metrics["n_test"] == 32 and metrics["binary_data"]
    # The classic target: every glyph with at most one wrong pixel.
    assert test["max_wrong_pixels"] <= 1, test
    assert test["pixel_accuracy"] >= 0.998, test
    assert metrics["epochs_run"] == 500


@pytest.mark.slow  # the font_run fixture: ~16 s on a shared machine (test tiers)
def test_run_folder_holds_config_metrics_history_and_weights(font_run):
    run, metrics = font_run
    saved = json.loads((run / runs.METRICS).read_text())
    for split in ("train", "test"):
        assert {"loss", "reconstruction_loss", "mse", "bce", "l1", "pixel_accuracy", "max_wrong_pixels"} <= set(saved[split])
    assert {"epochs_run", "best_epoch", "train_seconds", "samples_per_second"} <= set(saved)
    config = json.loads((run / runs.CONFIG).read_text())
    assert config["model"]["encoder_layers"] == [{"units": 64, "activation": "relu"}, {"units": 32, "activation": "relu"}]
    assert config["model"]["decoder_layers"][0]["units"] == 32  # the mirrored default, written out in full
    rows = list(csv.DictReader((run / runs.HISTORY).open()))
    assert len(rows) == 500 and float(rows[-1]["loss"]) < float(rows[0]["loss"]) / 4


@pytest.mark.slow  # ~12 s on a shared machine
def test_vae_on_digits_lowers_validation_loss_below_measured_bound(tmp_path):
    config = load_config(None, ["training.epochs=30"])  # the default run: 2-D VAE on digits
    metrics = train_run(config, tmp_path, progress=False, figures=False)
    rows = list(csv.DictReader((tmp_path / runs.HISTORY).open()))
    first, last = float(rows[0]["val_loss"]), metrics["validation"]["loss"]
    # Measured: ~30.4 after one epoch, ~24.7 after 30 (BCE summed over 64 pixels + KL, per image).
    assert last < 25.8, last
    assert first - last > 3.5
    # Digits are grey levels, so BCE cannot reach 0: its floor is the images' own entropy. Above
    # that floor the 2-D VAE must beat the best constant guess (each pixel's mean) clearly.
    x = digits().images.reshape(-1, 64).astype(np.float64)
    def bce(p):
        p = np.clip(p, 1e-12, 1 - 1e-12)
        return -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(1).mean()
    floor, constant = bce(x), bce(x.mean(0))
    reconstruction = metrics["validation"]["reconstruction_loss"]
    assert reconstruction - floor < 0.75 * (constant - floor), (reconstruction, floor, constant)
    assert metrics["validation"]["kl"] > 0.5  # the latent is used, not collapsed onto the prior


@pytest.mark.parametrize("model_type", ["vae", "dae"])
def test_same_seed_gives_identical_weights(tmp_path, model_type):
    overrides = [f"model.type={model_type}", "training.epochs=3", "model.encoder_layers=[32]"]
    a, b, c = (tmp_path / n for n in "abc")
    train_run(load_config(None, overrides), a, progress=False, figures=False)
    train_run(load_config(None, overrides), b, progress=False, figures=False)
    train_run(load_config(None, overrides + ["training.seed=7"]), c, progress=False, figures=False)
    wa, wb, wc = weights(a), weights(b), weights(c)
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert not all(np.array_equal(wa[k], wc[k]) for k in wa)


class StopAfter:
    """A callback that interrupts training like Ctrl-C after `epochs` epochs."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def __call__(self, trainer, row):
        if trainer.state.epoch == self.epochs:
            raise KeyboardInterrupt


@pytest.mark.parametrize("model_type", ["vae", "dae"])
def test_resume_after_interruption_gives_identical_weights(tmp_path, model_type):
    # patience 2 with a noisy VAE: early-stopping state must survive the interruption too
    overrides = [f"model.type={model_type}", "training.epochs=6", "model.encoder_layers=[32]",
                 "training.patience=4", "training.optimizer=momentum", "training.learning_rate=0.01"]
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    expected = train_run(load_config(None, overrides), whole, progress=False, figures=False)
    with pytest.raises(KeyboardInterrupt):
        train_run(load_config(None, overrides), resumed, progress=False, figures=False, callbacks=[StopAfter(3)])
    assert not (resumed / runs.MODEL).exists()
    config = runs.read_config(resumed)
    metrics = train_run(config, resumed, resume=True, progress=False, figures=False)
    wa, wb = weights(whole), weights(resumed)
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert metrics["epochs_run"] == expected["epochs_run"] == 6
    assert metrics["test"]["loss"] == pytest.approx(expected["test"]["loss"], rel=1e-6)
    history = list(csv.DictReader((resumed / runs.HISTORY).open()))
    assert [int(r["epoch"]) for r in history] == [1, 2, 3, 4, 5, 6]


@pytest.mark.slow  # ~10 s on a shared machine
def test_channels_last_conv_run_resumes_to_identical_weights(tmp_path):
    """A conv net trains channels_last on a CPU; after --resume, Adam's moments (stored contiguous
    in the checkpoint) must be laid out like their channels_last weights again for the fused step."""
    overrides = ["model.type=vae", "model.architecture=conv", "model.conv_channels=[8,16]", "model.conv_dense=32",
                 "training.epochs=5", "training.batch_size=32", "training.patience=null",
                 "training.checkpoint_every=1"]
    layouts = []

    def check_layout(trainer, row):
        assert trainer.memory_format is torch.channels_last
        for p in trainer.model.parameters():
            if p.dim() == 4:
                assert p.is_contiguous(memory_format=torch.channels_last)
                state = trainer.optimizer.state[p]
                layouts.append(all(state[k].stride() == p.stride() for k in ("exp_avg", "exp_avg_sq")))

    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    expected = train_run(load_config(None, overrides), whole, progress=False, figures=False)
    with pytest.raises(KeyboardInterrupt):
        train_run(load_config(None, overrides), resumed, progress=False, figures=False, callbacks=[StopAfter(2)])
    metrics = train_run(runs.read_config(resumed), resumed, resume=True, progress=False, figures=False,
                        callbacks=[check_layout])
    assert layouts and all(layouts)
    wa, wb = weights(whole), weights(resumed)
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert metrics["test"]["loss"] == pytest.approx(expected["test"]["loss"], rel=1e-6)


@pytest.mark.slow  # ~6 s on a shared machine
def test_without_a_terminal_the_progress_bar_writes_one_line_per_epoch_at_most(tmp_path, capsys):
    """In a log file (CI, `> log`), each '\\r' status is a line: once per epoch, not twice (issue 27)."""
    config = load_config(None, ["data.dataset=digits", "training.epochs=3", "training.batch_size=8",
                                "model.latent_dim=2"])
    train_run(config, tmp_path / "run", progress=True, figures=False)
    err = capsys.readouterr().err
    statuses = [s for s in err.replace("\r", "\n").splitlines() if s.startswith("training")]
    # The opening 0/3 and tqdm's closing summary, and between them each epoch once at most,
    # with its losses (before: once for the count, again for the losses).
    assert "0/3" in statuses[0] and "3/3" in statuses[-1] and len(statuses) <= 3 + 2, statuses
    for epoch in (1, 2, 3):
        shown = [s for s in statuses[1:-1] if f" {epoch}/3 " in s]
        assert len(shown) <= 1 and all("loss=" in s for s in shown), statuses
