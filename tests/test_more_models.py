"""The model types of issue 12 (cvae, iwae, beta_tcvae, vqvae, wae) and the samplers, trained
for seconds on scikit-learn's digits: each must reach what its paper says it is for."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from sklearn.datasets import load_digits
from sklearn.neighbors import KNeighborsClassifier

import aelab
from aelab import cli, runs
from aelab.config import Config, load_config
from aelab.errors import AelabError
from aelab.evaluate.likelihood import elbo, iwae_bound
from aelab.experiments.train_run import train_run
from aelab.models import samplers

DIGITS = load_digits()
X, Y = DIGITS.data / 16, DIGITS.target


def fit(model_type, options=None, y=None, epochs=10, latent_dim=4, **params):
    return aelab.Estimator(model_type=model_type, options=options, latent_dim=latent_dim, encoder_layers=[64],
                           epochs=epochs, batch_size=32, seed=0, **params).fit(X, y)


def test_iwae_bound_is_tighter_than_the_elbo_and_logged():
    iwae = fit("iwae", {"samples": 5}, epochs=6)
    assert {"iwae_bound", "reconstruction_loss", "kl"} <= iwae.history_[-1].keys()
    data = torch.from_numpy(X[:400].astype(np.float32)).view(-1, 1, 1, 64)
    bound, lower = iwae_bound(iwae.model_, data, samples=50, seed=1).mean(), elbo(iwae.model_, data, seed=1).mean()
    assert bound > lower + 0.1, (bound, lower)


def test_vqvae_uses_its_codebook_and_samples_from_its_categorical_prior():
    vq = fit("vqvae", {"codebook_size": 32, "positions": 2}, epochs=12)
    last = vq.history_[-1]
    assert last["perplexity"] > 4 and last["codebook_usage"] > 0.3, last
    assert vq.history_[-1]["reconstruction_loss"] < vq.history_[0]["reconstruction_loss"]
    codes = vq.transform(X[:50])  # quantised: each half is a codebook entry
    book = vq.model_.codebook.detach().numpy()
    assert np.isclose(codes[:, None, :2], book[None]).all(-1).any(1).all()
    images = vq.sample(16, seed=3)
    assert images.shape == (16, 64) and images.std(0).mean() > 0.01  # not one image 16 times


@pytest.mark.slow  # ~3 s on a shared machine
def test_vqvae_restarts_dead_codes():
    # a codebook far larger than the data needs: without restarts most entries never get used
    with_restarts = fit("vqvae", {"codebook_size": 128, "positions": 1}, epochs=8, latent_dim=2)
    without = fit("vqvae", {"codebook_size": 128, "positions": 1, "restart_threshold": 0}, epochs=8, latent_dim=2)
    assert with_restarts.history_[-1]["perplexity"] > 1.5 * without.history_[-1]["perplexity"]


@pytest.mark.slow
def test_wae_mmd_falls_and_beta_tcvae_knows_the_dataset_size():
    wae = fit("wae", {"kernel": "rbf"}, epochs=8)
    assert wae.history_[-1]["mmd"] < 0.5 * wae.history_[0]["mmd"]
    tc = fit("beta_tcvae", {"beta": 6}, epochs=8, validation_split=0.25)
    assert tc.config_.model.options["dataset_size"] == len(X) - round(0.25 * len(X))
    assert {"mutual_information", "total_correlation", "dimension_kl"} <= tc.history_[-1].keys()
    free = fit("beta_tcvae", {"beta": 0}, epochs=8, validation_split=0.25)  # the TC weight does its work
    assert tc.history_[-1]["total_correlation"] < free.history_[-1]["total_correlation"] - 0.2


def test_cvae_draws_the_class_it_is_asked_for():
    cvae = fit("cvae", y=Y, epochs=8, latent_dim=2, learning_rate=3e-3)
    judge = KNeighborsClassifier(5).fit(X, Y)
    hits = [(judge.predict(cvae.sample(50, seed=k, label=k)) == k).mean() for k in range(10)]
    print("CVAE samples classified as their label:", np.round(hits, 2))
    assert np.mean(hits) >= 0.8, hits
    with pytest.raises(aelab.AelabError, match="label"):
        fit("vae", epochs=1).sample(4, label=3)


def test_gmm_sampler_fits_the_codes_better_than_one_gaussian():
    rng = np.random.default_rng(0)
    codes = np.r_[rng.normal(-4, 0.3, (300, 2)), rng.normal(4, 0.3, (300, 2))]
    gmm = samplers.FittedGMM.fit(codes, 2, seed=0).sample(400, seed=1)
    gauss = samplers.FittedGaussian.fit(codes).sample(400, seed=1)
    assert (np.abs(gmm[:, 0]) > 2).mean() > 0.95 and (np.abs(gauss[:, 0]) > 2).mean() < 0.8


@pytest.mark.parametrize("model_type", ["vqvae", "beta_tcvae"])
def test_resume_gives_identical_weights(tmp_path, model_type):
    overrides = [f"model.type={model_type}", "data.dataset=font5x7", "data.test_split=0.25", "training.epochs=4",
                 "model.encoder_layers=[32]", "model.latent_dim=4", "training.checkpoint_every=1",
                 "training.batch_size=8"]
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    train_run(load_config(None, overrides), whole, progress=False, figures=False)

    class StopAfter:
        def __call__(self, trainer, row):
            if trainer.state.epoch == 2:
                trainer.save_checkpoint(resumed / runs.CHECKPOINT)
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_run(load_config(None, overrides), resumed, progress=False, figures=False, callbacks=[StopAfter()])
    train_run(runs.read_config(resumed), resumed, resume=True, progress=False, figures=False)
    wa, wb = load_file(str(whole / runs.MODEL)), load_file(str(resumed / runs.MODEL))
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)


@pytest.mark.slow
def test_cvae_run_from_the_cli_generates_a_label_and_the_grid(tmp_path, capsys):
    run = tmp_path / "cvae"
    assert cli.main(["train", "--set", "model.type=cvae", "--set", "training.epochs=3", "--set",
                     "model.encoder_layers=[32]", "--out", str(run), "--no-progress"]) == 0
    assert runs.read_config(run).model.options == {"n_classes": 10}
    assert cli.main(["generate", str(run), "--label", "7", "-n", "8", "--out", str(tmp_path / "sevens.png")]) == 0
    assert (tmp_path / "sevens.png").is_file() and (run / "samples.png").is_file()
    assert cli.main(["generate", str(run), "--sampler", "gmm", "--label", "3", "--out", str(tmp_path / "g.png")]) == 0
    assert cli.main(["generate", str(run), "--label", "x"]) == 2
    assert "not a label" in capsys.readouterr().err
    assert cli.main(["interpolate", str(run), "--from", "1", "--to", "7", "--out", str(tmp_path / "i.png")]) == 0
    assert cli.main(["traverse", str(run)]) == 2
    err = capsys.readouterr().err
    assert "does not apply to a 'cvae'" in err and len(err.strip().splitlines()) == 1


def test_estimators_of_the_new_types_clone_save_and_load(tmp_path):
    from sklearn.base import clone

    cvae = fit("cvae", y=Y, epochs=2)
    again = clone(cvae)
    assert again.get_params() == cvae.get_params() and not hasattr(again, "model_")
    loaded = aelab.load(cvae.save(tmp_path / "cvae"))
    assert isinstance(loaded, aelab.Estimator) and loaded.model_type == "cvae"
    assert np.array_equal(loaded.sample(8, seed=5, label=7), cvae.sample(8, seed=5, label=7))
    vq = fit("vqvae", {"codebook_size": 16}, epochs=2)
    loaded = aelab.load(vq.save(tmp_path / "vq"))  # the prior (usage buffer) travels with the weights
    assert np.array_equal(loaded.sample(8, seed=5), vq.sample(8, seed=5))
    assert clone(loaded).get_params()["options"]["codebook_size"] == 16


def test_kl_annealing_acts_on_a_cvae_and_is_refused_where_no_kl_term_reads_it(capsys, tmp_path):
    images, labels = load_digits().data[:300].reshape(-1, 8, 8) / 16, load_digits().target[:300]
    cvae = aelab.Estimator(model_type="cvae", latent_dim=2, encoder_layers=[32], kl_annealing="linear",
                           kl_annealing_epochs=2, epochs=3, batch_size=50, seed=1).fit(images, labels)
    betas = [row["beta"] for row in cvae.history_]
    assert betas[0] < 1.0 and betas[-1] == 1.0  # the CVAE's KL weight was annealed up to its beta
    for model_type in ("iwae", "beta_tcvae"):
        code = cli.main(["-q", "train", "--runs-dir", str(tmp_path), "--no-progress", "--set", f"model.type={model_type}",
                         "--set", "training.kl_annealing=linear", "--set", "training.epochs=1"])
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("aelab: error:")]
        assert code == 2 and len(errors) == 1 and f"a '{model_type}' does not weigh" in errors[0]
    assert list(tmp_path.iterdir()) == []  # refused before a run folder was kept


def test_beta_tcvae_logs_its_loss_as_parts_that_read_as_their_names():
    """The three parts are minibatch estimates (dimension_kl may be negative); `kl`, their sum, is
    the KL term itself, and loss = reconstruction_loss + kl + tc_penalty (issue 27)."""
    tc = fit("beta_tcvae", {"beta": 6}, epochs=4)
    for row in tc.history_:
        parts = row["mutual_information"] + row["total_correlation"] + row["dimension_kl"]
        assert row["kl"] == pytest.approx(parts, rel=1e-4, abs=1e-4)
        assert row["tc_penalty"] == pytest.approx(5 * row["total_correlation"], rel=1e-4, abs=1e-4)
        assert row["loss"] == pytest.approx(row["reconstruction_loss"] + row["kl"] + row["tc_penalty"], rel=1e-4)
    # `kl` is the KL of the posterior to the prior: it matches the closed form on the same images.
    model = tc.model_.eval()
    data = torch.from_numpy(X.astype(np.float32)).view(-1, 1, 1, 64)
    with torch.no_grad():
        terms = model.objective(data, torch.Generator().manual_seed(0))
        out = model(data, generator=torch.Generator().manual_seed(0))
    exact = (0.5 * (out.mean.square() + out.logvar.exp() - 1 - out.logvar).sum(1)).mean()
    assert float(terms["kl"]) > 0 and float(terms["kl"]) == pytest.approx(float(exact), rel=0.1)


def test_beta_tcvae_refuses_model_beta_instead_of_ignoring_it():
    """Its total correlation's weight is model.options.beta; a model.beta beside it was once ignored
    in silence, so `--set model.beta=10` trained with β = 6."""
    with pytest.raises(AelabError, match=r"model\.beta: a 'beta_tcvae' .* model\.options\.beta"):
        load_config(None, ["model.type=beta_tcvae", "model.beta=10"])
    reused = load_config(None, ["model.type=vae"]).to_dict()  # a VAE run's config.json holds beta 1.0
    reused["model"]["type"] = "beta_tcvae"
    assert Config.model_validate(reused).model.beta is None


def test_gmm_sampler_gives_each_component_enough_codes_not_to_copy_them():
    """200 components asked on 130 codes: a component per two codes would redraw training images;
    the mixture keeps at least MIN_CODES_PER_COMPONENT codes per component instead."""
    codes = np.random.default_rng(0).normal(size=(130, 4))
    gmm = samplers.FittedGMM.fit(codes, 200, seed=0)
    assert len(gmm.weights) == 130 // samplers.gmm.MIN_CODES_PER_COMPONENT == 10
    assert len(samplers.FittedGMM.fit(np.random.default_rng(0).normal(size=(4000, 2)), 3, seed=0).weights) == 3
