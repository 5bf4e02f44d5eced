"""aelab.run.Run: one object owns a run folder. Real runs on the 5x7 font (seconds each): a claim
excludes a second one, a failure undoes only what the run made, config.json is written once per
training (seen through Python's audit hook on os.replace, the rename every aelab write ends with),
a sweep's trial is claimed and restarted through it, and serve, compare and report show the
numbers of one summary."""

from __future__ import annotations

import html
import sys
from pathlib import Path

import pytest

from aelab import runs
from aelab.cli import main
from aelab.errors import AelabError
from aelab.experiments.compare import run_row
from aelab.experiments.trial import run_trial
from aelab.config import load_config
from aelab.explore.report import write_report
from aelab.run import FINISHED, STOPPED, Run
from aelab.serve.catalog import summary as serve_summary

FONT = ["--set", "data.dataset=font5x7", "--set", "training.epochs=2", "--set", "model.encoder_layers=[16]",
        "--set", "training.threads=1", "--no-progress", "--no-figures", "-q"]

_renamed: list[str] = []  # destinations of os.replace while a test listens


def _listen(event: str, args: tuple) -> None:
    if _renamed and event == "os.rename":  # os.replace raises the os.rename audit event
        _renamed.append(str(args[1]))


sys.addaudithook(_listen)  # a hook cannot be removed: it only records between _start and _stop


def _config_writes(run: Path, argv: list[str]) -> int:
    """How many times config.json of `run` is published while `argv` trains."""
    _renamed.clear()
    _renamed.append("<listening>")
    try:
        assert main(argv) == 0
    finally:
        written = [p for p in _renamed[1:] if Path(p) == run / runs.CONFIG]
        _renamed.clear()
    return len(written)


@pytest.fixture(scope="module")
def font_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    made = [root / "a", root / "b"]
    assert main(["train", "--out", str(made[0]), *FONT]) == 0
    assert main(["train", "--out", str(made[1]), *FONT, "--set", "model.type=ae", "--set", "training.seed=3"]) == 0
    return made


def test_a_claimed_folder_refuses_a_second_claim_and_a_resume(tmp_path):
    config = load_config(None, ["data.dataset=font5x7"])
    with Run.create(tmp_path, config, "mine") as first:
        assert first.held and first.created and first.path == tmp_path / "mine"
        with pytest.raises(AelabError, match="in use by another aelab process"):
            Run.claim(first.path)
        first.write_config(config)
        with pytest.raises(AelabError, match="in use"):
            Run.resume(first.path)
        assert Run.create(tmp_path, config, "mine").path == tmp_path / "mine-2"  # a taken name: the next one
    assert not first.held and (first.path / runs.LOCK).is_file()  # released; the lock file marks it a run's


def test_a_failure_before_the_first_checkpoint_undoes_only_what_the_run_made(tmp_path):
    bad = ["--set", "data.exclude_labels=[\"A\"]"]  # valid as a config; fails once the data loads
    new = tmp_path / "new"
    assert main(["train", "--out", str(new), *FONT, *bad]) == 2
    assert not new.exists()  # made by this run: removed whole
    mine = tmp_path / "mine"
    mine.mkdir()
    assert main(["train", "--out", str(mine), *FONT, *bad]) == 2
    assert mine.is_dir() and list(mine.iterdir()) == []  # the user's folder stays, empty
    assert main(["train", "--out", str(mine), *FONT]) == 0  # and can be claimed again


def test_fail_cleanup_leaves_a_run_with_a_checkpoint_a_resumed_run_and_a_folder_it_does_not_hold(tmp_path, font_runs):
    run = Run.claim(tmp_path / "x")
    (run.path / runs.CHECKPOINT).write_bytes(b"a checkpoint")
    assert run.fail_cleanup() is False and (run.path / runs.CHECKPOINT).is_file()
    run.release()
    assert Run.open(font_runs[0]).fail_cleanup() is False and (font_runs[0] / runs.MODEL).is_file()
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "notes.txt").write_text("not a run's")
    with pytest.raises(AelabError, match="not empty"):
        Run.claim(tmp_path / "y")
    assert (tmp_path / "y" / "notes.txt").read_text() == "not a run's"


def test_config_json_is_written_once_per_training(tmp_path):
    run = tmp_path / "r"
    # n_layers is resolved into the widths it gives: what used to cost config.json a second write
    argv = ["train", "--out", str(run), *FONT, "--set", "model.encoder_layers=null", "--set", "model.n_layers=2"]
    assert _config_writes(run, argv) == 1
    written = runs.read_json(run / runs.CONFIG)
    assert written["model"]["n_layers"] is None and len(written["model"]["encoder_layers"]) == 1
    (run / runs.MODEL).unlink()  # as if killed after its last checkpoint
    assert _config_writes(run, ["train", "--resume", str(run), "--no-progress", "--no-figures", "-q"]) == 0
    (run / runs.MODEL).unlink()
    resumed = ["train", "--resume", str(run), "--set", "training.epochs=3", "--no-progress", "--no-figures", "-q"]
    assert _config_writes(run, resumed) == 1  # a changed training setting: written once more
    assert runs.read_json(run / runs.CONFIG)["training"]["epochs"] == 3


def test_a_second_config_write_in_one_training_is_refused(tmp_path):
    config = load_config(None, ["data.dataset=font5x7"])
    with Run.create(tmp_path, config) as run:
        run.write_config(config)
        with pytest.raises(RuntimeError, match="written once"):
            run.write_config(config)


def test_a_trial_killed_before_its_first_checkpoint_is_claimed_again_and_trained(tmp_path):
    trial = tmp_path / "sweep" / "runs" / "t"
    trial.mkdir(parents=True)
    (trial / runs.CONFIG).write_text("{}")  # what a kill -9 before the first checkpoint leaves
    (trial / runs.LOCK).touch()
    config = load_config(None, ["data.dataset=font5x7", "training.epochs=1", "model.encoder_layers=[16]"])
    run_trial(config.to_dict(), str(trial), 1, figures=False)
    assert Run.open(trial).state == FINISHED and Run.open(trial).config.training.epochs == 1
    assert not runs.is_locked(trial)  # released when the trial ends
    held = Run.claim(tmp_path / "sweep" / "runs" / "u")
    try:
        with pytest.raises(AelabError, match="in use"):
            run_trial(config.to_dict(), str(held.path), 1, figures=False)
    finally:
        held.release()


def test_serve_compare_and_report_show_the_numbers_of_one_summary(font_runs):
    run = font_runs[0]
    found = Run.open(run).summary()
    metrics = runs.read_json(run / runs.METRICS)
    assert found["state"] == FINISHED and found["type"] == "vae" and found["dataset"] == "font5x7"
    assert found["metrics"]["test"]["loss"] == metrics["test"]["loss"] and found["epochs_run"] == 2
    listed = serve_summary("a", run)
    assert listed["metrics"]["test_loss"] == found["metrics"]["test"]["loss"]
    assert listed["metrics"]["validation_loss"] == found["metrics"]["validation"]["loss"]
    assert listed["all_metrics"] == found["metrics"] and listed["type"] == found["type"]
    row = run_row(run, "a")
    assert row["test_loss"] == found["metrics"]["test"]["loss"] and row["test_mse"] == found["metrics"]["test"]["mse"]
    assert (row["type"], row["latent_dim"], row["train_seconds"]) == (found["type"], found["latent_dim"],
                                                                      found["train_seconds"])
    page = write_report(run).read_text()
    assert html.escape(f"{run.name}: VAE on font5x7") in page and f"latent size {found['latent_dim']}," in page
    assert Run.open(font_runs[1]).summary()["type"] == "ae"


def test_a_summary_of_a_stopped_run_and_of_damaged_files(tmp_path, font_runs):
    stopped = tmp_path / "stopped"
    stopped.mkdir()
    (stopped / runs.CONFIG).write_text('{"model": {"type": "vae"}}')
    (stopped / runs.HISTORY).write_text("epoch,loss\n1,3.5\n2,3.0\n")
    found = Run.open(stopped).summary()
    assert (found["state"], found["epochs_run"], found["type"], found["metrics"]) == (STOPPED, 2, "vae", {})
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for name in (runs.CONFIG, runs.MODEL):
        (damaged / name).write_bytes((font_runs[0] / name).read_bytes())
    (damaged / runs.METRICS).write_text('{"test": {"loss": "low"}}')
    assert Run.open(damaged).summary()["metrics"] == {"test": {}}  # serve: left out
    with pytest.raises(AelabError, match="loss is 'low', not a number"):
        Run.open(damaged).summary(strict=True)  # compare: one clear line
