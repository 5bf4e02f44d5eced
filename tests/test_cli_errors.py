"""Bad input gets one line naming what is wrong and how to fix it, exit code 2, no traceback,
and nothing written or overwritten."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from aelab.cli import main


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [l for l in err.splitlines() if l.startswith("aelab: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("override, must_say", [
    ("model.latnt_dim=3", ["unknown key 'model.latnt_dim'", "did you mean 'model.latent_dim'"]),
    ("trainig.epochs=3", ["unknown key 'trainig'", "did you mean 'training'"]),
    ("model.type=vea", ["model.type", "did you mean 'vae'", "ae, dae, vae, beta_vae", '"vea"']),
    ("training.epochs=abc", ["training.epochs", "integer"]),
    ("training.optimizer.type=rmsprop", ["training.optimizer.type", "'sgd', 'momentum' or 'adam'"]),
    ("model.activation=swish", ["model.activation", "cosh"]),
    ("data.channels=2", ["data.channels"]),
    ("model.noise=gaussian:-1", ["model.noise"]),
])
def test_bad_config_value_names_the_key(capsys, tmp_path, override, must_say):
    code, out, err = run_cli(capsys, "train", "--runs-dir", str(tmp_path), "--set", override)
    line = one_error_line(err)
    assert code == 2
    for text in must_say:
        assert text in line, line
    assert list(tmp_path.iterdir()) == []  # no run folder was made


def test_unknown_key_in_a_config_file_is_named_with_the_file(capsys, tmp_path):
    path = tmp_path / "my.json"
    path.write_text(json.dumps({"model": {"type": "vae", "encoder_layers": [{"units": 32, "activaton": "relu"}]}}))
    code, _, err = run_cli(capsys, "train", "--config", str(path), "--runs-dir", str(tmp_path / "runs"))
    line = one_error_line(err)
    assert code == 2 and "my.json" in line
    assert "model.encoder_layers.0.activaton" in line and "did you mean 'model.encoder_layers.0.activation'" in line


def test_config_with_comments_says_json_has_no_comments(capsys, tmp_path):
    path = tmp_path / "seed004.json"
    path.write_text('{"model": {\n  "latent_dim": 16,   // Dimensión del espacio latente\n}}')
    code, _, err = run_cli(capsys, "train", "--config", str(path))
    assert code == 2 and "remove the // lines" in one_error_line(err)


def test_latent_larger_than_input_is_refused_and_leaves_no_folder(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--runs-dir", str(tmp_path), "--set", "data.dataset=font5x7",
                           "--set", "model.latent_dim=40")
    line = one_error_line(err)
    assert code == 2 and "model.latent_dim 40" in line and "35" in line
    assert list(tmp_path.iterdir()) == []


def test_missing_config_file(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--config", str(tmp_path / "nope.json"))
    line = one_error_line(err)
    assert code == 2 and "nope.json does not exist" in line


def test_resume_of_a_folder_that_is_not_a_run(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--resume", str(tmp_path))
    assert code == 2 and "checkpoint.safetensors" in one_error_line(err)


def test_out_never_overwrites_a_folder(capsys, tmp_path):
    (tmp_path / "keep.txt").write_text("precious")
    code, _, err = run_cli(capsys, "train", "--out", str(tmp_path))
    assert code == 2 and "not empty" in one_error_line(err)
    assert (tmp_path / "keep.txt").read_text() == "precious"


def test_unknown_argument(capsys):
    code, _, err = run_cli(capsys, "train", "--epochs", "3")
    assert code == 2 and "--epochs" in one_error_line(err)


def test_corrupt_checkpoint_on_resume(capsys, tmp_path):
    run = tmp_path / "run"
    code, out, _ = run_cli(capsys, "train", "--out", str(run), "--no-progress", "--no-figures",
                           "--set", "data.dataset=font5x7", "--set", "training.epochs=2")
    assert code == 0
    (run / "checkpoint.safetensors").write_bytes(b"not a checkpoint at all")
    code, _, err = run_cli(capsys, "train", "--resume", str(run))
    assert code == 2 and "checkpoint.safetensors" in one_error_line(err)
    assert (run / "model.safetensors").is_file()  # the finished model is untouched


@pytest.mark.slow
def test_the_installed_command_exits_2_without_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "aelab", "train", "--set", "model.latnt_dim=3"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "aelab: error: config: unknown key 'model.latnt_dim'; did you mean 'model.latent_dim'?"]


def test_diverging_training_stops_with_advice_instead_of_writing_nan(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--runs-dir", str(tmp_path), "--no-progress", "--set",
                           "model.activation=cosh", "--set", "training.learning_rate=1", "--set", "training.epochs=3")
    line = one_error_line(err)
    assert code == 2 and "diverged in epoch 1" in line and "training.learning_rate (now 1)" in line
    assert list(tmp_path.iterdir()) == []


def test_bare_aelab_prints_its_commands_and_trains_nothing(tmp_path, monkeypatch, capsys):
    """`aelab` alone once started the default training run in the current folder."""
    monkeypatch.chdir(tmp_path)
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "train" in out and "generate" in out and "serve" in out
    assert not (tmp_path / "runs").exists()
