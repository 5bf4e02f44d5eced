"""The learned samplers (flow, two_stage, diffusion), trained for real on a known 2-D mixture of 8
Gaussians on a ring, and the way runs, commands and estimators store and reuse fitted samplers."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits

import aelab
from aelab import runs, stored_samplers
from aelab.cli import main
from aelab.config import load_config
from aelab.experiments.train_run import train_run
from aelab.explore.context import open_run
from aelab.explore.generate import sample_codes
from aelab.models import samplers

# Small settings: each fit takes seconds on the ring (bench/samplers.py measures the defaults).
RING_OPTIONS = {
    "flow": {"flow": "nsf", "steps": 600, "batch_size": 256, "hidden": 64},
    "two_stage": {"steps": 1500, "batch_size": 64, "hidden": 128, "learning_rate": 3e-3},
    "diffusion": {"steps": 2000, "batch_size": 512, "hidden": 128, "layers": 1, "learning_rate": 3e-3,
                  "ema_decay": 0.99, "sampling_steps": 30, "patience": 100},
}
TINY = {"flow": {"steps": 20}, "two_stage": {"steps": 20}, "diffusion": {"steps": 20, "sampling_steps": 5}}
LEARNED = list(RING_OPTIONS)


def ring(n: int = 2000, seed: int = 0) -> np.ndarray:
    """8 equally likely modes on a circle of radius 4, each N(centre, 0.2^2 I)."""
    rng = np.random.default_rng(seed)
    angle = rng.integers(0, 8, n) * np.pi / 4
    return np.c_[4 * np.cos(angle), 4 * np.sin(angle)] + rng.normal(0, 0.2, (n, 2))


def modes(samples: np.ndarray) -> tuple[float, np.ndarray]:
    """(share of samples within 3 sigma of a mode, each mode's share of those, times 8: 1 = its weight)."""
    k = np.round(np.arctan2(samples[:, 1], samples[:, 0]) / (np.pi / 4)).astype(int) % 8
    centres = 4 * np.c_[np.cos(k * np.pi / 4), np.sin(k * np.pi / 4)]
    near = np.linalg.norm(samples - centres, axis=1) < 0.6
    return near.mean(), np.bincount(k[near], minlength=8) / max(near.sum(), 1) * 8


def fit(kind: str, codes: np.ndarray, options: dict, seed: int = 0):
    cls = samplers.SAMPLER_CLASSES[kind]
    return samplers.fit(kind, codes, cls.Options(**options), seed, progress=False)


@pytest.mark.parametrize("kind", LEARNED)
@pytest.mark.slow
def test_learned_sampler_recovers_a_ring_of_eight_gaussians(kind):
    drawn = fit(kind, ring(), RING_OPTIONS[kind]).sample(2000, seed=1)
    near, shares = modes(drawn)
    gaussian_near, _ = modes(samplers.FittedGaussian.fit(ring()).sample(2000, seed=1))
    print(kind, "near a mode:", round(near, 3), "shares:", shares.round(2), "(one Gaussian:", round(gaussian_near, 3), ")")
    assert near > 0.55 > 4 * gaussian_near  # few samples between the modes; one Gaussian puts most there
    assert shares.min() > 0.4 and shares.max() < 1.6  # every mode drawn about as often as its weight


@pytest.mark.parametrize("kind", LEARNED)
@pytest.mark.slow
def test_same_seed_same_sampler_other_seed_another_and_temperature_narrows(kind):
    codes = ring(500)
    a, b, c = fit(kind, codes, TINY[kind], seed=3), fit(kind, codes, TINY[kind], seed=3), fit(kind, codes, TINY[kind], seed=4)
    np.testing.assert_array_equal(a.sample(50, seed=1), b.sample(50, seed=1))
    assert not np.allclose(a.sample(50, seed=1), c.sample(50, seed=1))
    assert not np.allclose(a.sample(50, seed=1), a.sample(50, seed=2))
    cold, warm = a.sample(500, seed=1, temperature=0.3), a.sample(500, seed=1, temperature=1.0)
    assert cold.std(0).sum() < warm.std(0).sum()


@pytest.mark.parametrize("kind", [*LEARNED, "gmm", "gaussian"])
def test_save_and_load_give_identical_samples(kind, tmp_path):
    codes = ring(500)
    fitted = fit(kind, codes, TINY.get(kind, {}), seed=3)
    meta = samplers.metadata(fitted, 3, "weights")
    restored = samplers.from_tensors(samplers.to_tensors(fitted), meta)
    np.testing.assert_array_equal(fitted.sample(40, seed=5, temperature=0.7), restored.sample(40, seed=5, temperature=0.7))


def test_mixture_says_which_component_drew_each_sample_and_which_holds_each_code():
    codes = ring(2000)
    gmm = fit("gmm", codes, {"components": 8}, seed=0)
    drawn, component = gmm.sample_with_components(400, seed=2)
    np.testing.assert_array_equal(drawn, gmm.sample(400, seed=2))  # the same draw as sample()
    # Each sample lies in the component it came from, and the 8 modes are 8 components.
    np.testing.assert_array_equal(gmm.component_of(drawn), component)
    mode = np.round(np.arctan2(codes[:, 1], codes[:, 0]) / (np.pi / 4)).astype(int) % 8
    held = gmm.component_of(codes)
    assert all(len(np.unique(held[mode == m])) == 1 for m in range(8)) and len(np.unique(held)) == 8


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "digits"
    overrides = ["training.epochs=2", "model.sampler=flow", 'model.sampler_options={"flow": {"steps": 30}, '
                 '"diffusion": {"steps": 30, "sampling_steps": 5}}']
    metrics = train_run(load_config(None, overrides), run, progress=False, figures=False)
    return run, metrics


def messages(caplog) -> str:
    return " | ".join(r.getMessage() for r in caplog.records)


def test_train_stores_its_sampler_and_generate_draws_from_the_stored_one(digits_run, caplog, capsys):
    run, metrics = digits_run
    assert metrics["sampler_seconds"] > 0 and (run / "sampler_flow.safetensors").is_file()
    before = (run / "sampler_flow.safetensors").stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="aelab"):
        assert main(["generate", str(run), "--sampler", "flow", "-n", "4", "--out", str(run / "g.png")]) == 0
    assert "flow sampler" not in messages(caplog)  # used as stored, not fitted again
    assert (run / "sampler_flow.safetensors").stat().st_mtime_ns == before


def test_fit_sampler_command_then_generate_uses_its_file(digits_run, caplog, capsys):
    run, _ = digits_run
    assert main(["fit-sampler", str(run), "--sampler", "diffusion", "--no-progress"]) == 0
    assert "sampler_diffusion.safetensors" in capsys.readouterr().out
    model, _, _ = runs.load_model(run)
    stored = stored_samplers.stored(run, model, "diffusion", 42)
    expected = stored.sample(4, seed=9)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="aelab"):
        assert main(["generate", str(run), "--sampler", "diffusion", "-n", "4", "--seed", "9",
                     "--out", str(run / "d.png")]) == 0
    assert "diffusion sampler" not in messages(caplog)
    z, _ = sample_codes(open_run(run), 4, seed=9, sampler="diffusion")
    np.testing.assert_array_equal(z, expected.astype(np.float32))


def test_a_damaged_or_stale_stored_sampler_is_fitted_again_with_one_line(digits_run, tmp_path, caplog):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(digits_run[0], run)
    model, _, _ = runs.load_model(run)
    path = run / "sampler_flow.safetensors"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.INFO, logger="aelab"):
        fitted = stored_samplers.obtain(run, model, "flow", lambda: np.zeros((50, 2)) + np.arange(50)[:, None] * [1, 0.5],
                                        42, progress=False)
    assert fitted.kind == "flow" and "sampler_flow.safetensors is damaged" in messages(caplog)
    assert stored_samplers.stored(run, model, "flow", 42) is not None  # stored again, whole
    # trained further (as aelab train --resume does): the stored sampler no longer fits the weights
    with torch_no_grad():
        next(model.parameters()).add_(0.01)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="aelab"):
        assert stored_samplers.stored(run, model, "flow", 42) is None
    assert "fitted for other model weights" in messages(caplog)


def torch_no_grad():
    import torch

    return torch.no_grad()


def test_a_wrong_sampler_option_is_one_line_naming_it(tmp_path, capsys):
    code = main(["train", "--set", "training.epochs=1", "--set", 'model.sampler_options={"flow": {"hiden": 3}}',
                 "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "model.sampler_options.flow.hiden" in err and "hidden" in err
    assert not (tmp_path / "r" / "model.safetensors").exists()  # said before training, not after
    with pytest.raises(aelab.AelabError, match="sampler_options: 'difusion'.*did you mean 'diffusion'"):
        load_config(None, ['model.sampler_options={"difusion": {}}'])
    X = load_digits().data[:100] / 16
    with pytest.raises(aelab.AelabError, match="model.sampler_options.two_stage.steps"):
        aelab.VAE(sampler="two_stage", sampler_options={"two_stage": {"steps": -1}}, epochs=1).fit(X)


def test_an_estimator_fits_its_learned_sampler_saves_and_loads_it(tmp_path):
    X = load_digits().data / 16
    vae = aelab.VAE(latent_dim=4, sampler="flow", sampler_options={"flow": {"steps": 30}}, epochs=2, seed=1).fit(X)
    assert vae.sampler_.kind == "flow"
    loaded = aelab.load(vae.save(tmp_path / "vae"))
    assert loaded.sampler_.kind == "flow"
    np.testing.assert_array_equal(vae.sample(5, seed=2), loaded.sample(5, seed=2))
    copy = clone(vae)
    assert copy.get_params()["sampler_options"] == {"flow": {"steps": 30}} and copy.sampler == "flow"


def test_serve_offers_the_stored_learned_samplers_and_says_how_to_add_the_others(digits_run, tmp_path):
    import shutil

    from aelab.serve.session import Session

    run = tmp_path / "served"
    shutil.copytree(digits_run[0], run)
    for extra in run.glob("sampler_*.safetensors"):
        if extra.name != "sampler_flow.safetensors":
            extra.unlink()
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    session = Session(run)
    info = session.info()
    assert info["samplers"] == ["prior", "gaussian", "gmm", "flow"] and info["sampler"] == "flow"
    assert info["samplers_to_fit"] == ["two_stage", "diffusion"] and "aelab fit-sampler" in info["fit_sampler_command"]
    for kind in ("flow", "gmm", "gaussian"):
        assert session.sample(4, 1.0, 0, kind)[0].shape == (4, 2)
    with pytest.raises(aelab.AelabError, match=f"aelab fit-sampler {run} --sampler diffusion"):
        session.sample(4, 1.0, 0, "diffusion")
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before  # serve wrote nothing
