"""The Python API, in scikit-learn's style: fit, transform, inverse_transform, reconstruct,
sample, score, save and load."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits

import aelab
from aelab import AE, DAE, VAE, BetaVAE
from aelab.cli import main

X = (load_digits().data / 16).astype(np.float32)  # (1797, 64) in [0, 1]


@pytest.fixture(scope="module")
def vae():
    return VAE(latent_dim=2, encoder_layers=[64, 32], learning_rate=3e-3, seed=42).fit(X, epochs=25, batch_size=32)


def test_vae_maps_to_and_from_its_latent_space(vae):
    Z = vae.transform(X)
    assert Z.shape == (1797, 2) and np.isfinite(Z).all()
    back = vae.inverse_transform(Z[:10])
    assert back.shape == (10, 64) and back.min() >= 0 and back.max() <= 1
    assert np.allclose(vae.reconstruct(X[:10]), back, atol=1e-6)
    assert vae.sample(7).shape == (7, 64)
    # The codes carry the digit: neighbours in the 2-D latent space mostly share a label.
    from sklearn.neighbors import KNeighborsClassifier

    y = load_digits().target
    accuracy = KNeighborsClassifier(5).fit(Z[:1400], y[:1400]).score(Z[1400:], y[1400:])
    assert accuracy > 0.5, accuracy


def test_score_is_the_mean_elbo_and_improves_with_training(vae):
    untrained = VAE(latent_dim=2, encoder_layers=[64, 32], seed=42).fit(X, epochs=1, batch_size=1797)
    assert vae.score(X) > untrained.score(X) + 3
    assert -30 < vae.score(X) < -14  # nats per image: BCE summed over 64 grey pixels + KL


def test_save_and_load_round_trip_to_identical_outputs(vae, tmp_path):
    path = vae.save(tmp_path / "vae")
    assert path.name == "vae.safetensors"
    loaded = aelab.load(path)
    assert type(loaded) is VAE and loaded.latent_dim == 2
    assert np.array_equal(loaded.transform(X[:50]), vae.transform(X[:50]))
    assert np.array_equal(loaded.inverse_transform([[0.5, -1.0]]), vae.inverse_transform([[0.5, -1.0]]))
    assert loaded.score(X[:200]) == pytest.approx(vae.score(X[:200]))


def test_any_image_layout_comes_back_in_that_layout():
    images = X.reshape(-1, 8, 8)[:300]
    ae = AE(latent_dim=4, encoder_layers=[32], seed=1).fit(images, epochs=2)
    assert ae.transform(images).shape == (300, 4)
    assert ae.reconstruct(images[:5]).shape == (5, 8, 8)
    rgb = np.repeat(images[..., None], 3, axis=-1)  # (N, H, W, C)
    ae3 = AE(latent_dim=4, encoder_layers=[32], seed=1).fit(rgb, epochs=1)
    assert ae3.reconstruct(rgb[:5]).shape == (5, 8, 8, 3)
    uint8 = (images * 255).astype(np.uint8)
    assert AE(latent_dim=4, encoder_layers=[32]).fit(uint8, epochs=1).transform(uint8).shape == (300, 4)


def test_dae_and_beta_vae_and_ae_sampling():
    dae = DAE(noise="salt_pepper:0.1", latent_dim=4, encoder_layers=[32], seed=3).fit(X[:400], epochs=3)
    assert dae.config_.model.noise.type == "salt_pepper" and dae.config_.model.noise.p == 0.1
    beta = BetaVAE(beta=8, latent_dim=4, encoder_layers=[32]).fit(X[:400], epochs=3)
    assert beta.config_.model.beta == 8
    samples = dae.sample(6)  # from a Gaussian fitted to the training codes
    assert samples.shape == (6, 64) and np.isfinite(samples).all()


def test_estimators_are_scikit_learn_estimators():
    v = VAE(latent_dim=3, learning_rate=0.01)
    assert v.get_params()["latent_dim"] == 3
    c = clone(v).set_params(latent_dim=5)
    assert c.latent_dim == 5 and v.latent_dim == 3


def test_bad_input_to_the_api_names_the_problem():
    with pytest.raises(aelab.AelabError, match="not fitted"):
        VAE().transform(X)
    with pytest.raises(aelab.AelabError, match="model.type|latent_dim"):
        VAE(latent_dim=0).fit(X[:10], epochs=1)
    ae = AE(latent_dim=2, encoder_layers=[8]).fit(X[:50], epochs=1)
    with pytest.raises(aelab.AelabError, match=r"shape \(N, 2\)"):
        ae.inverse_transform(np.zeros((3, 5)))
    with pytest.raises(aelab.AelabError):
        ae.transform(np.zeros((3, 10)))


def test_a_run_folder_from_the_cli_loads_in_python(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--no-progress", "--no-figures", "--set", "training.epochs=2"]) == 0
    model = aelab.load(run)
    assert type(model) is VAE
    assert model.transform(X[:5].reshape(5, 1, 8, 8)).shape == (5, 2)


def test_image_network_and_schedules_are_estimator_parameters():
    """What a config sets for real images (image_conv widths, KL annealing, lr schedule, clipping)
    is a parameter in Python too, reaches the training, and survives clone."""
    images = X[:400].reshape(-1, 8, 8)
    vae = VAE(latent_dim=4, architecture="image_conv", stage_channels=(8, 16), residual_blocks=1,
              normalization="group", kl_annealing="linear", kl_annealing_epochs=2, lr_schedule="cosine",
              gradient_clip=5.0, epochs=4, batch_size=50, seed=1)
    assert clone(vae).get_params() == vae.get_params()
    vae.fit(images)
    model = vae.config_.model
    assert model.stage_channels == [8, 16] and model.residual_blocks == [1, 1] and model.normalization == "group"
    betas = [row["beta"] for row in vae.history_]
    rates = [row["learning_rate"] for row in vae.history_]
    assert betas == sorted(betas) and betas[0] < betas[-1] == 1.0  # the KL weight rose to the model's beta
    assert rates == sorted(rates, reverse=True) and rates[-1] < rates[0]  # cosine decay


def test_an_estimator_takes_a_latent_grid_and_a_budget_in_steps():
    """latent_channels makes the image network's code a grid (its latent_dim follows from the
    image size); steps sets the training budget in optimizer steps, whatever the data's size."""
    X = load_digits().images[:640] / 16.0  # 8x8: two stride-2 stages leave a 2x2 grid
    model = BetaVAE(beta=0.1, architecture="image_conv", stage_channels=(16, 32), latent_channels=3,
                    reconstruction_loss="mse", steps=40, warmup_steps=5, batch_size=64, seed=3)
    codes = model.fit(X).transform(X[:5])
    assert codes.shape == (5, 12)  # 3 values at each of 2x2 positions
    assert model.n_epochs_ == 4 and model.config_.training.warmup_steps == 5  # 40 steps of 10 a epoch
    assert clone(model).get_params()["latent_channels"] == 3 and clone(model).get_params()["steps"] == 40
