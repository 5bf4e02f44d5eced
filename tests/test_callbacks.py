"""Callbacks from Python (`fit(X, callbacks=[...])`): real training on the digits; a callback sees
every epoch, can stop training at the epoch it chooses, and looking at the model (or drawing
random numbers) from a callback changes nothing that training computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import aelab
from aelab import runs
from aelab.config import load_config
from aelab.experiments.train_run import train_run
from aelab.models.inference import reconstruct

X = load_digits().images / 16  # (1797, 8, 8) in [0, 1]


class Recorder(aelab.Callback):
    """Every hook call, in order, with what the trainer showed it."""

    def __init__(self):
        self.calls, self.rows, self.modes, self.validation = [], [], [], []

    def on_train_begin(self, trainer):
        self.calls.append("begin")

    def on_epoch_end(self, trainer, row):
        self.calls.append(row["epoch"])
        self.rows.append(dict(row))
        self.modes.append(trainer.model.training)
        self.validation.append(trainer.validation_images())

    def on_train_end(self, trainer):
        self.calls.append("end")


def test_a_callback_sees_every_epochs_row_the_model_and_the_validation_images():
    recorder, seen = Recorder(), []
    vae = aelab.VAE(latent_dim=2, encoder_layers=[32], epochs=5, batch_size=64, validation_split=0.2, seed=3)
    vae.fit(X, callbacks=[recorder, lambda trainer, row: seen.append(row["epoch"])])  # a function is on_epoch_end
    assert recorder.calls == ["begin", 1, 2, 3, 4, 5, "end"] and seen == [1, 2, 3, 4, 5]
    assert recorder.rows == vae.history_  # the very rows of the history, val_loss included
    assert all("val_loss" in row and "loss" in row for row in recorder.rows)
    assert recorder.modes == [False] * 5  # eval mode during the hooks
    images = recorder.validation[0]
    assert images.shape == (round(0.2 * len(X)), 1, 8, 8) and images.dtype == torch.float32
    assert 0 <= images.min() and images.max() <= 1 and images.max() > 0.9
    assert all(torch.equal(images, v) for v in recorder.validation)  # the same split every epoch


def test_without_a_validation_split_there_are_no_validation_images():
    recorder = Recorder()
    aelab.AE(latent_dim=2, encoder_layers=[16], epochs=1).fit(X[:200], callbacks=[recorder])
    assert recorder.validation == [None]


class StopAt(aelab.Callback):
    def __init__(self, epoch):
        self.epoch, self.ended = epoch, None

    def on_epoch_end(self, trainer, row):
        if row["epoch"] == self.epoch:
            trainer.stop("enough for this test")

    def on_train_end(self, trainer):
        self.ended = trainer.state.epoch


def test_a_callback_stops_training_after_the_epoch_it_chooses():
    stop = StopAt(3)
    ae = aelab.AE(latent_dim=2, encoder_layers=[32], epochs=20, seed=1).fit(X, callbacks=[stop])
    assert ae.n_epochs_ == 3 and [r["epoch"] for r in ae.history_] == [1, 2, 3] and stop.ended == 3


def test_a_callback_that_stops_a_cli_run_ends_it_like_early_stopping(tmp_path):
    overrides = ["model.encoder_layers=[32]", "training.epochs=10", "training.snapshot_every=1"]
    metrics = train_run(load_config(None, overrides), tmp_path, progress=False, figures=False,
                        callbacks=[StopAt(2)])
    assert metrics["epochs_run"] == 2 and metrics["stopped_early"] is True
    assert len(runs.read_history(tmp_path / runs.HISTORY)) == 2
    # the run's own snapshots, callbacks of the same kind, saw the stop: a strip per epoch, then the GIF
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == ["epoch_0001.png", "epoch_0002.png"]
    assert (tmp_path / "training.gif").is_file()


class LookAndDraw(aelab.Callback):
    """What a user's callback does: reconstruct images through BatchNorm layers and draw random numbers."""

    def on_epoch_end(self, trainer, row):
        reconstruct(trainer.model, trainer.validation_images()[:32])
        trainer.model(trainer.validation_images()[:8])  # the forward pass too, z drawn from the global RNG
        torch.randn(100), np.random.rand(10)


def test_callbacks_leave_the_trained_weights_exactly_as_without_them():
    # image_conv networks have BatchNorm layers: a callback running them in train mode would move
    # their running statistics, and the weights saved would differ
    params = dict(model_type="vae", latent_dim=2, architecture="image_conv", stage_channels=[8, 16],
                  epochs=3, batch_size=128, validation_split=0.2, seed=7)
    plain = aelab.Estimator(**params).fit(X)
    watched = aelab.Estimator(**params).fit(X, callbacks=[LookAndDraw()])
    a, b = plain.model_.state_dict(), watched.model_.state_dict()
    assert any("running_mean" in k for k in a)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    timeless = lambda history: [{k: v for k, v in row.items() if k != "seconds"} for row in history]
    assert timeless(plain.history_) == timeless(watched.history_)


def test_something_that_is_not_a_callback_is_one_line():
    with pytest.raises(aelab.AelabError, match="neither an aelab.Callback nor a function"):
        aelab.AE(epochs=1).fit(X[:50], callbacks=[3])

    class Half:
        def on_epoch_end(self, trainer, row):
            pass

    with pytest.raises(aelab.AelabError, match="Half has no on_train_begin, on_train_end; derive it from aelab.Callback"):
        aelab.AE(epochs=1).fit(X[:50], callbacks=[Half()])
