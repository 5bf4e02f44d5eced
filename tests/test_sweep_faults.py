"""`aelab sweep --jobs 2` under faults: a killed sweep takes its trials with it, and Ctrl-C stops
the running trials, starts no queued one and ends with one line. Real sweeps in real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import aelab
from aelab.cli import main
from interrupts import InterruptWhen

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and process groups")

# 8 trials of a few seconds each: far more than the tests wait for.
LONG = {"sweep": {"grid": {"model.latent_dim": [2, 3, 4, 5]}, "folds": 2},
        "data": {"dataset": "digits", "limit": 600},
        "model": {"type": "ae", "encoder_layers": [32]},
        "training": {"epochs": 2000, "batch_size": 32, "checkpoint_every": 2, "threads": 1}}


def _start_sweep(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    config = tmp_path / "long.json"
    config.write_text(json.dumps(LONG))
    out = tmp_path / "sweep"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(aelab.__file__).parent.parent), *filter(None, [os.environ.get("PYTHONPATH")])])}
    process = subprocess.Popen([sys.executable, "-m", "aelab", "sweep", str(config), "--jobs", "2", "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    return process, out


def _wait_for_running_trials(process: subprocess.Popen, out: Path, timeout: float = 60) -> list[psutil.Process]:
    """The sweep's trial processes, once both trials have written a checkpoint."""
    deadline = time.monotonic() + timeout
    while len(list(out.glob("runs/*/checkpoint.safetensors"))) < 2:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no trial wrote a checkpoint in time"
        time.sleep(0.1)
    trials = psutil.Process(process.pid).children(recursive=True)
    assert len(trials) >= 2
    return trials


def _kill(process: subprocess.Popen, trials: list[psutil.Process]) -> None:
    """Whatever the test left running, orphans included."""
    process.kill()
    process.wait()
    for trial in trials:
        try:
            trial.kill()
        except psutil.NoSuchProcess:
            pass


def _alive(processes: list[psutil.Process]) -> list[int]:
    return [p.pid for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def _gone_within(processes: list[psutil.Process], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while _alive(processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _alive(processes)


@pytest.mark.slow
def test_killing_the_sweep_kills_its_running_trials(tmp_path):
    process, out = _start_sweep(tmp_path)
    trials = []
    try:
        trials += _wait_for_running_trials(process, out)
        process.kill()  # kill -9: no chance to clean up
        process.wait()
        assert _gone_within(trials, 5) == [], "trials outlived the killed sweep"
        # Nothing keeps writing into the sweep folder.
        stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/*")}
        time.sleep(1.0)
        assert {p: p.stat().st_mtime_ns for p in out.glob("runs/*/*")} == stamps
    finally:
        _kill(process, trials)


@pytest.mark.slow
def test_ctrl_c_stops_running_trials_starts_no_queued_one_and_ends_with_one_line(tmp_path, capsys):
    config = tmp_path / "long.json"
    config.write_text(json.dumps(LONG))
    out = tmp_path / "sweep"
    running: list[psutil.Process] = []

    def both_trials_mid_way() -> bool:
        if len(list(out.glob("runs/*/checkpoint.safetensors"))) < 2:
            return False
        running.extend(psutil.Process().children())
        return True

    with InterruptWhen(both_trials_mid_way) as ctrl_c:
        code = main(["sweep", str(config), "--jobs", "2", "--out", str(out)])
    assert not ctrl_c.timed_out and time.monotonic() - ctrl_c.sent_at < 10, "Ctrl-C took too long"
    assert code == 130 and len(running) == 2
    assert _gone_within(running, 1) == [] and not psutil.Process().children()
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("aelab: error: interrupted") and f"--out {out}" in lines[-1]
    assert "Traceback" not in err and sum("error" in line for line in lines) == 1
    # The two running trials were stopped, not finished; the six queued ones never started.
    assert not list(out.glob("runs/*/metrics.json"))
    assert len(list((out / "runs").iterdir())) == 2


@pytest.mark.slow
def test_a_failing_trial_in_the_pool_stops_the_sweep_with_its_one_line_error_and_its_log(tmp_path):
    from aelab.errors import AelabError
    from aelab.experiments.sweep import run_sweep

    base = {"data": {"dataset": "font5x7"}, "model": {"type": "ae", "encoder_layers": [16], "latent_dim": 2},
            "training": {"epochs": 2, "batch_size": 32, "validation_split": 0}}
    # Valid as a config; fails only once the trial loads its data: font5x7 has no label "A".
    grid = {"data.exclude_labels": [["a"], ["A"]]}
    with pytest.raises(AelabError) as error:
        run_sweep(base, grid, 1, tmp_path / "s", jobs=2, progress=False)
    message = str(error.value)
    assert message.startswith("trial exclude_labels=A: data.exclude_labels: ['A'] are not labels of")
    assert "\n" not in message and "exclude_labels=A" in (tmp_path / "s" / "logs" / "exclude_labels=A.log").read_text()
    assert not psutil.Process().children(recursive=True)
