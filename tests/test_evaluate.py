"""Evaluation metrics on cases with known answers, on real models and the real 5x7 font."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from aelab.config import Layer, load_config
from aelab.errors import AelabError
from aelab.data.builtin import font5x7
from aelab.evaluate.anomalies import anomaly_scores, detection_metrics, error_maps, threshold_at
from aelab.evaluate.denoising import denoising, noise_levels
from aelab.evaluate.latent_quality import active_units, knn_accuracy, latent_metrics, silhouette
from aelab.evaluate.likelihood import elbo, iwae_bound
from aelab.evaluate.metrics import evaluate
from aelab.models import Autoencoder, build_model
from aelab.experiments.train_run import train_run

FONT = font5x7()
FAST = ["data.dataset=font5x7", "data.test_split=0", "training.validation_split=0", "training.patience=null",
        "training.batch_size=32", "training.checkpoint_every=100000", "training.threads=1"]


@pytest.fixture(scope="module")
def perfect_model() -> Autoencoder:
    """A linear autoencoder built by hand to reproduce the 32 glyphs exactly: the encoder gives each
    glyph's least-squares coordinates in terms of all glyphs (the pseudo-inverse), the decoder maps
    them back (G G+ projects onto the glyphs' span, so every glyph comes back exactly) and a
    steep sigmoid makes pixels 0 or 1."""
    config = load_config(None, ["model.type=ae", "model.latent_dim=32", "model.activation=identity"]).model
    config.encoder_layers = config.decoder_layers = [Layer(units=35)]
    model = build_model(config, FONT.shape)
    glyphs = torch.from_numpy(FONT.floats().reshape(32, 35).T)  # (35, 32)
    with torch.no_grad():
        for layer, weight in ((model.encoder.hidden[0], torch.eye(35)), (model.encoder.head, torch.linalg.pinv(glyphs)),
                              (model.decoder.hidden[0], glyphs), (model.decoder.head, 40 * torch.eye(35))):
            layer.weight.copy_(weight)
            layer.bias.zero_()
        model.decoder.head.bias.fill_(-20.0)
    return model.eval()


@pytest.fixture(scope="module")
def font_vae(tmp_path_factory):
    run = tmp_path_factory.mktemp("vae")
    config = load_config(None, FAST + ["model.type=vae", "model.latent_dim=4", "model.encoder_layers=[64,32]",
                                       "training.epochs=300", "training.learning_rate=0.005"])
    train_run(config, run, progress=False, figures=False)
    return run


def test_a_perfect_reconstruction_scores_zero_error_and_full_pixel_accuracy(perfect_model):
    metrics = evaluate(perfect_model, FONT.tensor(), seed=0, binary=True)
    assert metrics["mse"] < 1e-6 and metrics["l1"] < 1e-3
    assert metrics["pixel_accuracy"] == 1.0
    assert metrics["max_wrong_pixels"] == 0 and metrics["images_with_wrong_pixels"] == 0
    assert np.all(anomaly_scores(perfect_model, FONT.tensor()) < 1e-3)
    recon, errors = error_maps(perfect_model, FONT.images)
    assert recon.shape == FONT.images.shape and errors.shape == (32, 1, 7, 5) and errors.max() < 1e-3
    with pytest.raises(AelabError, match="unknown anomaly score"):
        anomaly_scores(perfect_model, FONT.tensor(), "psnr")


def test_denoising_noise_is_fixed_by_the_seed_and_scored_against_the_clean_images(perfect_model):
    low, high = noise_levels("gaussian:0.1,0.5")
    a = denoising(perfect_model, FONT.tensor(), high, seed=3, binary=True, repeats=5)
    b = denoising(perfect_model, FONT.tensor(), high, seed=3, binary=True, repeats=5)
    c = denoising(perfect_model, FONT.tensor(), high, seed=4, binary=True, repeats=5)
    assert a == b and a != c
    assert a["noisy_pixel_accuracy"] < 0.95  # σ = 0.5 flips about 16% of the pixels of the input
    small = denoising(perfect_model, FONT.tensor(), low, seed=3, binary=True)
    assert small["noisy_pixel_accuracy"] == 1.0 and small["noisy_mse"] > 0  # σ = 0.1 never crosses 0.5
    assert noise_levels("bitflip:0.05,0.1")[1].p == 0.1
    with pytest.raises(AelabError, match="unknown noise"):
        noise_levels("speckle:0.2")
    with pytest.raises(AelabError, match="--noise gaussian:-1"):
        noise_levels("gaussian:0.2,-1")


def test_iwae_bound_is_above_the_elbo_and_tightens_with_more_samples(font_vae):
    from aelab import runs

    model, _, _ = runs.load_model(font_vae)
    data = FONT.tensor().repeat(20, 1, 1, 1)  # every glyph 20 times: averages out the sampling noise
    bounds = {k: float(iwae_bound(model, data, k, seed=1).mean()) for k in (1, 8, 256)}
    mean_elbo = float(elbo(model, data, seed=1).mean())
    assert bounds[1] < bounds[8] < bounds[256], bounds
    assert bounds[256] >= mean_elbo, (bounds, mean_elbo)
    # One importance sample is an unbiased one-draw ELBO estimate: close to the analytic-KL ELBO.
    assert abs(bounds[1] - mean_elbo) < 0.2 * abs(mean_elbo)


def test_latent_quality_on_codes_with_known_structure():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 50)
    centres = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0]], float)
    codes = centres[labels] + rng.normal(0, 0.5, (150, 3))
    codes[:, 2] = 0.05 * rng.normal(size=150)  # a collapsed unit: variance 0.0025 < 0.01
    assert knn_accuracy(codes, labels) == 1.0
    assert silhouette(codes, labels) > 0.8
    assert active_units(codes) == 2
    mixed = latent_metrics(rng.normal(size=(150, 3)), labels)
    assert mixed["knn_accuracy"] < 0.6 and abs(mixed["silhouette"]) < 0.1


def test_detection_metrics_of_a_perfect_separator():
    scores = np.array([0.1, 0.2, 0.3, 0.9, 1.0])
    is_anomaly = np.array([0, 0, 0, 1, 1], bool)
    threshold = threshold_at(scores[~is_anomaly], 1.0)
    assert threshold == 0.3
    m = detection_metrics(scores, is_anomaly, threshold)
    assert m["auroc"] == 1.0 and m["average_precision"] == 1.0
    assert m["precision"] == m["recall"] == m["f1"] == 1.0 and m["false_positive_rate"] == 0.0
    assert detection_metrics(-scores, is_anomaly, 0.0)["auroc"] == 0.0


def test_cli_evaluate_prints_a_table_and_merges_into_metrics_json(font_vae, capsys):
    from aelab.cli import main

    before = json.loads((font_vae / "metrics.json").read_text())
    assert main(["evaluate", str(font_vae), "--noise", "gaussian:0.2,0.4", "--nll-samples", "50",
                 "--noise-repeats", "3", "--nll-precision", "fp32"]) == 0
    out = capsys.readouterr().out
    assert "pixel_accuracy" in out and "gaussian:0.4" in out and "nll" in out
    after = json.loads((font_vae / "metrics.json").read_text())
    test = after["test"]
    assert after["epochs_run"] == before["epochs_run"]  # merged, not replaced
    assert test["loss"] == pytest.approx(before["test"]["loss"])  # the same seed: the same numbers
    assert test["nll"] <= -test["elbo"] + 1e-3 and test["nll_samples"] == 50 and test["nll_precision"] == "fp32"
    assert [d["noise"] for d in test["denoising"]] == ["gaussian:0.2", "gaussian:0.4"]
    assert 0 < test["denoising"][1]["pixel_accuracy"] <= 1 and test["active_units"] <= 4
    # Other data: stored under its own key, the run's own numbers stay.
    assert main(["evaluate", str(font_vae), "--set", "data.test_split=0.25", "--splits", "test"]) == 0
    other = json.loads((font_vae / "metrics.json").read_text())
    assert other["test[test_split=0.25]"]["mse"] > 0 and other["test"] == after["test"]


def test_cli_evaluate_and_anomalies_reject_bad_input(font_vae, tmp_path, capsys):
    from aelab.cli import main

    assert main(["evaluate", str(tmp_path)]) == 2
    assert main(["evaluate", str(font_vae), "--noise", "gaussian:abc"]) == 2
    assert main(["evaluate", str(font_vae), "--splits", "holdout"]) == 2
    assert main(["anomalies", str(font_vae), "--normal-labels", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("aelab: error:") == 4 and "Traceback" not in err


@pytest.mark.slow
def test_anomalies_detects_a_digit_the_model_never_saw(tmp_path, capsys):
    from aelab.cli import main

    run = tmp_path / "no7"
    config = load_config(None, ["data.dataset=digits", "data.exclude_labels=[\"7\"]", "model.type=ae",
                                "model.latent_dim=4", "model.encoder_layers=[64,32]", "training.epochs=15",
                                "training.checkpoint_every=100", "training.threads=1"])
    train_run(config, run, progress=False, figures=False)
    assert main(["anomalies", str(run)]) == 0
    summary = json.loads((run / "anomalies" / "summary.json").read_text())
    assert summary["auroc"] > 0.85 and summary["n_anomalies"] > 20
    lines = (run / "anomalies" / "scores.csv").read_text().splitlines()
    assert lines[0] == "index,label,score,flagged,anomaly" and len(lines) == summary["n_images"] + 1
    for png in ("scores.png", "roc.png", "most_anomalous.png"):
        assert (run / "anomalies" / png).stat().st_size > 5000
    assert json.loads((run / "metrics.json").read_text())["anomalies"]["auroc"] == summary["auroc"]
    assert main(["anomalies", str(run), "--score", "mse", "--normal-labels", "0,1,2,3,4,5,6,8,9"]) == 0
    assert json.loads((run / "anomalies-2" / "summary.json").read_text())["auroc"] > 0.85
    assert main(["anomalies", str(run), "--score", "elbo"]) == 2  # an AE has no ELBO


@pytest.fixture(scope="module")
def font_cli_run(tmp_path_factory):
    """A small AE on the 5x7 font trained through the command line (test split kept: 6 of 32 glyphs)."""
    from aelab.cli import main

    run = tmp_path_factory.mktemp("font-cli") / "run"
    assert main(["train", "--out", str(run), "--set", "data.dataset=font5x7", "--set", "model.type=ae",
                 "--set", "training.epochs=30", "--set", "training.threads=1", "--no-progress", "--no-figures"]) == 0
    return run


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "RUN", "--set", "data.dataset=digits"],
     "shape (1, 8, 8) but the model expects (1, 7, 5); --set data.KEY=VALUE must give images of the model's shape"),
    (["anomalies", "RUN", "--set", "data.dataset=digits"],
     "shape (1, 8, 8) but the model expects (1, 7, 5); --set data.KEY=VALUE must give images of the model's shape"),
    (["anomalies", "RUN", "--top", "0"], "--top 0: show at least 1 image"),
    (["anomalies", "RUN", "--score", "psnr"], "invalid choice: 'psnr'"),
    (["evaluate", "RUN", "--noise", "gaussian:-1"], "--noise gaussian:-1: Input should be greater than 0"),
    (["evaluate", "RUN", "--noise", "gaussian:0.2,0.3,bitflip:2"], "--noise bitflip:2:"),
    (["evaluate", "NOTARUN"], "is not an aelab run folder"),
    (["anomalies", "NOTARUN"], "is not an aelab run folder"),
])
def test_cli_bad_data_and_arguments_are_one_line_and_write_nothing(font_cli_run, tmp_path, capsys, argv, message):
    from aelab.cli import main

    before = (font_cli_run / "metrics.json").read_text()
    argv = [str(font_cli_run) if a == "RUN" else str(tmp_path) if a == "NOTARUN" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("aelab: error:") and message in err and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert not (font_cli_run / "anomalies").exists()  # nothing written before the check
    assert (font_cli_run / "metrics.json").read_text() == before


def test_cli_anomalies_on_other_data_keeps_the_runs_threshold_and_its_own_key(font_cli_run, capsys):
    from aelab.cli import main

    run = font_cli_run
    assert main(["anomalies", str(run), "--top", "3"]) == 0
    own = json.loads((run / "metrics.json").read_text())["anomalies"]
    # test_split=0.5 changes the training split too: the threshold must still come from the run's own.
    assert main(["anomalies", str(run), "--set", "data.test_split=0.5", "--top", "3"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    other = metrics["anomalies[test_split=0.5]"]
    assert metrics["anomalies"] == own  # not overwritten
    assert other["threshold"] == pytest.approx(own["threshold"])
    assert other["n_images"] == 16 and own["n_images"] == 6
    summary = json.loads((run / "anomalies-2" / "summary.json").read_text())
    assert summary["threshold"] == pytest.approx(own["threshold"]) and "of 23 training images" in summary["threshold_from"]
    # evaluate on other data of the model's shape still works and keeps its own key.
    assert main(["evaluate", str(run), "--set", "data.test_split=0.5", "--splits", "test"]) == 0
    assert json.loads((run / "metrics.json").read_text())["test[test_split=0.5]"]["mse"] > 0


def test_nll_in_bf16_matches_fp32_and_gives_the_elbo_from_the_same_draws(font_vae):
    from aelab import runs
    from aelab.evaluate.likelihood import likelihood_bounds

    model, _, _ = runs.load_model(font_vae)
    data = FONT.tensor().repeat(8, 1, 1, 1)
    exact, exact_elbo = likelihood_bounds(model, data, 300, seed=1, precision="fp32", max_rows=1000)
    fast, fast_elbo = likelihood_bounds(model, data, 300, seed=1, precision="bf16", max_rows=1000)
    assert abs(float(fast.mean() - exact.mean())) < 0.05, (fast.mean(), exact.mean())
    assert float((fast - exact).abs().max()) < 0.3
    assert abs(float(fast_elbo.mean() - exact_elbo.mean())) < 0.05
    # The same draws: the bound (a log-mean-exp of the weights) lies above their ELBO on average,
    # and the K-draw ELBO sits close to the one-draw analytic-KL ELBO.
    assert float(exact.mean()) > float(exact_elbo.mean())
    assert abs(float(exact_elbo.mean() - elbo(model, data, seed=1).mean())) < 0.1 * abs(float(exact_elbo.mean()))
    for workers in (1, 3):  # same seed, same numbers, however many threads share the work
        again, _ = likelihood_bounds(model, data, 300, seed=1, precision="fp32", max_rows=1000, workers=workers)
        assert torch.equal(again, exact)


def test_cli_evaluate_defaults_to_the_test_split_and_reports_each_stage(font_cli_run, caplog, capsys):
    import logging

    from aelab.cli import main

    with caplog.at_level(logging.INFO, logger="aelab"):
        assert main(["evaluate", str(font_cli_run), "--noise", "gaussian:0.3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0]
    assert "test" in header and "train" not in header and "validation" not in header
    log = caplog.text
    assert "--splits train,validation,test" in log
    for stage in ("test: reconstruction metrics of 6 images...", "test: latent quality done in",
                  "test: denoising at 1 noise level(s)"):
        assert stage in log, log
    assert main(["evaluate", str(font_cli_run), "--splits", "train,test", "--no-progress"]) == 0
    assert "train" in capsys.readouterr().out.splitlines()[0]


def test_quiet_reads_the_same_after_the_command_as_before_it(font_cli_run, caplog, capsys):
    import logging

    from aelab.cli import main

    for argv in (["evaluate", str(font_cli_run), "-q"], ["-q", "evaluate", str(font_cli_run)],
                 ["evaluate", str(font_cli_run), "--quiet"]):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="aelab"):
            assert main(argv) == 0, capsys.readouterr().err
        assert "reconstruction metrics" not in caplog.text, argv  # the stages are not reported
        assert "mse" in capsys.readouterr().out  # the table still is
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="aelab"):  # without -q anywhere: the stages are reported
        assert main(["evaluate", str(font_cli_run), "--no-progress"]) == 0
    assert "reconstruction metrics" in caplog.text


def test_the_nll_says_how_long_it_will_take_and_limit_measures_a_subset(tmp_path, caplog, capsys):
    """--nll-samples on a large split said nothing for minutes: its time is logged when it starts,
    and --limit N measures N images, stored beside (never over) the whole split's numbers (issue 27)."""
    import json
    import logging

    from aelab.cli import main
    from aelab.config import load_config
    from aelab.experiments.train_run import train_run

    run = tmp_path / "vae"
    train_run(load_config(None, ["training.epochs=2", "model.latent_dim=2"]), run, progress=False, figures=False)
    whole = json.loads((run / "metrics.json").read_text())["test"]
    with caplog.at_level(logging.INFO, logger="aelab"):
        assert main(["evaluate", str(run), "--nll-samples", "200", "--limit", "200", "--no-progress"]) == 0
    messages = [r.getMessage() for r in caplog.records]
    said = next(i for i, m in enumerate(messages) if "the NLL will take about" in m)
    done = next(i for i, m in enumerate(messages) if "importance-sampled NLL" in m and "done in" in m)
    assert said < done and "on this machine" in messages[said], messages
    assert "reconstruction metrics of 200 images" in caplog.text
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"] == whole  # the whole split's numbers are kept as they were
    assert metrics["test[limit=200]"]["nll"] > 0 and "test[limit=200]" in capsys.readouterr().out
    assert main(["evaluate", str(run), "--limit", "0"]) == 2
    assert "--limit 0" in capsys.readouterr().err


def test_cli_evaluate_table_shows_the_models_own_loss_terms(tmp_path, capsys):
    """A model's own named terms (β-TC-VAE's tc_penalty, a flow posterior's log_det, ...) are in
    metrics.json; the printed table showed only a fixed list of names and left them out."""
    from aelab.cli import main

    run = tmp_path / "tc"
    assert main(["-q", "train", "--no-progress", "--no-figures", "--out", str(run), "--set", "model.type=beta_tcvae",
                 "--set", "training.epochs=2", "--set", "model.latent_dim=4"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--no-progress"]) == 0
    rows = [line.split("|")[0].strip() for line in capsys.readouterr().out.splitlines() if "|" in line]
    test = json.loads((run / "metrics.json").read_text())["test"]
    assert "tc_penalty" in test and "tc_penalty" in rows and "total_correlation" in rows
    assert rows.index("kl") < rows.index("tc_penalty") < rows.index("mse")  # beside the loss terms
