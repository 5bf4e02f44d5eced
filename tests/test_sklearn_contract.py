"""The scikit-learn contract, honoured: scikit-learn's own estimator checks, parameters that
round-trip through get_params / set_params / clone / save / load, and one clear error for bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.utils import estimator_checks as checks
from sklearn.utils.estimator_checks import parametrize_with_checks

import aelab
from aelab import AE, DAE, VAE, BetaVAE
from aelab.cli import main

X = (load_digits().data[:300] / 16.0).astype(np.float32)

# scikit-learn's checks feed random real-valued features (negative, or around 100), while aelab's
# default models read pixels in [0, 1] (BCE and a sigmoid output) and refuse other values with a
# clear error. So the checks run on configurations made for real-valued data: MSE with an identity
# output, tanh hidden layers (a VAE's log-variance then stays finite on features around 100).
# Tiny networks and one epoch keep them fast; the behaviour checked does not depend on size.
REAL_VALUED = dict(latent_dim=1, encoder_layers=[4], activation="tanh", reconstruction_loss="mse",
                   output_activation="identity", epochs=1, batch_size=64, threads=1)
# Checks that cannot apply, each with why. Every other check of scikit-learn must pass.
NOT_APPLICABLE: dict[str, str] = {
    # (none today: with the configurations above every check of scikit-learn 1.9 passes, including
    # check_fit2d_1feature, which an autoencoder meets with the error it expects: one feature
    # cannot be compressed into a smaller latent space.)
}


@parametrize_with_checks([AE(**REAL_VALUED), VAE(**REAL_VALUED)],
                         expected_failed_checks=lambda estimator: NOT_APPLICABLE)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


# DAE, BetaVAE and Estimator share every method with AE and VAE (one base class); what is their
# own is the constructor, so they get the checks of the parameter contract (and of fitting once).
PARAMETER_CHECKS = (checks.check_parameters_default_constructible, checks.check_no_attributes_set_in_init,
                    checks.check_get_params_invariance, checks.check_set_params, checks.check_estimator_cloneable,
                    checks.check_estimators_overwrite_params, checks.check_dont_overwrite_parameters,
                    checks.check_estimators_unfitted, checks.check_n_features_in)


@pytest.mark.parametrize("estimator", [DAE(noise="gaussian:0.1", **REAL_VALUED), BetaVAE(beta=2.0, **REAL_VALUED),
                                       aelab.Estimator(model_type="beta_vae", beta=3.0, **REAL_VALUED)],
                         ids=["DAE", "BetaVAE", "Estimator"])
@pytest.mark.parametrize("check", PARAMETER_CHECKS, ids=lambda c: c.__name__)
def test_parameter_contract_of_the_other_estimators(estimator, check):
    check(type(estimator).__name__, estimator)


def test_every_estimator_lists_every_parameter_and_clone_keeps_them():
    dae = DAE(latent_dim=8, noise="salt_pepper:0.2", n_layers=2, learning_rate=3e-3)
    assert dae.get_params()["latent_dim"] == 8 and dae.get_params()["n_layers"] == 2
    assert clone(dae).get_params() == dae.get_params()
    assert BetaVAE().set_params(latent_dim=4, beta=2.0).get_params()["latent_dim"] == 4
    for cls in (AE, DAE, VAE, BetaVAE, aelab.Estimator):
        names = set(cls._get_param_names())
        assert {"latent_dim", "n_layers", "encoder_topology", "conv_channels", "conv_dense", "encoder", "decoder",
                "reconstruction_loss", "beta1", "weight_decay", "patience", "precision"} <= names, cls
    assert {"noise"} <= set(VAE._get_param_names()) and {"beta"} <= set(BetaVAE._get_param_names())
    assert DAE().noise == "gaussian:0.3" and VAE().noise is None  # a VAE may denoise too


def test_seed_rules_set_from_python_build_the_network_they_describe():
    vae = VAE(n_layers=3, latent_dim=4, epochs=1).fit(X)
    linear = [m for m in vae.model_.encoder.modules() if isinstance(m, torch.nn.Linear)]
    # seed 001's rule on 64 inputs and 4 latent: 64 -> 44 -> 24 -> (2 x 4: mean and log-variance)
    assert [(m.in_features, m.out_features) for m in linear] == [(64, 44), (44, 24), (24, 8)]
    conv = AE(architecture="conv", conv_channels=[4, 8], conv_dense=16, epochs=1).fit(X.reshape(-1, 8, 8))
    channels = [m.out_channels for m in conv.model_.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert channels == [4, 8]


def test_grid_search_trains_the_models_it_names():
    search = GridSearchCV(DAE(latent_dim=3, encoder_layers=[16], epochs=2, batch_size=64, noise="gaussian:0.2"),
                          {"latent_dim": [2, 5]}, cv=2).fit(X)
    assert search.best_estimator_.transform(X[:3]).shape[1] == search.best_params_["latent_dim"]
    assert search.best_estimator_.noise == "gaussian:0.2"


def test_save_load_and_clone_of_a_conv_run_rebuild_the_same_network(tmp_path):
    run = tmp_path / "conv"
    assert main(["train", "--out", str(run), "--no-progress", "--no-figures", "--set", "model.type=ae",
                 "--set", "model.architecture=conv", "--set", "model.conv_channels=[4,6]",
                 "--set", "model.conv_dense=12", "--set", "training.epochs=1", "--set", "data.limit=200"]) == 0
    loaded = aelab.load(run)
    assert (loaded.architecture, loaded.conv_channels, loaded.conv_dense) == ("conv", [4, 6], 12)
    shapes = [p.shape for p in loaded.model_.parameters()]
    refit = clone(loaded).fit(X[:100].reshape(-1, 8, 8))
    assert [p.shape for p in refit.model_.parameters()] == shapes
    path = refit.save(tmp_path / "conv.safetensors")
    again = aelab.load(path)
    assert again.get_params() == refit.get_params() and again.n_features_in_ == 64
    assert all(a.equal(b) for a, b in zip(again.model_.state_dict().values(), refit.model_.state_dict().values()))
    # the same weights, not necessarily the same float rounding: oneDNN may pick another convolution
    # kernel for the reloaded network (codes differ by ~2e-7 on an AVX2 EPYC)
    np.testing.assert_allclose(again.transform(X[:10].reshape(-1, 8, 8)), refit.transform(X[:10].reshape(-1, 8, 8)),
                               rtol=1e-5, atol=1e-6)


def test_save_into_a_folder_writes_the_model_inside_it(tmp_path):
    ae = AE(encoder_layers=[8], epochs=1).fit(X)
    folder = tmp_path / "models"
    folder.mkdir()
    assert ae.save(folder) == folder / "model.safetensors" and (folder / "model.safetensors").is_file()
    assert aelab.load(folder).transform(X[:2]).shape == (2, 2)
    assert ae.save(tmp_path / "named").name == "named.safetensors"


def test_bad_arrays_give_one_clear_error():
    assert issubclass(aelab.AelabError, ValueError)
    with pytest.raises(NotFittedError):
        VAE().transform(X)
    with pytest.raises(aelab.AelabError, match="not fitted"):
        VAE().sample(2)
    nan = X.copy()
    nan[3, 5] = np.nan
    with pytest.raises(aelab.AelabError, match="NaN or infinity") as info:
        VAE(epochs=1).fit(nan)
    assert "learning_rate" not in str(info.value)
    with pytest.raises(aelab.AelabError, match="NaN or infinity"):
        VAE(epochs=1).fit(np.where(nan != nan, np.inf, nan))
    with pytest.raises(aelab.AelabError, match="0 sample"):
        VAE(epochs=1).fit(X[:0])
    vae = VAE(encoder_layers=[8], epochs=1).fit(X)
    for call in (lambda: vae.transform(nan), lambda: vae.inverse_transform([[0.0, np.nan]]),
                 lambda: vae.score(nan)):
        with pytest.raises(aelab.AelabError, match="NaN or infinity"):
            call()
    with pytest.raises(aelab.AelabError, match="temperature nan"):
        vae.sample(4, temperature=float("nan"))
    with pytest.raises(aelab.AelabError, match="at least 1 sample"):
        vae.sample(0)
    with pytest.raises(aelab.AelabError, match="X has 10 features, but VAE is expecting 64"):
        vae.transform(X[:, :10])
    with pytest.raises(aelab.AelabError, match=r"pixel values lie in \[0, 2\]"):
        VAE(epochs=1).fit(X * 2)
