"""Experiment tracking: TensorBoard event files written during training (read back with
TensorBoard's own reader), and `aelab compare` over several runs."""

from __future__ import annotations

import csv
import json

import pytest

from aelab import runs
from aelab.cli import main
from aelab.config import load_config
from aelab.experiments.train_run import train_run

QUICK = ["model.encoder_layers=[32]", "training.threads=1"]


def test_tensorboard_event_files_hold_every_epochs_scalars_images_and_the_projector(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = load_config(None, QUICK + ["training.epochs=4", "training.tensorboard=true"])
    train_run(config, tmp_path, progress=False, figures=False)
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    tags = events.Tags()
    history = runs.read_history(tmp_path / runs.HISTORY)
    for tag, column in (("loss/train", "loss"), ("loss/validation", "val_loss"), ("kl/train", "kl"),
                        ("mse/validation", "val_mse"), ("bce/validation", "val_bce")):
        assert tag in tags["scalars"], (tag, tags["scalars"])
        logged = events.Scalars(tag)
        assert [e.step for e in logged] == [1, 2, 3, 4]
        assert [e.value for e in logged] == pytest.approx([row[column] for row in history], rel=1e-6)
    shots = events.Images("reconstruction/test (top: original)")
    assert shots[0].step == 1 and shots[-1].step == 4 and shots[-1].height % 16 == 0  # 8 px over 8 px
    projector = (tmp_path / "tensorboard" / "projector_config.pbtxt").read_text()
    assert "sprite" in projector and "metadata.tsv" in projector
    labels = next((tmp_path / "tensorboard").rglob("metadata.tsv")).read_text().split()
    metrics = json.loads((tmp_path / runs.METRICS).read_text())
    assert len(labels) == metrics["n_test"] and set(labels) <= set("0123456789")


def test_without_the_setting_nothing_is_written(tmp_path):
    train_run(load_config(None, QUICK + ["training.epochs=1"]), tmp_path, progress=False, figures=False)
    assert not (tmp_path / "tensorboard").exists()


@pytest.mark.slow  # ~4 s on a shared machine
def test_compare_writes_a_table_overlaid_loss_curves_and_a_page_and_checks_its_runs_first(tmp_path, capsys, monkeypatch):
    a, b = tmp_path / "runs" / "ae", tmp_path / "runs" / "vae"
    train_run(load_config(None, QUICK + ["model.type=ae", "training.epochs=3"]), a, progress=False, figures=False)
    train_run(load_config(None, QUICK + ["training.epochs=5", "model.latent_dim=3"]), b, progress=False, figures=False)
    monkeypatch.chdir(tmp_path)
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / out.strip().splitlines()[-1]
    assert folder.parent == tmp_path / "comparisons"
    rows = list(csv.DictReader((folder / "compare.csv").open()))
    assert [r["run"] for r in rows] == ["ae", "vae"] and [r["type"] for r in rows] == ["ae", "vae"]
    assert [int(r["epochs_run"]) for r in rows] == [3, 5] and rows[1]["latent_dim"] == "3"
    for row, run in zip(rows, (a, b)):
        test = json.loads((run / runs.METRICS).read_text())["test"]
        assert float(row["test_loss"]) == pytest.approx(test["loss"], rel=1e-9)
    assert rows[0]["test_kl"] == "" and float(rows[1]["test_kl"]) > 0
    assert int(rows[0]["parameters"]) < int(rows[1]["parameters"])  # a VAE's head is twice as wide
    assert "| ae | ae |" in out and "| vae | vae |" in out
    page = (folder / "index.html").read_text()
    assert page.count("<tr>") == 3 and 'src="loss.png"' in page and (folder / "loss.png").stat().st_size > 10_000
    # A second comparison never overwrites the first; a bad run is one line, and nothing is written.
    assert main(["compare", str(a), str(b)]) == 0
    assert len(list((tmp_path / "comparisons").iterdir())) == 2
    capsys.readouterr()
    assert main(["compare", str(a), str(tmp_path)]) == 2
    assert main(["compare", str(a)]) == 2
    err = capsys.readouterr().err
    assert err.count("aelab: error:") == 2 and "is not a finished aelab run" in err and "two or more" in err
    assert len(list((tmp_path / "comparisons").iterdir())) == 2
