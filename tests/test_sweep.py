"""Sweeps: a grid x folds of real (tiny) runs, the summaries and figures they write, and resuming."""

from __future__ import annotations

import csv
import json
from types import SimpleNamespace

import pytest

from aelab.cli import main
from aelab.config import load_config
from aelab.errors import AelabError
from aelab.experiments.figures import image_row_figures
from aelab.experiments.kfold import format_mean_std, mean_std
from aelab.experiments.sweep import expand, parse_grid, run_sweep, trial_name
from aelab.experiments.train_run import train_run

BASE = {"data": {"dataset": "digits", "limit": 300},
        "model": {"type": "ae", "encoder_layers": [32]},
        "training": {"epochs": 1, "batch_size": 64, "checkpoint_every": 100, "threads": 1}}
GRID = {"model.type": ["ae", "vae"], "model.latent_dim": [2, 3]}


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "s"
    rows = run_sweep(BASE, GRID, folds=2, out=out, progress=False)
    return out, rows


@pytest.mark.slow
def test_a_tiny_sweep_writes_every_trial_the_tables_and_the_figures(sweep):
    out, rows = sweep
    assert len(rows) == 8 and len(list((out / "runs").iterdir())) == 8
    table = _rows(out / "results.csv")
    assert {(r["model.type"], r["model.latent_dim"], r["fold"]) for r in table} == \
        {(t, str(k), str(f)) for t in ("ae", "vae") for k in (2, 3) for f in (0, 1)}
    assert all(float(r["mse"]) > 0 and 0 <= float(r["knn_accuracy"]) <= 1 for r in table)
    assert all(r["kl"] for r in table if r["model.type"] == "vae") and not any(r["kl"] for r in table if r["model.type"] == "ae")
    md = (out / "results.md").read_text()
    assert md.count("\n| ae |") == 2 and md.count("\n| vae |") == 2 and "±" in md and "2 folds" in md
    for name in ("sweep_latent_dim.png", "sweep_reconstructions.png", "sweep_samples.png"):
        assert (out / name).stat().st_size > 5000, name
    # Each fold is a normal run folder; fold 0 drew the figures, the held-out folds partition the data.
    fold0 = out / "runs" / "type=ae_latent_dim=2-fold0"
    assert (fold0 / "model.safetensors").is_file() and (fold0 / "reconstruction.png").is_file()
    assert not (out / "runs" / "type=ae_latent_dim=2-fold1" / "reconstruction.png").exists()
    held_out = [json.loads((out / "runs" / f"type=ae_latent_dim=2-fold{i}" / "metrics.json").read_text())["n_test"]
                for i in (0, 1)]
    assert sum(held_out) == 300


@pytest.mark.slow  # the module's sweep fixture: ~30 s on a shared machine (test tiers)
def test_running_again_skips_finished_trials_and_redoes_only_the_unfinished(sweep):
    out, rows = sweep
    runs_dir = out / "runs"
    stamps = {p.name: (p / "model.safetensors").stat().st_mtime_ns for p in runs_dir.iterdir()}
    interrupted = runs_dir / "type=vae_latent_dim=3-fold1"
    (interrupted / "metrics.json").unlink()  # died after its last checkpoint
    again = run_sweep(BASE, GRID, folds=2, out=out, progress=False)
    redone = {p.name for p in runs_dir.iterdir() if (p / "model.safetensors").stat().st_mtime_ns != stamps[p.name]}
    assert redone == {interrupted.name}
    # The same seed gives the same numbers whether or not a trial was resumed.
    assert [r["mse"] for r in again] == pytest.approx([r["mse"] for r in rows])


@pytest.mark.slow  # needs the module's sweep fixture (test tiers)
def test_cli_sweep_refuses_a_different_grid_in_an_existing_sweep_folder(sweep, tmp_path, capsys):
    out, _ = sweep
    config = tmp_path / "base.json"
    config.write_text(json.dumps(BASE))
    assert main(["sweep", str(config), "--grid", "model.latent_dim=2,4", "--folds", "2", "--out", str(out)]) == 2
    assert main(["sweep", str(config), "--grid", "model.latent_dim"]) == 2
    assert main(["sweep", str(config), "--grid", "model.latnt_dim=2,3", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("aelab: error:") == 3 and "different" in err and "did you mean 'model.latent_dim'" in err


@pytest.mark.slow
def test_cli_sweep_runs_a_grid_from_the_config_file_in_parallel_jobs(tmp_path, capsys):
    config = tmp_path / "font.json"
    config.write_text(json.dumps({
        "sweep": {"grid": {"model.noise": ["gaussian:0.2", "gaussian:0.4"]}},
        "data": {"dataset": "font5x7", "test_split": 0},
        "model": {"type": "dae", "encoder_layers": [16], "latent_dim": 4},
        "training": {"epochs": 20, "batch_size": 32, "validation_split": 0, "checkpoint_every": 100}}))
    assert main(["sweep", str(config), "--jobs", "2", "--out", str(tmp_path / "s")]) == 0
    rows = _rows(tmp_path / "s" / "results.csv")
    assert [r["model.noise"] for r in rows] == ["gaussian:0.2", "gaussian:0.4"]
    # A denoising trial is scored at its own noise level, and σ = 0.4 corrupts more than σ = 0.2.
    noisy = [float(r["denoising_noisy_pixel_accuracy"]) for r in rows]
    assert noisy[0] > noisy[1] and all(0 < float(r["denoising_pixel_accuracy"]) <= 1 for r in rows)
    assert "| gaussian:0.2 |" in capsys.readouterr().out


def test_grid_parsing_naming_and_fold_settings():
    assert parse_grid(["model.type=ae,vae", "model.latent_dim=2,8", "model.beta=0.5"]) == \
        {"model.type": ["ae", "vae"], "model.latent_dim": [2, 8], "model.beta": [0.5]}
    assert parse_grid(["model.encoder_topology=[[35,50,2],[35,50,12]]"]) == \
        {"model.encoder_topology": [[35, 50, 2], [35, 50, 12]]}
    assert trial_name({"model.type": "ae", "model.encoder_topology": [35, 2]}) == "type=ae_encoder_topology=35-2"
    assert trial_name({"model.noise": "gaussian:0.2"}) == "noise=gaussian-0.2"
    trials = expand(BASE, {"model.latent_dim": [2]}, 3, __import__("pathlib").Path("/nonexistent"))
    assert [(t.config.data.folds, t.config.data.fold) for t in trials] == [(3, 0), (3, 1), (3, 2)]
    with pytest.raises(AelabError, match="data.fold"):
        load_config(None, ["data.fold=1"])
    with pytest.raises(AelabError, match="out of range"):
        load_config(None, ["data.folds=3", "data.fold=3"])
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(2 ** 0.5))
    assert format_mean_std([1.0, 3.0]) == "2 ± 1.4" and format_mean_std([None]) == "–"


@pytest.mark.parametrize("section, says", [
    ({"folds": "two"}, "sweep.folds must be a whole number"),
    ({"folds": None}, "sweep.folds must be a whole number"),
    ({"grid": ["model.latent_dim=2,3"]}, "sweep.grid must be an object"),
    ({"grid": {"model.latent_dim": []}}, "non-empty lists"),
    ({"cluster": 8786}, "sweep.cluster must be a Dask scheduler's address"),
    ({"cluster": "http://10.0.0.5:8787"}, "give the scheduler's address as tcp://HOST:PORT"),
])
def test_a_bad_sweep_section_is_one_line(tmp_path, capsys, section, says):
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps({"sweep": section, "data": {"dataset": "font5x7"}}))
    code = main(["sweep", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and says in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_the_sweep_samples_caption_says_what_each_model_was_drawn_from(tmp_path):
    """A VAE drawn from a Gaussian fitted to its codes is captioned so, not as the prior (issue 27)."""
    small = ["data.dataset=digits", "data.limit=200", "training.epochs=1", "model.latent_dim=2"]
    trials = []
    for name, sampler in (("prior", "auto"), ("fitted", "gaussian")):
        config = load_config(None, small + [f"model.sampler={sampler}"])
        train_run(config, tmp_path / name, progress=False, figures=False)
        trials.append(SimpleNamespace(run=tmp_path / name, name=name, config=config))
    fig = image_row_figures(trials, 4)["sweep_samples.png"]
    caption = fig._suptitle.get_text()
    row_labels = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "AE:" not in caption and "N(0, I)" not in caption
    assert any(label.startswith("fitted") and "Gaussian fitted to the training codes" in label for label in row_labels)
    assert any(label.startswith("prior") and "prior" in label.split("\n", 1)[1] for label in row_labels)
    single = image_row_figures(trials[1:], 4)["sweep_samples.png"]._suptitle.get_text()
    assert single.startswith("Samples from a Gaussian fitted to the training codes")


def _overlapping_labels(ax) -> list[tuple[str, str]]:
    ax.figure.canvas.draw()
    boxes = sorted(((t.get_text(), t.get_window_extent()) for t in ax.get_xticklabels() if t.get_text()),
                   key=lambda box: box[1].x0)
    return [(a, b) for (a, ea), (b, eb) in zip(boxes, boxes[1:]) if ea.x1 > eb.x0]


@pytest.mark.slow
def test_the_sweep_figure_spreads_doubling_values_so_their_labels_do_not_overlap(tmp_path):
    """Seed 001's β sweep (0, 0.5, 1, 2, 4, 8) printed "00.51" on a linear axis: the labels
    must come out apart, with 0 on the axis (symmetric-log), in a real sweep's rows."""
    from aelab.experiments.figures import metric_figure

    betas = [0, 0.5, 1, 2, 4, 8]
    base = {**BASE, "model": {"type": "beta_vae", "encoder_layers": [16], "latent_dim": 2}}
    rows = run_sweep(base, {"model.beta": betas}, folds=1, out=tmp_path / "s", progress=False)
    fig = metric_figure(rows, "model.beta", None)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "0.5", "1", "2", "4", "8"]
    assert ax.get_xscale() == "symlog"
    assert _overlapping_labels(ax) == []
    positive = metric_figure([{**r, "model.beta": r["model.beta"] or 16} for r in rows], "model.beta", None)
    assert positive.axes[0].get_xscale() == "log" and _overlapping_labels(positive.axes[0]) == []
