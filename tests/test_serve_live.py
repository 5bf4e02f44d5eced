"""`aelab serve` and runs still training: a run is listed from the moment its folder holds a
config, its status says how far it got and how long is left, and a run that stopped without
finishing says so instead of "training" forever. Against a real `aelab train` (killed with
SIGKILL mid-training) and a folder caught half written. (In Chromium: test_serve_browser.py.)"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from aelab import runs
from aelab.config import load_config
from aelab.layout import CONFIG, HISTORY, SNAPSHOTS
from aelab.serve import Server

SRC = Path(__file__).resolve().parents[1] / "src"


def get(server, path: str) -> tuple[int, dict | bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    kind = response.getheader("content-type", "")
    return response.status, json.loads(body) if kind.startswith("application/json") else body


def start_training(runs_dir: Path, name: str, *overrides: str) -> subprocess.Popen:
    """`aelab train` on scikit-learn's digits (a 2-D VAE, the default job) in a child process."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    sets = [a for o in ["training.threads=1", "training.seed=1", *overrides] for a in ("--set", o)]
    return subprocess.Popen([sys.executable, "-m", "aelab", "train", "--runs-dir", str(runs_dir), "--name", name,
                             "--no-figures", "--no-progress", *sets],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for_epochs(history: Path, n: int, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not (history.is_file() and len(runs.read_history(history)) >= n):
        if proc.poll() is not None:
            raise AssertionError(f"training ended before epoch {n}: {proc.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no epoch {n} in {history} after {timeout:.0f} s")
        time.sleep(0.05)


def tree(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.stat(follow_symlinks=False).st_size, p.stat(follow_symlinks=False).st_mtime_ns)
            for p in root.rglob("*")}


@pytest.mark.slow
def test_a_run_killed_mid_training_is_shown_stopped_with_the_command_that_continues_it(tmp_path):
    root = tmp_path / "runs"
    proc = start_training(root, "killed", "training.epochs=2000")
    server = Server([root], port=0).start()
    try:
        wait_for_epochs(root / "killed" / HISTORY, 2, proc)
        status, found = get(server, "/api/status?run=killed")
        assert status == 200 and found["state"] == "training", found
        assert found["epochs"] == 2000 and 2 <= found["epoch"] < 2000
        assert [row["epoch"] for row in found["history"]] == list(range(1, found["epoch"] + 1))
        assert all(row["loss"] > 0 for row in found["history"])
        assert found["seconds_left"] > 0 and found["snapshot"] is None and found["snapshot_every"] is None
        status, listed = get(server, "/api/runs")
        assert [(r["id"], r["state"]) for r in listed["runs"]] == [("killed", "training")]
        assert listed["runs"][0]["metrics"]["epochs_run"] >= 2

        proc.send_signal(signal.SIGKILL)  # no handler runs: only the kernel releases the lock
        proc.wait(timeout=30)
        status, found = get(server, "/api/status?run=killed")
        assert found["state"] == "stopped" and found["seconds_left"] is None, found
        assert f"aelab train --resume {root.resolve() / 'killed'}" in found["message"]
        assert get(server, "/api/runs")[1]["runs"][0]["state"] == "stopped"
        status, found = get(server, "/api/info?run=killed")  # the explorer refuses it in one line
        assert status == 400 and runs.MODEL in found["error"] and "\n" not in found["error"]
    finally:
        proc.kill()
        proc.communicate()
        server.stop()


def test_the_status_of_a_half_written_run_folder_reads_what_is_there_and_writes_nothing(tmp_path):
    root = tmp_path / "runs"
    folder = runs.claim_dir(root / "half")  # the lock aelab train takes first, held by this process
    server = Server([root], port=0).start()
    try:
        assert get(server, "/api/runs")[1]["runs"] == []  # a lock, no config yet: not a run yet
        config = load_config(None, ["training.epochs=7", "training.snapshot_every=2"])
        runs.write_json(folder / CONFIG, config.to_dict())
        assert [(r["id"], r["state"]) for r in get(server, "/api/runs")[1]["runs"]] == [("half", "training")]
        status, found = get(server, "/api/status?run=half")
        assert status == 200, found
        assert (found["state"], found["epoch"], found["epochs"], found["history"]) == ("training", 0, 7, [])
        assert found["seconds_left"] is None and found["snapshot"] is None and found["snapshot_every"] == 2

        rows = [{"epoch": e, "loss": 40.0 / e, "val_loss": 41.0 / e, "seconds": 2.0} for e in (1, 2, 3)]
        runs.write_history(folder / HISTORY, rows)
        (folder / ".history.csv.99999-0a0b.aelab-tmp").write_text("epoch,loss\n1,4")  # a write under way
        (folder / SNAPSHOTS).mkdir()
        Image.new("RGB", (60, 20), (200, 30, 30)).save(folder / SNAPSHOTS / "epoch_0002.png")
        (folder / SNAPSHOTS / "epoch_0003.png").symlink_to(folder / SNAPSHOTS / "epoch_0002.png")
        (folder / SNAPSHOTS / "epoch_0003.png.aelab-tmp").write_bytes(b"\x89PNG half")
        status, found = get(server, "/api/status?run=half&since=1")
        assert [row["epoch"] for row in found["history"]] == [2, 3] and found["history"][0]["loss"] == 20.0
        assert found["epoch"] == 3 and found["seconds_left"] == (7 - 3) * 2.0
        assert found["snapshot"] == 2  # not the link
        status, png = get(server, "/api/snapshot?run=half&epoch=2")
        assert status == 200 and png == (folder / SNAPSHOTS / "epoch_0002.png").read_bytes()
        assert get(server, "/api/snapshot?run=half&epoch=3")[0] == 404  # a link is never followed
        assert get(server, "/api/snapshot?run=half&epoch=5")[0] == 404
        status, found = get(server, "/api/info?run=half")
        assert status == 400 and runs.MODEL in found["error"]

        # a snapshots folder that is a link: nothing is read through it
        outside = tmp_path / "elsewhere"
        shutil.move(folder / SNAPSHOTS, outside)
        (folder / SNAPSHOTS).symlink_to(outside, target_is_directory=True)
        assert get(server, "/api/status?run=half")[1]["snapshot"] is None
        assert get(server, "/api/snapshot?run=half&epoch=2")[0] == 404
        (folder / SNAPSHOTS).unlink()
        shutil.move(outside, folder / SNAPSHOTS)

        (folder / HISTORY).write_bytes(b"epoch,loss\n1,\xff\x00garbage\n")  # damaged: left out, not an error
        status, found = get(server, "/api/status?run=half")
        assert status == 200 and found["history"] == [] and found["epoch"] == 0
        runs.write_history(folder / HISTORY, rows)

        runs.release(folder)  # the process ends without a checkpoint or a model
        status, found = get(server, "/api/status?run=half")
        assert found["state"] == "stopped" and "nothing to resume" in found["message"], found
        assert found["epoch"] == 3 and found["seconds_left"] is None
        assert get(server, "/api/runs")[1]["runs"][0]["state"] == "stopped"
        before = tree(root)
        for path in ["/api/runs", "/api/status?run=half", "/api/snapshot?run=half&epoch=2", "/run?run=half"]:
            get(server, path)
        assert tree(root) == before  # serving wrote nothing, and took no lock it left behind
        assert not runs.is_locked(folder)

        shutil.rmtree(folder)  # as aelab train does with a run that saved no checkpoint
        status, found = get(server, "/api/status?run=half")
        assert status == 200 and found["state"] == "removed"
        assert get(server, "/api/runs")[1]["runs"] == []
    finally:
        runs.release(folder)
        server.stop()


@pytest.mark.parametrize("query", ["since=abc", "since=-1", "since=%C2%B2", "since=99999999999"])
def test_a_bad_status_request_gets_a_400_and_one_line(tmp_path, query):
    root = tmp_path / "runs"
    folder = runs.claim_dir(root / "r")
    runs.write_json(folder / CONFIG, load_config(None, []).to_dict())
    runs.release(folder)
    server = Server([root], port=0).start()
    try:
        status, found = get(server, f"/api/status?run=r&{query}")
        assert status == 400 and "?since= must be a whole number" in found["error"]
        status, found = get(server, "/api/snapshot?run=r")
        assert status == 400 and "?epoch=" in found["error"]
    finally:
        server.stop()
