"""Sweeps across model types that need different settings (sweep.variants), the NLL and Fréchet
distance measured per trial (sweep.evaluate), and the disentanglement trade-off figure."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from aelab.cli import main
from aelab.evaluate.likelihood import likelihood_bounds
from aelab.experiments.sweep import Variant, expand, run_sweep
from aelab.models.registry import build_model

BASE = {"data": {"dataset": "digits", "limit": 300},
        "model": {"type": "vae", "encoder_layers": [32], "latent_dim": 4},
        "training": {"epochs": 3, "batch_size": 64, "checkpoint_every": 100, "threads": 1}}
VARIANTS = [{"name": "ae", "set": {"model.type": "ae"}},
            {"name": "vae", "set": {"model.type": "vae"}},
            {"name": "iwae-k5", "set": {"model.type": "iwae", "model.options.samples": 5}},
            {"name": "cvae", "set": {"model.type": "cvae"}}]


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _write(tmp_path, config) -> str:
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_variants_are_crossed_with_the_grid_and_named_after_both(tmp_path):
    variants = [Variant(v["name"], v["set"]) for v in VARIANTS]
    trials = expand(BASE, {"model.latent_dim": [3, 4]}, 2, tmp_path, variants)
    assert [t.run.name for t in trials[:4]] == ["ae_latent_dim=3-fold0", "ae_latent_dim=3-fold1",
                                                "ae_latent_dim=4-fold0", "ae_latent_dim=4-fold1"]
    assert len(trials) == 16 and {t.variant for t in trials} == {"ae", "vae", "iwae-k5", "cvae"}
    iwae = [t for t in trials if t.variant == "iwae-k5"]
    assert all(t.config.model.type == "iwae" and t.config.model.options["samples"] == 5 for t in iwae)
    assert expand(BASE, {}, 1, tmp_path, variants[:1])[0].run.name == "ae"


@pytest.mark.slow
def test_variants_measure_nll_and_frechet_distance_in_the_results(tmp_path, capsys):
    config = {**BASE, "sweep": {"variants": VARIANTS[1:], "grid": {"model.latent_dim": [4]},
                                "evaluate": {"nll_samples": 20, "fd_samples": 200}}}
    out = tmp_path / "s"
    assert main(["sweep", _write(tmp_path, config), "--out", str(out)]) == 0
    rows = {r["trial"]: r for r in _rows(out / "results.csv")}
    assert set(rows) == {"vae_latent_dim=4", "iwae-k5_latent_dim=4", "cvae_latent_dim=4"}
    assert [(r["variant"], r["model.type"]) for r in rows.values()] == \
        [("vae", "vae"), ("iwae-k5", "iwae"), ("cvae", "cvae")]
    # Each variant's own settings reached its run: the IWAE trained on its 5-sample bound.
    iwae = json.loads((out / "runs" / "iwae-k5_latent_dim=4" / "config.json").read_text())
    assert iwae["model"]["options"]["samples"] == 5 and rows["iwae-k5_latent_dim=4"]["model.options.samples"] == "5"
    # The importance-sampled NLL where it is defined (it bounds -ELBO from below), a Fréchet
    # distance for every model, the conditional one included (its samples drawn for labels).
    for name, row in rows.items():
        assert float(row["frechet_distance"]) > 0 and 0 <= float(row["classifier_accuracy"]) <= 1
        if row["model.type"] in ("vae", "iwae"):
            assert 0 < float(row["nll"]) <= -float(row["elbo"]) + 1e-3, name
        else:
            assert row["nll"] == "" and row["elbo"] == "", name
    md = (out / "results.md").read_text()
    assert "| variant | latent_dim |" in md and "frechet_distance" in md and "| iwae-k5 | 4 |" in md
    assert (out / "sweep_samples.png").stat().st_size > 5000
    assert json.loads((out / "sweep.json").read_text())["evaluate"] == {"nll_samples": 20, "fd_samples": 200}
    assert "| cvae | 4 |" in capsys.readouterr().out


@pytest.mark.slow
def test_the_tradeoff_figure_of_a_beta_sweep_on_dsprites(tmp_path):
    base = {"data": {"dataset": "dsprites", "limit": 300, "test_split": 0.25},
            "model": {"type": "beta_vae", "encoder_layers": [32], "latent_dim": 3},
            "training": {"epochs": 1, "batch_size": 100, "checkpoint_every": 100, "threads": 1}}
    variants = [Variant(f"{kind}-b{b}", {"model.type": kind, key: b})
                for kind, key in (("beta_vae", "model.beta"), ("beta_tcvae", "model.options.beta")) for b in (1, 4)]
    rows = run_sweep(base, {}, 1, tmp_path / "s", progress=False, variants=variants)
    assert [r["trial"] for r in rows] == ["beta_vae-b1", "beta_vae-b4", "beta_tcvae-b1", "beta_tcvae-b4"]
    assert all(0 <= r["mig"] <= 1 and r["bce"] > 0 for r in rows)
    # Every trial carries all four disentanglement metrics (docs/results.md's dSprites tables).
    assert all(0 <= r[k] <= 1 for r in rows for k in ("factor_vae_score", "sap", "dci_disentanglement"))
    assert (tmp_path / "s" / "sweep_tradeoff.png").stat().st_size > 10000
    assert "| beta_tcvae-b4 |" in (tmp_path / "s" / "results.md").read_text()


@pytest.mark.slow  # a sweep of trained runs: ~6 s on a shared machine
def test_a_sweep_file_with_variants_trains_its_first_variant_alone(tmp_path):
    config = {**BASE, "training": {**BASE["training"], "epochs": 1}, "sweep": {"variants": VARIANTS[1:3]}}
    assert main(["train", "--config", _write(tmp_path, config), "--out", str(tmp_path / "run")]) == 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["type"] == "vae"


@pytest.mark.parametrize("section, says", [
    ({"variants": {"name": "vae"}}, "sweep.variants must be a non-empty list"),
    ({"variants": []}, "sweep.variants must be a non-empty list"),
    ({"variants": [{"name": "vae"}]}, "sweep.variants[0] must be an object with exactly 'name' and 'set'"),
    ({"variants": [{"name": "a/b", "set": {}}]}, "sweep.variants[0].name must be letters"),
    ({"variants": [{"name": "v", "set": {}}, {"name": "v", "set": {}}]}, "sweep.variants[1].name 'v' is used twice"),
    ({"variants": [{"name": "v", "set": ["model.type=ae"]}]}, "sweep.variants[0].set must be an object"),
    ({"variants": [{"name": "v", "set": {"model.beta": 2}}], "grid": {"model.beta": [1, 2]}},
     "sweep.variants[0].set sets model.beta, which sweep.grid also sweeps"),
    ({"variants": [{"name": "v", "set": {"model.optons.beta": 2}}]}, "sweep trial v"),
    ({"evaluate": {"nll": 50}}, "sweep.evaluate takes 'nll_samples', 'fd_samples'"),
    ({"evaluate": [50]}, "sweep.evaluate takes"),
    ({"evaluate": {"nll_samples": 0}}, "sweep.evaluate.nll_samples must be a whole number from 1"),
    ({"evaluate": {"nll_samples": "50"}}, "sweep.evaluate.nll_samples must be a whole number"),
    ({"evaluate": {"nll_samples": True}}, "sweep.evaluate.nll_samples must be a whole number"),
    ({"evaluate": {"fd_samples": 1}}, "sweep.evaluate.fd_samples must be a whole number from 2"),
    ({"evaluate": {"nll_precision": "fp16"}}, "sweep.evaluate.nll_precision must be one of auto, bf16, fp32"),
])
def test_a_bad_variants_or_evaluate_section_is_one_line(tmp_path, capsys, section, says):
    code = main(["sweep", _write(tmp_path, {**BASE, "sweep": section}), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and says in err and "Traceback" not in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_a_grid_on_the_command_line_may_not_sweep_a_key_a_variant_sets(tmp_path, capsys):
    config = {**BASE, "sweep": {"variants": VARIANTS[:2]}}
    code = main(["sweep", _write(tmp_path, config), "--grid", "model.type=ae,vae", "--out", str(tmp_path / "out")])
    assert code == 2 and "--grid model.type: the file's sweep.variants set it" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_frechet_distance_on_unlabelled_images_uses_the_orientation_classifier(tmp_path):
    """A folder without sub-folders has no labels: the features come from a classifier of which
    way up an image is, and the results have a distance but no classifier accuracy."""
    folder = tmp_path / "shapes"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):  # a bright bar at the top of each image: its orientation can be learned
        image = rng.integers(0, 60, (8, 8), dtype=np.uint8)
        image[: 1 + i % 3] = 255
        Image.fromarray(image, "L").save(folder / f"{i}.png")
    config = {"data": {"dataset": "folder", "path": str(folder)}, "model": {"type": "ae", "latent_dim": 2},
              "training": {"epochs": 2, "threads": 1}, "sweep": {"evaluate": {"fd_samples": 50}}}
    out = tmp_path / "out"
    assert main(["sweep", _write(tmp_path, config), "--out", str(out)]) == 0
    (row,) = _rows(out / "results.csv")
    assert float(row["frechet_distance"]) > 0 and not row.get("classifier_accuracy")


def test_the_likelihood_keeps_no_autograd_graph_in_its_worker_threads(tmp_path):
    """Grad mode is per thread: without no_grad in the pool, every image kept its K decoded draws
    alive through the returned bound (12 MB per image at K = 2000)."""
    trials = expand(BASE, {}, 1, tmp_path)
    model = build_model(trials[0].config.model, (1, 8, 8))
    x = torch.randint(0, 17, (6, 1, 8, 8), dtype=torch.uint8)
    bound, elbo = likelihood_bounds(model, x, 4, seed=0, precision="fp32", workers=2)
    assert bound.grad_fn is None and elbo.grad_fn is None and not bound.requires_grad
