"""Open architecture: a model type registered from this file trains through a CLI config and through
the Python API; your own networks, from Python objects and from a factory's import path."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import BaseModel, ConfigDict, Field
from sklearn.base import clone
from sklearn.datasets import load_digits
from torch import nn

import aelab
from aelab.cli import main
from aelab.models import Autoencoder, register_model

X = (load_digits().data[:400] / 16.0).astype(np.float32)  # (400, 64)


# ------------------------------------------------- a model type defined here, as a user would

class SparseOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weight: float = Field(0.1, ge=0)  # of the L1 penalty on the codes


class SparseAE(Autoencoder):
    """An AE whose codes pay an L1 price: loss = reconstruction_loss + weight * sparsity."""
    Options = SparseOptions

    def loss_terms(self, out, target):
        terms = super().loss_terms(out, target)
        terms["sparsity"] = out.mean.abs().sum(1).mean()
        terms["loss"] = terms["loss"] + self.options.weight * terms["sparsity"]
        return terms


register_model("sparse_ae", SparseAE)


# ---------------------------------------------------- networks of one's own, for a config

def tiny_encoder(input_shape, out_features):
    return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), 24), nn.Tanh(), nn.Linear(24, out_features))


def tiny_decoder(latent_dim, output_shape):
    return nn.Sequential(nn.Linear(latent_dim, 24), nn.Tanh(), nn.Linear(24, int(np.prod(output_shape))),
                         nn.Unflatten(1, tuple(output_shape)))


def test_registered_type_trains_from_a_cli_config_and_loads_in_python(tmp_path, capsys):
    config = {"data": {"dataset": "digits", "limit": 300},
              "model": {"type": "sparse_ae", "latent_dim": 4, "encoder_layers": [32], "options": {"weight": 0.5}},
              "training": {"epochs": 3, "batch_size": 32, "threads": 1}}
    (tmp_path / "sparse.json").write_text(json.dumps(config))
    run = tmp_path / "run"
    assert main(["train", "--config", str(tmp_path / "sparse.json"), "--out", str(run), "--no-progress",
                 "--no-figures"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["loss"] == pytest.approx(
        metrics["test"]["reconstruction_loss"] + 0.5 * metrics["test"]["sparsity"], rel=1e-4)
    assert "sparsity" in (run / "history.csv").read_text().splitlines()[0]
    model = aelab.load(run)  # a plug-in type comes back as the generic estimator with its options
    assert isinstance(model, aelab.Estimator) and model.model_type == "sparse_ae"
    assert model.options == {"weight": 0.5} and model.transform(X[:5].reshape(5, 1, 8, 8)).shape == (5, 4)
    # A misspelt option is one line naming it.
    assert main(["train", "--config", str(tmp_path / "sparse.json"), "--set", "model.options.wieght=1",
                 "--runs-dir", str(tmp_path / "runs"), "--no-progress"]) == 2
    assert "model.options.wieght" in capsys.readouterr().err


def test_registered_type_trains_from_python_and_its_term_does_its_job():
    common = dict(latent_dim=4, encoder_layers=[32], epochs=8, batch_size=32, seed=0)
    plain = aelab.Estimator(model_type="sparse_ae", options={"weight": 0.0}, **common).fit(X)
    sparse = aelab.Estimator(model_type="sparse_ae", options={"weight": 2.0}, **common).fit(X)
    assert set(sparse.history_[-1]) >= {"loss", "reconstruction_loss", "sparsity"}
    # The penalty shrinks the codes: the plug-in's objective is what was trained.
    assert np.abs(sparse.transform(X)).sum(1).mean() < 0.5 * np.abs(plain.transform(X)).sum(1).mean()
    again = clone(sparse)
    assert again.get_params() == sparse.get_params()


def test_networks_given_as_python_objects(tmp_path):
    encoder, decoder = tiny_encoder((1, 1, 64), 4), tiny_decoder(2, (1, 1, 64))
    before = [p.detach().clone() for p in encoder.parameters()]
    vae = aelab.VAE(encoder=encoder, decoder=decoder, epochs=10, batch_size=32, seed=0).fit(X)
    assert all(torch.equal(a, b) for a, b in zip(before, encoder.parameters()))  # fit trains a copy
    assert vae.history_[-1]["loss"] < vae.history_[0]["loss"]
    assert isinstance(vae.model_.encoder[1], nn.Linear) and vae.transform(X).shape == (400, 2)
    path = vae.save(tmp_path / "custom.safetensors")
    with pytest.raises(aelab.AelabError, match=r"custom encoder given as a Python object.*encoder="):
        aelab.load(path)
    back = aelab.load(path, encoder=tiny_encoder((1, 1, 64), 4), decoder=tiny_decoder(2, (1, 1, 64)))
    np.testing.assert_allclose(back.transform(X[:20]), vae.transform(X[:20]), atol=1e-6)


@pytest.mark.parametrize("encoder, decoder, message", [
    (lambda: tiny_encoder((1, 1, 64), 3), lambda: tiny_decoder(2, (1, 1, 64)), r"to \(2, 3\).*needs \(2, 4\)"),
    (lambda: tiny_encoder((1, 1, 64), 4), lambda: tiny_decoder(2, (1, 8, 8)), r"it must give images \(2, 1, 1, 64\)"),
    (lambda: tiny_encoder((1, 1, 50), 4), lambda: tiny_decoder(2, (1, 1, 64)), "the encoder fails on images"),
])
def test_networks_that_do_not_fit_say_so(encoder, decoder, message):
    with pytest.raises(aelab.AelabError, match=message):
        aelab.VAE(encoder=encoder(), decoder=decoder(), epochs=1).fit(X[:40])


def test_network_factories_from_a_config_and_a_missing_factory(tmp_path, capsys, monkeypatch):
    # The factory lives in a module of its own, which then disappears.
    (tmp_path / "my_nets_for_aelab.py").write_text(
        "from test_plugins import tiny_encoder as make_encoder, tiny_decoder as make_decoder\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--no-progress", "--set", "data.limit=300",
                 "--set", "model.encoder=my_nets_for_aelab:make_encoder",
                 "--set", "model.decoder=my_nets_for_aelab:make_decoder",
                 "--set", "training.epochs=2", "--set", "training.threads=1"]) == 0
    assert (run / "latent_traversal.png").is_file()
    saved = json.loads((run / "config.json").read_text())["model"]
    assert saved["encoder"] == "my_nets_for_aelab:make_encoder"
    model = aelab.load(run)
    assert isinstance(model.model_.encoder, nn.Sequential) and model.encoder == "my_nets_for_aelab:make_encoder"
    refit = clone(model).set_params(epochs=1).fit(X)  # the clone builds the same networks
    assert [p.shape for p in refit.model_.parameters()] == [p.shape for p in model.model_.parameters()]
    (tmp_path / "my_nets_for_aelab.py").unlink()
    sys.modules.pop("my_nets_for_aelab", None)
    importlib.invalidate_caches()
    capsys.readouterr()
    assert main(["generate", str(run), "-n", "4", "--trust-code"]) == 2  # trusted, but gone
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model.encoder 'my_nets_for_aelab:make_encoder': cannot import" in err
    with pytest.raises(aelab.AelabError, match="cannot import my_nets_for_aelab"):
        aelab.load(run, trust_code=True)


@pytest.mark.slow
def test_a_run_of_a_script_registered_type_says_how_to_reopen_it_elsewhere(tmp_path):
    """A type registered in a script trains; another process (aelab generate) cannot know it, and
    its one line gives the fix that works there: an entry point (issue 27)."""
    import subprocess

    run = tmp_path / "run"
    assert main(["train", "--set", "data.dataset=digits", "--set", "data.limit=200", "--set", "model.type=sparse_ae",
                 "--set", "training.epochs=1", "--out", str(run), "--no-progress", "--no-figures"]) == 0
    for command in (["generate", str(run)], ["evaluate", str(run), "--nll-samples", "5"]):
        done = subprocess.run([str(Path(sys.executable).parent / "aelab"), *command], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert str(run) in done.stderr and '"sparse_ae"' in done.stderr
        assert '[project.entry-points."aelab.models"] sparse_ae = ' in done.stderr and "docs/extending.md" in done.stderr
