"""The estimators' one parameter table (aelab/estimator_params.py): every parameter documented
from the config schema, and a row added to the table reaching the constructor, get_params, the
config and back, and the docstring, with nothing else edited."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits

import aelab
from aelab import api, estimator_params
from aelab.estimator_params import Param

ESTIMATORS = (aelab.AE, aelab.DAE, aelab.VAE, aelab.BetaVAE, aelab.Estimator)


def documented(cls) -> dict[str, tuple[str, str]]:
    """name -> (the `name : type, default=...` line's default, the meaning below it), read back
    from the class docstring's numpydoc Parameters section."""
    section = inspect.getdoc(cls).split("Parameters\n----------\n", 1)[1]
    found = {}
    for m in re.finditer(r"^(\w+) : (.+), default=(.+)\n((?:    .*\n?)+)", section, re.M):
        found[m.group(1)] = (m.group(3), " ".join(m.group(4).split()))
    return found


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_every_parameter_is_documented_with_its_default_and_a_meaning(cls):
    signature = inspect.signature(cls)
    docs = documented(cls)
    assert list(docs) == list(signature.parameters) and set(docs) == set(cls._get_param_names())
    for name, parameter in signature.parameters.items():
        default, meaning = docs[name]
        assert default == repr(parameter.default), name
        said = re.sub(r"Config key `[\w.]+`\.", "", meaning).strip()
        assert len(said.split()) >= 3, f"{cls.__name__}({name}=...) has no meaning in its docstring: {meaning!r}"
    assert len(signature.parameters) >= 45
    summary = cls.__doc__.split("Parameters\n")[0]  # the hand-written part, its indentation cleaned
    assert summary.strip() and not any(line.startswith(" ") for line in summary.splitlines()), summary


def test_a_subclass_declares_only_its_own_and_gets_the_rest():
    assert list(inspect.signature(aelab.DAE).parameters)[0] == "noise" and aelab.DAE().noise == "gaussian:0.3"
    assert list(inspect.signature(aelab.BetaVAE).parameters)[0] == "beta" and aelab.BetaVAE().beta == 4.0
    assert aelab.Estimator().latent_dim is None and aelab.AE().latent_dim == 2
    shared = set(inspect.signature(aelab.AE).parameters)
    assert set(inspect.signature(aelab.BetaVAE).parameters) == shared | {"beta"}
    assert set(inspect.signature(aelab.Estimator).parameters) == shared | {"model_type", "options", "beta"}
    with pytest.raises(TypeError, match="unexpected keyword"):
        aelab.VAE(beta=2.0)  # a VAE's beta is 1: the table gives it to BetaVAE and Estimator only


def test_a_row_added_to_the_table_reaches_init_get_params_the_config_and_the_docstring(monkeypatch):
    # training.snapshot_every is a config key the estimators do not offer: one row makes it one.
    row = Param("snapshot_every", "training.snapshot_every")
    monkeypatch.setattr(estimator_params, "PARAMS", (*estimator_params.PARAMS, row))
    monkeypatch.setattr(estimator_params, "ALL", (*estimator_params.ALL, row))

    class Patched(api._Autoencoder):
        """An AE whose table has one row more."""
        _model_type = "ae"

    assert inspect.signature(Patched).parameters["snapshot_every"].default is None  # the schema's default
    estimator = Patched(snapshot_every=5, encoder_layers=[8], epochs=1)
    assert estimator.get_params()["snapshot_every"] == 5 == clone(estimator).snapshot_every
    config = estimator._config()
    assert config.training.snapshot_every == 5  # parameter -> config
    assert estimator_params.from_config(config)["snapshot_every"] == 5  # config -> parameter
    default, meaning = documented(Patched)["snapshot_every"]
    assert default == "None" and "snapshot" in meaning and "`training.snapshot_every`" in meaning
    assert "snapshot_every" not in inspect.signature(aelab.AE).parameters  # classes made before: as they were


def test_parameters_round_trip_through_a_saved_model(tmp_path):
    X = (load_digits().data[:120] / 16.0).astype(np.float32)
    dae = aelab.DAE(noise="salt_pepper:0.2", encoder_layers=[16, 8], steps=6, warmup_steps=2, gmm_components=3,
                    sampler="gmm", batch_size=32).fit(X)
    again = aelab.load(dae.save(tmp_path / "dae"))
    listed = {k: list(v) if isinstance(v, tuple) else v for k, v in dae.get_params().items()}
    assert again.get_params() == listed
    # the config alone (a run folder's) gives back what it holds, steps included
    params = api.params_from_config(dae.config_)
    assert (params["noise"], params["steps"], params["warmup_steps"], params["encoder_layers"]) == \
        ("salt_pepper:0.2", 6, 2, [16, 8])


def test_the_sharp_loss_and_adversarial_settings_reach_training():
    """ms_ssim_weight, adversarial_weight and adversarial_start_epoch were config keys only: an
    estimator could not ask for them. Trained for real on digits (8x8 images)."""
    from sklearn.datasets import load_digits

    X = (load_digits().data[:400] / 16).reshape(-1, 8, 8)
    common = dict(latent_dim=4, encoder_layers=[32], epochs=3, batch_size=64, seed=0,
                  reconstruction_loss="ms_ssim_l1")
    light, heavy = (aelab.Estimator(ms_ssim_weight=w, **common).fit(X) for w in (0.2, 0.9))
    assert light.get_params()["ms_ssim_weight"] == 0.2 and light.history_[0]["loss"] != heavy.history_[0]["loss"]
    game = aelab.Estimator(adversarial_weight=0.1, adversarial_start_epoch=1, **common).fit(X)
    assert ["adversarial_loss" in r for r in game.history_] == [False, True, True]
    assert clone(game).get_params()["adversarial_start_epoch"] == 1
