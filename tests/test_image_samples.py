"""Samples of real images: `model.sampler` and `model.gmm_components` drive samples.png, `aelab
generate`, the estimators' sample() and `aelab evaluate --fd-samples`, whose Fréchet distance works
on unlabelled folders through a classifier of which way up an image is. Trained on the shipped emojis."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import aelab
from aelab import runs
from aelab.cli import main
from aelab.config import load_config
from aelab.data.prepare import prepare_data
from aelab.evaluate.feature_classifier import classifier_for, predict, rotations
from aelab.evaluate.run_evaluation import evaluate_run
from aelab.evaluate.sample_quality import frechet_distance
from aelab.experiments.train_run import train_run
from shared_data import MNIST_TEST_DIR

EMOJIS = ["data.dataset=folder", "data.input_size=32", "data.channels=3",
          "model.architecture=image_conv", "model.stage_channels=[16,32,64]", "model.latent_dim=32",
          "model.activation=leaky_relu", "model.type=beta_vae", "model.beta=0.05",
          "model.reconstruction_loss=mse", "training.batch_size=16", "training.patience=null",
          "training.learning_rate=0.002", "training.epochs=30", "training.snapshot_every=null"]


@pytest.fixture(scope="module")
def flat_emojis(tmp_path_factory) -> str:
    """The shipped emojis in one folder: images without labels, as most users' folders are."""
    folder = tmp_path_factory.mktemp("flat") / "emojis"
    folder.mkdir()
    for png in Path("examples/emojis").rglob("*.png"):
        shutil.copy(png, folder / f"{png.parent.name}-{png.name}")
    return f"data.path={folder}"


@pytest.fixture(scope="module")
def emoji_run(tmp_path_factory, flat_emojis):
    """A small VAE of the shipped emojis whose samples.png comes from a 4-component mixture."""
    run = tmp_path_factory.mktemp("samples") / "emojis"
    config = load_config(None, EMOJIS + [flat_emojis, "model.sampler=gmm", "model.gmm_components=4"])
    metrics = train_run(config, run, progress=False)
    return run, config, metrics


@pytest.mark.parametrize("setting, key", [
    (["model.type=ae", "model.sampler=prior"], "model.sampler"),
    (["model.sampler=mixture"], "model.sampler"),
    (["model.gmm_components=0"], "model.gmm_components"),
    (["model.gmm_components=5000"], "model.gmm_components"),
])
def test_bad_sampler_settings_are_refused_in_one_line_naming_the_key(tmp_path, capsys, setting, key):
    args = ["train", "--set", "data.path=examples/emojis", "--out", str(tmp_path / "run")] + [a for s in setting for a in ("--set", s)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and key in err and "Traceback" not in err, err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_without_labels_the_classifier_learns_which_way_up_images_are_and_its_distance_ranks():
    """MNIST's test set with its labels dropped: the orientation classifier must tell quarter turns
    of held-out digits apart, and its Fréchet distance must put real digits far nearer the training
    digits than blurred ones."""
    config = load_config(None, ["data.dataset=mnist", f"data.path={MNIST_TEST_DIR}", "data.published_split=test"])
    train, _, test = (dataclasses.replace(d, labels=None) for d in prepare_data(config))
    assert rotations(train) == 4
    classifier = classifier_for(train)
    turns = np.arange(len(test.images)) % 4
    turned = np.stack([np.rot90(x, k, axes=(1, 2)) for x, k in zip(test.images, turns)])
    accuracy = float((predict(classifier, torch.from_numpy(np.ascontiguousarray(turned))).numpy() == turns).mean())
    assert accuracy > 0.9, accuracy  # chance is 0.25; measured 0.97
    blurred = np.repeat(np.repeat(test.images[:, :, ::4, ::4], 4, axis=2), 4, axis=3)
    real = frechet_distance(train.images, test.images, classifier)
    blurry = frechet_distance(train.images, blurred, classifier)
    assert real < 0.05 * blurry, (real, blurry)  # measured 0.27 against 416


@pytest.mark.slow
def test_samples_png_comes_from_the_configured_mixture_and_beats_the_prior(emoji_run):
    run, _, _ = emoji_run
    assert (run / "samples.png").stat().st_size > 0
    results = evaluate_run(run, fd_samples=300)  # the run's sampler: the mixture
    evaluate_run(run, fd_samples=300, sampler="prior")
    metrics = runs.read_json(run / runs.METRICS)["test"]
    assert "classifier_accuracy" not in metrics  # no labels: nothing to be accurate about
    mixture, prior = results["test"]["frechet_distance"], metrics["frechet_distance_prior"]
    # beta 0.05 leaves the codes far from N(0, I): the mixture fitted to them draws far nearer images
    assert mixture < 0.7 * prior, (mixture, prior)


@pytest.mark.slow  # the emoji_run fixture: ~6 s (test tiers)
def test_generate_uses_the_runs_sampler_and_says_which(emoji_run, tmp_path, capsys):
    run, _, _ = emoji_run
    assert main(["generate", str(run), "-n", "8", "--out", str(tmp_path / "g.png")]) == 0
    assert main(["generate", str(run), "-n", "8", "--sampler", "prior", "--out", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "g.png").stat().st_size > 0 and (tmp_path / "p.png").stat().st_size > 0


@pytest.mark.slow  # needs the emoji_run fixture
def test_estimator_with_a_mixture_sampler_saves_it_and_draws_the_same_images(emoji_run, tmp_path):
    _, config, _ = emoji_run
    train = prepare_data(config)[0]
    X = train.images.transpose(0, 2, 3, 1)  # (N, H, W, C) uint8, as a user holds images
    vae = aelab.BetaVAE(beta=0.05, architecture="image_conv", stage_channels=[16, 32, 64], latent_dim=16,
                        activation="leaky_relu", reconstruction_loss="mse", sampler="gmm", gmm_components=3,
                        epochs=3, batch_size=32, seed=3)
    vae.fit(X)
    assert len(vae.sampler_.weights) == 3
    drawn = vae.sample(6, seed=1)
    assert drawn.shape == (6, 32, 32, 3)
    again = aelab.load(vae.save(tmp_path / "vae"))
    assert again.get_params()["sampler"] == "gmm" and again.gmm_components == 3
    np.testing.assert_allclose(again.sample(6, seed=1), drawn, atol=1e-6)
