"""Per-epoch curves of every reconstruction metric (BCE, MSE, L1) in history.csv and loss.png."""

from __future__ import annotations

import csv

import pytest
from PIL import Image

from aelab import runs
from aelab.config import load_config
from aelab.plots.figures import loss_curves
from aelab.experiments.train_run import train_run


@pytest.mark.parametrize("model_type", ["vae", "ae"])
def test_history_has_validation_bce_mse_l1_per_epoch_matching_the_final_metrics(tmp_path, model_type):
    config = load_config(None, [f"model.type={model_type}", "training.epochs=4", "model.encoder_layers=[32]",
                                "training.threads=1"])
    metrics = train_run(config, tmp_path, progress=False, figures=False)
    rows = list(csv.DictReader((tmp_path / runs.HISTORY).open()))
    assert len(rows) == 4
    for key in ("val_bce", "val_mse", "val_l1"):
        assert all(float(r[key]) > 0 for r in rows), key
    assert float(rows[-1]["val_mse"]) < float(rows[0]["val_mse"])  # training lowers every metric
    # The best epoch's weights are the final ones: its row holds the final validation metrics.
    best = rows[metrics["best_epoch"] - 1]
    for key in ("bce", "mse", "l1"):
        assert float(best[f"val_{key}"]) == pytest.approx(metrics["validation"][key], rel=1e-4)


def test_loss_png_gets_a_panel_of_the_reconstruction_metrics(tmp_path):
    history = [{"epoch": e, "loss": 10 / e, "val_loss": 11 / e} for e in (1, 2, 3)]
    plain = Image.open(loss_curves(history, tmp_path / "plain.png")).size
    for row in history:
        row.update(val_bce=30 / row["epoch"], val_mse=5 / row["epoch"], val_l1=9 / row["epoch"])
    more = Image.open(loss_curves(history, tmp_path / "more.png")).size
    assert more[0] > 1.8 * plain[0] and more[1] == plain[1]  # one more panel, side by side
