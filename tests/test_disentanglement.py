"""Disentanglement metrics on dSprites' factors: codes that are the factors score near the top,
random codes and mixtures of the factors near the bottom; a real VAE run gets them from aelab evaluate."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aelab.cli import main
from aelab.data import dsprites
from aelab.evaluate.disentanglement import disentanglement_metrics

FACTORS = dsprites.factor_classes(dsprites.subsample(3000))
NAMES = list(dsprites.FACTOR_NAMES)


@pytest.fixture(scope="module")
def scores():
    rng = np.random.default_rng(0)
    truth = np.c_[FACTORS.astype(float), 0.01 * rng.normal(size=(len(FACTORS), 2))]  # + 2 unused dims
    shuffled = truth[rng.permutation(len(truth))]  # same codes, unrelated to the images' factors
    mixed = FACTORS @ rng.normal(size=(5, 7))  # every dimension mixes every factor
    return {name: disentanglement_metrics(codes, FACTORS, NAMES, seed=0)
            for name, codes in (("truth", truth), ("shuffled", shuffled), ("mixed", mixed))}


def test_the_factors_as_codes_score_near_one_and_unrelated_codes_near_zero(scores):
    truth, shuffled, mixed = scores["truth"], scores["shuffled"], scores["mixed"]
    assert truth["mig"] > 0.8 and shuffled["mig"] < 0.05 and mixed["mig"] < 0.2
    assert truth["factor_vae_score"] > 0.95 and shuffled["factor_vae_score"] < 0.5
    assert truth["dci_disentanglement"] > 0.9 and shuffled["dci_disentanglement"] < 0.1
    assert truth["dci_completeness"] > 0.9 and mixed["dci_disentanglement"] < 0.5
    assert truth["dci_informativeness"] > 0.9 and shuffled["dci_informativeness"] < 0.4
    assert truth["sap"] > 0.1 > shuffled["sap"]
    assert truth["factor_of_dimension"][:5] == NAMES


@pytest.mark.slow  # ~3 s on a shared machine
def test_aelab_evaluate_reports_disentanglement_and_draws_the_factor_traversal(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--no-progress", "--no-figures", "--set", "data.dataset=dsprites",
                 "--set", "data.limit=300", "--set", "model.latent_dim=3", "--set", "model.encoder_layers=[32]",
                 "--set", "training.epochs=1", "--set", "training.threads=1"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--splits", "test"]) == 0
    out = capsys.readouterr().out
    test = json.loads((run / "metrics.json").read_text())["test"]
    for key in ("mig", "factor_vae_score", "sap", "dci_disentanglement", "dci_completeness"):
        assert 0 <= test[key] <= 1 and key in out
    assert len(test["factor_of_dimension"]) == 3 and set(test["factor_of_dimension"]) <= set(NAMES)
    assert (run / "factor_traversal.png").stat().st_size > 5000


@pytest.mark.slow
def test_a_short_beta_tcvae_on_a_small_dsprites_grid_disentangles_more_than_an_ae(tmp_path):
    """The example's model type (examples/dsprites_betatcvae.json), shortened to a grid of one
    shape, two scales and upright sprites (2048 images), against a plain AE trained the same: the
    β-TC-VAE's codes let the FactorVAE score name the fixed factor far more often (0.84 against
    0.56 when measured; a guess scores about 1/3). MIG is not asserted: at 400 steps it is small for
    both (0.06 and 0.04), as it stays for the example at some seeds (README)."""
    scores = {}
    for kind in ("beta_tcvae", "ae"):
        run = tmp_path / kind
        assert main(["-q", "train", "--out", str(run), "--no-progress", "--no-figures",
                     "--set", "data.dataset=dsprites", "--set", "data.test_split=0.2",
                     "--set", 'data.factor_values={"shape": 1, "scale": 2, "orientation": 1}',
                     "--set", f"model.type={kind}", "--set", "model.encoder_layers=[128]",
                     "--set", "model.latent_dim=4", "--set", "training.steps=400",
                     "--set", "training.batch_size=64", "--set", "training.learning_rate=0.002",
                     "--set", "training.validation_split=0", "--set", "training.patience=null",
                     "--set", "training.seed=1", "--set", "training.threads=1",
                     "--set", "training.precision=fp32"]) == 0
        assert main(["-q", "evaluate", str(run), "--splits", "test", "--no-progress"]) == 0
        scores[kind] = json.loads((run / "metrics.json").read_text())["test"]
    assert scores["beta_tcvae"]["factor_vae_score"] > scores["ae"]["factor_vae_score"] + 0.1, scores
