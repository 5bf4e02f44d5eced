"""The fault campaign of issue 15, kept as tests so that none of these return: kill -9 and signals
during training, damaged and forged files, paths that point out of their folder, concurrent runs,
full disks and read-only folders, hostile configs and image folders. Every fault ends in one line
(no traceback), loses nothing, and touches no file outside the run."""

from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file

import aelab
from aelab import files, runs
from aelab.cli import main
from aelab.errors import AelabError
from aelab.train import checkpoint

SRC = str(Path(aelab.__file__).resolve().parents[1])
FONT = ["--no-progress", "--no-figures", "--set", "data.dataset=font5x7", "--set", "data.test_split=0",
        "--set", "training.epochs=2"]
# Digits, one thread, a checkpoint every epoch: ~50 batches and ~0.2 s per epoch, long enough to be
# interrupted in the middle of one.
DIGITS = ["--no-progress", "--no-figures", "--set", "training.batch_size=32", "--set", "training.threads=1",
          "--set", "training.checkpoint_every=1", "--set", "model.encoder_layers=[64]",
          "--set", "model.latent_dim=4", "--set", "training.epochs=3"]


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = [l for l in err.splitlines() if l.startswith("aelab: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def fails_with(capsys, *argv, says: str | list[str], code: int = 2) -> str:
    got, _, err = run_cli(capsys, *argv)
    line = one_line(err)
    assert got == code, (got, line)
    for text in [says] if isinstance(says, str) else says:
        assert text in line, line
    return line


def env() -> dict:
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}


def aelab_process(*argv, cwd, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "aelab", *map(str, argv)], cwd=cwd, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def weights(run: Path) -> dict:
    return {k: v.numpy() for k, v in load_file(run / runs.MODEL).items()}


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def font_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("font") / "run"
    assert main(["train", "--out", str(run), *FONT]) == 0
    return run


@pytest.fixture(scope="module")
def digits_reference(tmp_path_factory):
    """An uninterrupted run that the interrupted ones must end up identical to."""
    run = tmp_path_factory.mktemp("digits") / "whole"
    assert main(["train", "--out", str(run), *DIGITS]) == 0
    return run


def copy_run(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    return to


# ------------------------------------------------------------------ kill -9, signals, resume

@pytest.mark.slow
def test_random_kill_9_then_resume_gives_identical_weights(tmp_path, digits_reference):
    rng = np.random.default_rng(int(time.time()))
    run = tmp_path / "killed"
    proc = aelab_process("train", "--out", run, *DIGITS, cwd=tmp_path)
    while not (run / runs.CONFIG).is_file() and proc.poll() is None:
        time.sleep(0.01)
    delay = rng.uniform(0.0, 1.0)  # anywhere: loading, an epoch, a checkpoint write, evaluation
    time.sleep(delay)
    proc.kill()
    proc.wait()
    left = sorted(p.name for p in run.iterdir())
    # A leftover temporary file, as a kill during a checkpoint write leaves it.
    (run / f".checkpoint.safetensors.1-dead{files.TEMP_MARK}").write_bytes(b"\0" * 1000)
    code = main(["train", "--resume", str(run), "--no-progress", "--no-figures"])
    assert code == 0, (delay, left)
    assert same_weights(run, digits_reference), (delay, left)
    assert not [p for p in run.iterdir() if files.TEMP_MARK in p.name]


def test_sigterm_saves_a_checkpoint_mid_epoch_and_resume_is_exact(capsys, tmp_path, digits_reference):
    run = tmp_path / "stopped"

    def terminate_in_epoch_2():
        while not (run / runs.CHECKPOINT).is_file():  # epoch 1 has ended; epoch 2 runs
            time.sleep(0.002)
        time.sleep(0.005)  # into epoch 2 (an epoch takes 0.03-0.3 s; two remain)
        os.kill(os.getpid(), signal.SIGTERM)

    # Should the signal come after training (a very slow machine), it must not end pytest.
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        threading.Thread(target=terminate_in_epoch_2, daemon=True).start()
        code, _, err = run_cli(capsys, "train", "--out", run, *DIGITS)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == 130, "training ended before the signal arrived: nothing was interrupted"
    assert one_line(err).startswith("aelab: error: interrupted; the checkpoint is saved")
    with safe_open(str(run / runs.CHECKPOINT), "pt") as f:
        meta = f.metadata()
    # Stopped inside epoch 2 (or 3, when epochs take under the 50 ms the signal waits): mid-epoch,
    # so the checkpoint holds the epoch's partial state; on a loaded machine the signal may also
    # land between two epochs, where there is none to hold. Either way the resume must be exact.
    epoch = json.loads(meta["state"])["epoch"]
    assert epoch in (1, 2) and ("partial" in meta or epoch == 2)
    assert main(["train", "--resume", str(run), "--no-progress", "--no-figures"]) == 0
    assert same_weights(run, digits_reference)


def test_killed_before_its_first_checkpoint_can_be_resumed(capsys, tmp_path, digits_reference):
    # What a kill in the first epoch leaves: a claimed folder with its config and no checkpoint.
    run = tmp_path / "early"
    runs.claim_dir(run)
    runs.release(run)
    shutil.copy(digits_reference / runs.CONFIG, run / runs.CONFIG)
    fails_with(capsys, "train", "--out", run, *DIGITS, says=f"continue it with: aelab train --resume {run}")
    assert main(["train", "--resume", str(run), "--no-progress", "--no-figures"]) == 0
    assert same_weights(run, digits_reference)


def test_ctrl_c_while_starting_up_is_one_line(tmp_path):
    proc = aelab_process("train", "--runs-dir", tmp_path / "runs", cwd=tmp_path)
    maps = Path(f"/proc/{proc.pid}/maps")
    if not maps.exists():
        proc.kill()
        pytest.skip("no /proc to see when the process loads torch")
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if "libtorch" in maps.read_text():  # torch is loading: aelab's imports are under way
                break
        except OSError:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    # 130, or death by SIGINT (-2; a shell shows 130 too): CPython exits that way when a
    # KeyboardInterrupt once crossed a PyRun_* call of an extension being imported, even if caught.
    assert "Traceback" not in err and proc.returncode in (130, -signal.SIGINT), err
    assert err.strip().splitlines()[-1].startswith("aelab: ")


# ------------------------------------------------------------------------ concurrent runs

def test_one_folder_is_claimed_by_exactly_one_of_many(tmp_path):
    target, won, refused = tmp_path / "same", [], []
    barrier = threading.Barrier(8)

    def claim():
        barrier.wait()
        try:
            won.append(runs.claim_dir(target))
        except AelabError as e:
            refused.append(str(e))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(refused) == 7
    runs.release(target)


def test_two_trainings_on_one_out_cannot_mix(tmp_path):
    out, codes, barrier = tmp_path / "same", {}, threading.Barrier(2)

    def train(latent_dim):
        barrier.wait()
        codes[latent_dim] = main(["train", "--out", str(out), *FONT, "--set", f"model.latent_dim={latent_dim}"])

    threads = [threading.Thread(target=train, args=(d,)) for d in (3, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes.values()) == [0, 2], codes
    winner = next(d for d, code in codes.items() if code == 0)
    config = json.loads((out / runs.CONFIG).read_text())
    model_config = json.loads(safe_open(str(out / runs.MODEL), "pt").metadata()["config"])
    assert config["model"]["latent_dim"] == model_config["model"]["latent_dim"] == winner  # one run's files only


def test_resume_is_refused_while_the_run_trains(capsys, tmp_path, font_run):
    run = copy_run(font_run, tmp_path / "busy")
    runs.lock_run(run)  # as a training process holds it
    try:
        fails_with(capsys, "train", "--resume", run, says="in use by another aelab process")
    finally:
        runs.release(run)


@pytest.mark.parametrize("command", [["evaluate"], ["anomalies", "--out", "{tmp}/anomalies"]])
def test_evaluate_and_anomalies_wait_for_a_training_in_the_run(capsys, tmp_path, font_run, command):
    # Both merge their numbers into metrics.json, which the training writes when it ends.
    run = copy_run(font_run, tmp_path / "busy")
    before = (run / runs.METRICS).read_bytes()
    runs.lock_run(run)  # as a training process holds it
    try:
        argv = [a.replace("{tmp}", str(tmp_path)) for a in command]
        fails_with(capsys, argv[0], run, *argv[1:], says="in use by another aelab process")
    finally:
        runs.release(run)
    assert (run / runs.METRICS).read_bytes() == before
    assert not (tmp_path / "anomalies").exists()
    got, _, err = run_cli(capsys, "evaluate", run, "--splits", "test")  # once the training is done
    assert got == 0, err
    assert (run / runs.METRICS).read_bytes() != before


# ------------------------------------------------------------------- files outside the run

def test_faces_manifest_cannot_delete_files_outside(capsys, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (64, 64), (200, 180, 160)).save(photos / "plain.png")  # no face in it
    victims = [tmp_path / "victim.txt", tmp_path / "photos_faces_victim.txt"]
    for v in victims:
        v.write_text("keep me")
    crops = tmp_path / "photos_faces"
    crops.mkdir()
    (crops / "aelab-faces.json").write_text(json.dumps({"settings": {"version": 1}, "photos": {
        "a.jpg": {"stamp": [1, 1], "crop": str(victims[0])},
        "b.jpg": {"stamp": [1, 1], "crop": "../photos_faces_victim.txt"}}}))
    fails_with(capsys, "train", "--runs-dir", tmp_path / "runs", "--no-progress", "--set", "data.dataset=faces",
               "--set", f"data.path={photos}", says="no face found")
    assert all(v.read_text() == "keep me" for v in victims)


def test_inside_refuses_paths_that_leave_the_folder(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "link").symlink_to(tmp_path)
    for bad in ["../x", "/etc/passwd", "a/../../x", "link/x", "", "."]:
        with pytest.raises(AelabError):
            files.inside(tmp_path / "in", bad)
    assert files.inside(tmp_path / "in", "sub/a.png") == (tmp_path / "in" / "sub" / "a.png").resolve()


def test_generate_out_never_overwrites(capsys, tmp_path, font_run):
    other = tmp_path / "other"
    other.mkdir()
    (other / "reconstruction.png").write_bytes(b"another run's figure")
    fails_with(capsys, "generate", font_run, "-n", "4", "--out", other / "reconstruction.png",
               says="already exists")
    assert (other / "reconstruction.png").read_bytes() == b"another run's figure"
    (other / "generated.png").write_bytes(b"mine")
    assert main(["generate", str(font_run), "-n", "4", "--out", str(other)]) == 0  # a folder: a new name
    assert (other / "generated.png").read_bytes() == b"mine" and (other / "generated-2.png").stat().st_size > 1000


def test_failure_keeps_an_empty_out_folder_the_user_made(capsys, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    fails_with(capsys, "train", "--out", out, "--set", "data.dataset=folder", "--set",
               f"data.path={tmp_path / 'nowhere'}", says="does not exist")
    assert out.is_dir() and list(out.iterdir()) == []


def test_resume_with_a_changed_model_leaves_config_untouched(capsys, tmp_path, font_run):
    run = copy_run(font_run, tmp_path / "run")
    before = (run / runs.CONFIG).read_bytes()
    fails_with(capsys, "train", "--resume", run, "--set", "model.latent_dim=8", says="only training.* settings")
    good = (run / runs.CHECKPOINT).read_bytes()
    flip_byte(run / runs.CHECKPOINT, from_end=3000)  # a refusal after the config was read
    fails_with(capsys, "train", "--resume", run, "--set", "training.epochs=3", says="damaged")
    assert (run / runs.CONFIG).read_bytes() == before
    (run / runs.CHECKPOINT).write_bytes(good)
    assert main(["train", "--resume", str(run), "--set", "training.epochs=3", "--no-progress", "--no-figures"]) == 0
    assert json.loads((run / runs.CONFIG).read_text())["training"]["epochs"] == 3


# -------------------------------------------------------------------- damaged and forged files

def flip_byte(path: Path, from_end: int = 50) -> None:
    data = bytearray(path.read_bytes())
    data[-from_end] ^= 0x10
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("command", [["evaluate"], ["report", "--no-animations"], ["generate", "-n", "4"]])
def test_flipped_byte_in_the_weights_is_detected(capsys, tmp_path, font_run, command):
    run = copy_run(font_run, tmp_path / "run")
    flip_byte(run / runs.MODEL)
    metrics = (run / runs.METRICS).read_bytes()
    fails_with(capsys, command[0], run, *command[1:], says=["model.safetensors is damaged", "SHA-256"])
    assert (run / runs.METRICS).read_bytes() == metrics


def test_flipped_byte_in_the_checkpoint_is_detected(capsys, tmp_path, font_run):
    run = copy_run(font_run, tmp_path / "run")
    flip_byte(run / runs.CHECKPOINT, from_end=3000)
    fails_with(capsys, "train", "--resume", run, "--set", "training.epochs=3", says="checkpoint.safetensors is damaged")


def forge(path: Path, **changes) -> None:
    """Rewrite a tensor file with changed metadata and a matching hash: a forged, not a damaged, file."""
    tensors, meta = checkpoint.read(path, "file")
    checkpoint.atomic_save(tensors, path, {**meta, **changes})


def test_forged_input_shape_is_refused_before_building(capsys, tmp_path, font_run):
    run = copy_run(font_run, tmp_path / "run")
    forge(run / runs.MODEL, input_shape=[3, 40000, 40000])
    fails_with(capsys, "evaluate", run, says="is not an image shape")


def test_garbage_training_state_is_one_line(capsys, tmp_path, font_run):
    run = copy_run(font_run, tmp_path / "run")
    forge(run / runs.CHECKPOINT, state={"epoch": "many", "bogus": 1})
    fails_with(capsys, "train", "--resume", run, "--set", "training.epochs=3", says="training state")


@pytest.mark.parametrize("name, content, command", [
    ("metrics.json", "{not json", ["evaluate"]),
    ("history.csv", "epoch,loss\n1,abc\n", ["report", "--no-animations"]),
])
def test_damaged_metrics_or_history_is_one_line(capsys, tmp_path, font_run, name, content, command):
    run = copy_run(font_run, tmp_path / "run")
    (run / name).write_text(content)
    fails_with(capsys, command[0], run, *command[1:], says=name)


# ------------------------------------------------------------- full disks, read-only places

def test_full_disk_during_training_is_one_line_and_leaves_nothing(capsys, tmp_path):
    # A file size limit makes every write past 64 kB fail as a full disk would (EFBIG; Python
    # ignores SIGXFSZ), here at the first checkpoint.
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, hard))
    try:
        code, _, err = run_cli(capsys, "train", "--runs-dir", tmp_path / "runs", *FONT)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert code == 2 and "larger than this system allows" in one_line(err)
    assert list((tmp_path / "runs").iterdir()) == []  # the half-made run and its temporary files are gone


@pytest.fixture
def read_only(tmp_path):
    """Make a folder read-only for this process: chmod for a user; for root (which ignores
    permissions) a read-only bind mount, or skip."""
    mounted = []

    def make(folder: Path) -> Path:
        if os.geteuid() != 0:
            for p in [folder, *folder.rglob("*")]:
                p.chmod(p.stat().st_mode & ~0o222)
            return folder
        ok = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True).returncode == 0
        if ok:
            mounted.append(folder)
            ok = subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], capture_output=True).returncode == 0
        if not ok:
            pytest.skip("running as root without permission to mount: cannot make a folder read-only")
        return folder

    yield make
    for folder in mounted:
        subprocess.run(["umount", str(folder)], capture_output=True)
    for p in tmp_path.rglob("*"):
        if not p.is_symlink():
            p.chmod(p.stat().st_mode | 0o200)


@pytest.mark.parametrize("command", [
    ["train", "--resume", "{run}", "--set", "training.epochs=3"], ["evaluate", "{run}"],
    ["generate", "{run}", "-n", "4"], ["report", "{run}", "--no-animations"], ["anomalies", "{run}"],
    ["interpolate", "{run}", "--from", "a", "--to", "b"]])
def test_read_only_run_folder_is_one_line(capsys, tmp_path, font_run, read_only, command):
    run = read_only(copy_run(font_run, tmp_path / "run"))
    fails_with(capsys, *[a.format(run=run) for a in command], says=str(run))


def test_out_in_a_read_only_place_is_one_line(capsys, tmp_path, font_run, read_only):
    (tmp_path / "ro").mkdir()
    place = read_only(tmp_path / "ro")
    fails_with(capsys, "train", "--out", place / "run", *FONT, says=str(place))
    fails_with(capsys, "train", "--runs-dir", place / "runs", *FONT, says=str(place))
    fails_with(capsys, "generate", font_run, "-n", "4", "--out", place / "g.png", says=str(place))


def test_bad_places_for_output_are_one_line(capsys, tmp_path, font_run):
    (tmp_path / "file").write_text("x")
    fails_with(capsys, "train", "--runs-dir", tmp_path / "file", *FONT, says="is a file")
    fails_with(capsys, "train", "--out", tmp_path / "file" / "sub", *FONT, says="file")
    fails_with(capsys, "generate", font_run, "-n", "4", "--out", tmp_path / "file" / "g.png", says="file")
    fails_with(capsys, "train", "--name", "x" * 300, "--runs-dir", tmp_path / "runs", *FONT, says="--name")


# ----------------------------------------------------------------------- hostile image folders

def test_fifo_and_broken_links_in_an_image_folder_are_skipped(tmp_path):
    from aelab.data.folder import load_folder

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        Image.new("L", (8, 8), 40 * i).save(folder / f"{i}.png")
    os.mkfifo(folder / "x.png")
    (folder / "loop.png").symlink_to(folder / "loop.png")
    (folder / "dangling.png").symlink_to(tmp_path / "gone.png")
    result = {}
    reader = threading.Thread(target=lambda: result.update(data=load_folder(folder, cache=False)), daemon=True)
    reader.start()
    reader.join(timeout=30)
    assert not reader.is_alive(), "reading the folder hangs on the FIFO"
    assert len(result["data"]) == 3


def test_huge_first_image_asks_for_input_size_instead_of_allocating(capsys, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("L", (5000, 5000), 128).save(folder / "a.png")
    Image.new("L", (8, 8), 0).save(folder / "b.png")
    fails_with(capsys, "train", "--runs-dir", tmp_path / "runs", "--set", "data.dataset=folder", "--set",
               f"data.path={folder}", says=["5000x5000", "data.input_size"])


def test_single_image_folder_has_no_test_set(capsys, tmp_path):
    folder = tmp_path / "one"
    folder.mkdir()
    Image.new("L", (8, 8), 0).save(folder / "a.png")
    fails_with(capsys, "train", "--runs-dir", tmp_path / "runs", "--set", "data.dataset=folder", "--set",
               f"data.path={folder}", says=["1 image", "data.test_split"])


# ------------------------------------------------------------------------- hostile configs

@pytest.mark.parametrize("override, says", [
    ("training.epochs=true", "epochs expects a number"),
    ("training.optimizer.weight_decay=Infinity", "weight_decay"),
    ("training.seed=-1", "training.seed"),
    (f"training.seed={2**70}", "training.seed"),
    ("model.encoder_layers=[1e9]", "encoder_layers"),
    ("data.exclude_labels=[0,1,2,3,4,5,6,7,8,9]", "every label"),
])
def test_bad_values_are_one_line(capsys, tmp_path, override, says):
    fails_with(capsys, "train", "--runs-dir", tmp_path, "--no-progress", "--set", override, says=says)
    assert list(tmp_path.iterdir()) == []


def test_empty_encoder_layers_means_no_hidden_layer(tmp_path):
    config = aelab.load_config(None, ["model.encoder_layers=[]"])
    assert config.model.encoder_layers == [] and config.model.decoder_layers == []
    assert main(["train", "--out", str(tmp_path / "linear"), *FONT, "--set", "model.encoder_layers=[]"]) == 0
    shapes = {k: tuple(v.shape) for k, v in weights(tmp_path / "linear").items()}
    assert sorted(shapes.values()) == sorted([(4, 35), (4,), (35, 2), (35,)]), shapes  # input -> z -> output


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with files.atomic_write(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk gone")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
    with pytest.raises(AelabError, match="never overwrites"):
        files.write_text(target, "new", overwrite=False)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
    files.write_text(tmp_path / "fresh.txt", "new", overwrite=False)
    assert (tmp_path / "fresh.txt").read_text() == "new"


@pytest.mark.parametrize("name, content, says", [
    ("latin1.json", '{"name": "café"}'.encode("latin-1"), "not UTF-8"),
    ("deep.json", ("[" * 100_000 + "]" * 100_000).encode(), "nested too deeply"),
    ("bomb.yaml", ("a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi"))).encode(), "aliases"),
])
def test_hostile_config_files_are_one_line_and_fast(capsys, tmp_path, name, content, says):
    (tmp_path / name).write_bytes(content)
    started = time.perf_counter()
    fails_with(capsys, "train", "--config", tmp_path / name, "--runs-dir", tmp_path / "runs", says=says)
    assert time.perf_counter() - started < 5


def test_huge_values_are_not_echoed_whole(capsys, tmp_path):
    labels = json.dumps([f"label-{i}" for i in range(300_000)])  # ~5 MB
    line = fails_with(capsys, "train", "--set", f"data.exclude_labels={labels}", "--runs-dir", tmp_path / "runs",
                      says="exclude_labels")
    assert len(line) < 1200
    (tmp_path / "big.json").write_text(json.dumps({"data": {"exclude_labels": labels}}))
    fails_with(capsys, "train", "--config", tmp_path / "big.json", says="a config is a few kB")


def test_debug_shows_the_traceback(capsys):
    with pytest.raises(AelabError, match="epochs expects a number"):
        main(["--debug", "train", "--set", "training.epochs=true"])


# ===================================================================== round 2 (issue 23)
# A second campaign, as a hostile user would: run folders from elsewhere, links, caches, sizes.

# ---------------------------------------------------------- 1. a run folder names code to run

PLANTED = '''
import pathlib
pathlib.Path(__file__).with_name("imported").write_text("the module ran")
from torch import nn

def make(input_shape, out_features):
    pathlib.Path(__file__).with_name("called").write_text("the factory ran")
    c, h, w = input_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, out_features))
'''


@pytest.fixture
def planted_run(tmp_path, font_run, monkeypatch):
    """A run whose config.json, model file and checkpoint name a factory in a module planted on the
    import path, which leaves a file behind when it is imported or called."""
    (tmp_path / "planted_by_them.py").write_text(PLANTED)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("planted_by_them", None)
    run = copy_run(font_run, tmp_path / "theirs")
    config = json.loads((run / runs.CONFIG).read_text())
    config["model"]["encoder"] = "planted_by_them:make"
    (run / runs.CONFIG).write_text(json.dumps(config))
    for name in (runs.MODEL, runs.CHECKPOINT):
        tensors, meta = checkpoint.read(run / name, "file")
        if "config" in meta:
            meta["config"]["model"]["encoder"] = "planted_by_them:make"
        checkpoint.atomic_save(tensors, run / name, meta)
    yield run
    sys.modules.pop("planted_by_them", None)


@pytest.mark.parametrize("command", [
    ["report", "--no-animations"], ["generate", "-n", "4"], ["summary"], ["evaluate"], ["latent"],
    ["interpolate", "--from", "0", "--to", "1"], ["anomalies"], ["fit-sampler", "--sampler", "gmm"]])
def test_a_factory_named_by_a_run_is_never_imported_without_trust_code(capsys, tmp_path, planted_run, command):
    fails_with(capsys, command[0], planted_run, *command[1:], says=["planted_by_them:make", "--trust-code"])
    assert not (tmp_path / "imported").exists() and "planted_by_them" not in sys.modules


def test_resume_and_python_load_refuse_a_factory_named_by_a_run(capsys, tmp_path, planted_run):
    fails_with(capsys, "train", "--resume", planted_run, "--set", "training.epochs=3",
               says=["planted_by_them:make", "--trust-code"])
    with pytest.raises(AelabError, match="trust_code=True"):
        aelab.load(planted_run)
    with pytest.raises(AelabError, match="trust_code=True"):
        aelab.explore.open_run(planted_run)
    assert not (tmp_path / "imported").exists()
    # The payload is real: trusted, it runs (and the weights then do not fit its network).
    with pytest.raises(AelabError, match="weights do not fit"):
        aelab.load(planted_run, trust_code=True)
    assert (tmp_path / "called").exists()


def test_trust_code_imports_the_factory_and_a_users_own_config_needs_no_flag(capsys, tmp_path, monkeypatch):
    (tmp_path / "my_own_nets.py").write_text(PLANTED)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("my_own_nets", None)
    run = tmp_path / "mine"
    try:
        assert main(["train", "--out", str(run), *FONT, "--set", "model.encoder=my_own_nets:make"]) == 0
        sys.modules.pop("my_own_nets")
        fails_with(capsys, "summary", run, says="--trust-code")
        assert main(["summary", str(run), "--trust-code"]) == 0
        assert aelab.load(run).model_ is not None  # its module is imported now: the program's own
    finally:
        sys.modules.pop("my_own_nets", None)


# ------------------------------------------------------- 2. links inside a run lead writes out

@pytest.mark.parametrize("dangling", [True, False])
def test_a_lock_file_that_is_a_link_is_never_followed(capsys, tmp_path, font_run, dangling):
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "created-by-aelab"
    if not dangling:
        target.write_text("theirs")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / runs.LOCK).symlink_to(target)
    fails_with(capsys, "train", "--out", fresh, *FONT, says=[runs.LOCK, "symbolic link"])
    run = copy_run(font_run, tmp_path / "run")
    (run / runs.LOCK).unlink(missing_ok=True)
    (run / runs.LOCK).symlink_to(target)
    fails_with(capsys, "train", "--resume", run, "--set", "training.epochs=3", says=[runs.LOCK, "symbolic link"])
    assert [p.name for p in outside.iterdir()] == ([] if dangling else ["created-by-aelab"])
    assert dangling or target.read_text() == "theirs"


def test_a_snapshots_folder_that_is_a_link_is_refused(capsys, tmp_path, font_run):
    outside = tmp_path / "outside"
    outside.mkdir()
    run = copy_run(font_run, tmp_path / "run")
    (run / "snapshots").symlink_to(outside)
    fails_with(capsys, "train", "--resume", run, "--set", "training.epochs=3", "--set", "training.snapshot_every=1",
               says=["snapshots", "symbolic link"])
    assert list(outside.iterdir()) == []


def test_no_write_below_a_held_folder_follows_a_link(tmp_path):
    outside, run = tmp_path / "outside", tmp_path / "run"
    outside.mkdir()
    runs.claim_dir(run)
    try:
        (run / "sub").symlink_to(outside)
        (run / "made").mkdir()
        (run / "made" / "deeper").symlink_to(outside)
        for path in [run / "sub" / "a.png", run / "made" / "deeper" / "b.json", run / "sub" / "x" / "c.png"]:
            with pytest.raises(AelabError, match="symbolic link"):
                files.write_text(path, "x")
        with pytest.raises(AelabError, match="symbolic link"):
            files.make_folder(run / "sub")
        (run / "final.json").symlink_to(outside / "victim.json")
        files.write_text(run / "final.json", "mine")  # the link itself is replaced, never followed
        assert not (run / "final.json").is_symlink() and list(outside.iterdir()) == []
    finally:
        runs.release(run)


# --------------------------------------------------------------------------------- 2c. sweeps

SWEEP = {"data": {"dataset": "font5x7", "test_split": 0}, "model": {"encoder_layers": [16], "latent_dim": 2},
         "training": {"epochs": 1, "threads": 1}}


@pytest.mark.slow
def test_two_settings_with_one_slug_get_two_folders(capsys, tmp_path):
    (tmp_path / "s.json").write_text(json.dumps({**SWEEP, "sweep": {"grid": {"name": ["a b", "a-b"],
                                                                           "model.latent_dim": [2]}}}))
    assert main(["sweep", str(tmp_path / "s.json"), "--out", str(tmp_path / "sw")]) == 0
    folders = sorted(p.name for p in (tmp_path / "sw" / "runs").iterdir())
    assert len(folders) == 2 and len({f.rsplit("-", 1)[0] for f in folders}) == 1, folders
    rows = (tmp_path / "sw" / "results.csv").read_text().splitlines()[1:]
    assert len(rows) == 2 and len({r.split(",")[-1] for r in rows}) == 2  # each row its own run


@pytest.mark.slow
def test_a_second_sweep_on_the_same_folder_is_refused_and_results_are_whole(capsys, tmp_path):
    (tmp_path / "s.json").write_text(json.dumps({**SWEEP, "sweep": {"grid": {"model.latent_dim": [2, 3]}}}))
    out = tmp_path / "sw"
    assert main(["sweep", str(tmp_path / "s.json"), "--out", str(out)]) == 0
    before = (out / "results.csv").read_bytes()
    runs.lock_run(out)  # as a running `aelab sweep` holds it
    try:
        fails_with(capsys, "sweep", tmp_path / "s.json", "--out", out, says="in use by another aelab process")
    finally:
        runs.release(out)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100, hard))  # the disk fills while the results are written
    try:
        code, _, err = run_cli(capsys, "sweep", tmp_path / "s.json", "--out", out)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert code == 2 and "larger than this system allows" in one_line(err)
    assert (out / "results.csv").read_bytes() == before
    (out / "logs").rmdir()
    (out / "logs").symlink_to(tmp_path)
    fails_with(capsys, "sweep", tmp_path / "s.json", "--out", out, says=["logs", "symbolic link"])


def test_sigterm_stops_a_sweep_with_exit_130(capsys, tmp_path):
    slow = {**SWEEP, "data": {"dataset": "digits", "limit": 400}, "training": {"epochs": 500, "threads": 1},
            "sweep": {"grid": {"model.latent_dim": [2, 3]}}}
    (tmp_path / "s.json").write_text(json.dumps(slow))
    out = tmp_path / "sw"

    def terminate_once_training():
        while not list(out.glob("runs/*/checkpoint.safetensors")):
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        threading.Thread(target=terminate_once_training, daemon=True).start()
        code, _, err = run_cli(capsys, "sweep", tmp_path / "s.json", "--out", out)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == 130 and "interrupted" in one_line(err)


@pytest.mark.slow
def test_concurrent_generate_to_one_file_never_replaces_it(tmp_path, font_run):
    target = tmp_path / "g.png"
    procs = [aelab_process("generate", font_run, "-n", "4", "--seed", seed, "--out", target, cwd=tmp_path)
             for seed in (1, 2, 3)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    won = [seed for seed, (code, _) in zip((1, 2, 3), results) if code == 0]
    assert len(won) == 1, results
    assert all("already exists" in err for code, err in results if code != 0), results
    assert Image.open(target).size[0] > 50 and not [p for p in tmp_path.iterdir() if files.TEMP_MARK in p.name]


# ----------------------------------------------------------- 3. caches are checked, and rebuilt

@pytest.fixture
def private_data(tmp_path, monkeypatch):
    monkeypatch.setenv("AELAB_DATA_DIR", str(tmp_path / "aelab-data"))
    return tmp_path / "aelab-data"


def labelled_folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for label in ("a", "b", "c"):
        (root / label).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).save(root / label / f"{i}.png")
    return root


def npz_replace(path: Path, **changes) -> None:
    """Rewrite an .npz with some arrays changed and the others (its hashes included) as they were."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    np.savez(path.with_suffix(".tmp.npz"), **{**arrays, **changes})
    os.replace(path.with_suffix(".tmp.npz"), path)


def test_a_damaged_image_folder_cache_is_decoded_again(tmp_path, private_data, caplog):
    from aelab.data.folder import load_folder

    folder = labelled_folder(tmp_path / "pictures")
    good = load_folder(folder, (10, 10), 3)
    npy = next((private_data / "folders").glob("pictures-*.npy"))
    flip_byte(npy, from_end=20)  # a pixel
    with caplog.at_level(logging.WARNING, logger="aelab"):
        again = load_folder(folder, (10, 10), 3)
    assert "damaged cache" in caplog.text and np.array_equal(again.images, good.images)
    npz = npy.with_suffix(".npz")
    with np.load(npz) as z:
        permuted = z["labels"][::-1].copy()
    npz_replace(npz, labels=permuted)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="aelab"):
        again = load_folder(folder, (10, 10), 3)
    assert "labels no longer match" in caplog.text and np.array_equal(again.labels, good.labels)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="aelab"):
        again = load_folder(folder, (10, 10), 3)  # rebuilt for good: never a dead end
    assert "loaded 18 images" in caplog.text and "ignoring" not in caplog.text


def test_a_decoding_killed_leaves_no_part_file_for_good(tmp_path, private_data):
    from aelab.data.folder import load_folder

    folder = labelled_folder(tmp_path / "pictures")
    (private_data / "folders").mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = private_data / "folders" / f".pictures-x.npy.{dead.stdout.strip()}.part"
    left.write_bytes(b"\0" * 4096)  # what kill -9 during decoding leaves
    load_folder(folder, (10, 10), 3)
    assert not left.exists()


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="Fashion-MNIST not installed")
@pytest.mark.parametrize("damage", ["flip", "permute"])
def test_a_damaged_decoded_fashion_mnist_cache_is_decoded_again(private_data, caplog, damage):
    from aelab.data import mnist_family

    good = mnist_family.load("fashion-mnist", only="test")
    decoded = private_data / "decoded" / "fashion-mnist"
    if damage == "flip":
        flip_byte(decoded / "t10k-images-idx3-ubyte.npy", from_end=5000)
    else:
        labels = decoded / "t10k-labels-idx1-ubyte.npy"
        np.save(labels, np.load(labels)[::-1])
    with caplog.at_level(logging.WARNING, logger="aelab"):
        again = mnist_family.load("fashion-mnist", only="test")
    assert "is damaged" in caplog.text
    assert np.array_equal(again.images, good.images) and np.array_equal(again.labels, good.labels)


def test_the_feature_classifier_cache_is_checked_and_retrained(private_data, caplog):
    from safetensors.torch import save_file

    from aelab.data.registry import load_dataset
    from aelab.evaluate import feature_classifier as fc

    data = load_dataset(aelab.load_config(None, ["data.dataset=digits", "data.limit=300"]).data, 0)[0]
    first = fc.classifier_for(data)
    path = next((private_data / "classifiers").glob("*.safetensors"))
    tensors, meta = checkpoint.read(path, "classifier")
    tensors = {k: v + 1.0 if k.endswith("head.bias") else v for k, v in tensors.items()}
    save_file(tensors, str(path), metadata={k: json.dumps(v) for k, v in meta.items()})  # changed, hash dropped
    with caplog.at_level(logging.WARNING, logger="aelab"):
        second = fc.classifier_for(data)
    assert "no SHA-256 key" in caplog.text and "training it again" in caplog.text
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="aelab"):
        fc.classifier_for(data)  # the retrained file is used from now on
    assert caplog.text == ""


@pytest.mark.slow  # draws the whole dSprites grid once (~10 s)
def test_an_all_zero_dsprites_cache_is_drawn_again(private_data, caplog):
    from aelab.data import dsprites

    path = private_data / "dsprites" / dsprites.CACHE_FILE
    path.parent.mkdir(parents=True)
    np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(dsprites.N_IMAGES, 64, 8)).flush()
    (path.with_suffix(".json")).write_text(json.dumps({"source": dsprites.drawing_fingerprint(), "sha256": "0" * 64}))
    with caplog.at_level(logging.WARNING, logger="aelab"):
        grid = dsprites.cached_grid()
    assert "damaged" in caplog.text
    index = np.array([0, 123_456, dsprites.N_IMAGES - 1])
    assert np.array_equal(np.unpackbits(grid[index], axis=-1).astype(bool), dsprites.render(index))


@pytest.mark.slow  # ~2.5 s on a shared machine
def test_a_damaged_face_crop_is_cropped_again(tmp_path, private_data, caplog):
    skimage_data = pytest.importorskip("skimage.data")
    from aelab.data.faces import crops_folder, load_faces

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(skimage_data.astronaut()).save(photos / "astronaut.jpg")
    first = load_faces(photos)
    crop = crops_folder(photos) / "astronaut.jpg.png"
    good = crop.read_bytes()
    Image.new("L", (70, 70), 0).save(crop)  # a valid PNG, the wrong picture
    with caplog.at_level(logging.WARNING, logger="aelab"):
        again = load_faces(photos)
    assert "is damaged" in caplog.text and crop.read_bytes() == good
    assert np.array_equal(again.images, first.images)


# ------------------------------------------------------------ 4. tensor files without their key

def drop_hash(path: Path, change=lambda k, v: v) -> None:
    """Rewrite a tensor file with a changed weight and without its SHA-256 key."""
    from safetensors.torch import save_file

    tensors, meta = checkpoint.read(path, "file")
    save_file({k: change(k, v) for k, v in tensors.items()}, str(path),
              metadata={k: json.dumps(v) for k, v in meta.items()})


@pytest.mark.parametrize("name, command", [
    (runs.MODEL, ["generate", "{run}", "-n", "4"]), (runs.MODEL, ["summary", "{run}"]),
    (runs.CHECKPOINT, ["train", "--resume", "{run}", "--set", "training.epochs=3"])])
def test_a_tensor_file_without_its_hash_is_refused(capsys, tmp_path, font_run, name, command):
    run = copy_run(font_run, tmp_path / "run")
    drop_hash(run / name, lambda k, v: v * 2 if v.is_floating_point() else v)
    fails_with(capsys, *[a.format(run=run) for a in command], says=[name, "no SHA-256 key"])
    with pytest.raises(AelabError, match="no SHA-256 key"):
        checkpoint.read(run / name, "file")


def test_a_sampler_file_without_its_hash_is_fitted_again(capsys, tmp_path, font_run):
    run = copy_run(font_run, tmp_path / "run")
    assert main(["fit-sampler", str(run), "--sampler", "gmm", "--no-progress"]) == 0
    drop_hash(run / "sampler_gmm.safetensors")
    code, _, err = run_cli(capsys, "generate", run, "-n", "4", "--sampler", "gmm")
    assert code == 0 and "sampler_gmm.safetensors is damaged" in err
    checkpoint.read(run / "sampler_gmm.safetensors", "sampler")  # stored again, with its key


# ---------------------------------------------------------------------- 5. every size is capped

@pytest.mark.parametrize("argv, says", [
    (["interpolate", "{run}", "--from", "0", "--to", "1", "--steps", "1000000"], ["--steps 1,000,000", "'steps'"]),
    (["arithmetic", "{run}", " + ".join(["#1"] * 1000)], ["'expression_characters'"]),
    (["morph", "{run}", "--from", "0", "--to", "1", "--frames", "100000"], ["--frames 100,000", "'frames'"]),
    (["animate", "{run}", "--frames", "100000"], ["'frames'"]),
    (["generate", "{run}", "-n", "100000000"], ["-n 100,000,000", "'figure_images'"]),
    (["traverse", "{run}", "--steps", "1000"], ["'figure_images'"]),
    (["generate", "{run}", "--seed", str(2**70)], ["'seed'"]),
    (["denoise", "{run}", "--seed", "-1"], ["'seed'"]),
    (["evaluate", "{run}", "--nll-samples", "100000000"], ["'importance_samples'"]),
])
def test_what_a_command_is_asked_to_make_is_capped_at_once(capsys, font_run, argv, says):
    started = time.perf_counter()
    fails_with(capsys, *[a.format(run=font_run) for a in argv], says=says)
    assert time.perf_counter() - started < 20


@pytest.mark.parametrize("override, says", [
    ("data.input_size=[100000,100000]", ["data.input_size", "'image_side'"]),
    ("model.latent_dim=1000000000", ["model.latent_dim", "'latent_dim'"]),
])
def test_what_a_config_asks_to_build_is_capped(capsys, tmp_path, override, says):
    fails_with(capsys, "train", "--runs-dir", tmp_path, "--no-progress", "--set", override, says=says)
    assert list(tmp_path.iterdir()) == []


def test_a_huge_codebook_and_a_huge_sample_are_refused_in_python(capsys, tmp_path):
    fails_with(capsys, "train", "--runs-dir", tmp_path, "--no-progress", "--set", "model.type=vqvae",
               "--set", "model.options={\"codebook_size\": 1e9}", says=["codebook_size", "'codebook_size'"])
    X = np.random.default_rng(0).random((64, 8, 8))
    vae = aelab.VAE(encoder_layers=[8], epochs=1).fit(X)
    for n in (10**12, 10**7):
        with pytest.raises(AelabError, match="'samples'|'sample_values'"):
            vae.sample(n)
    with pytest.raises(AelabError, match="'seed'"):
        vae.sample(2, seed=2**70)


# --------------------------------------------------------------- 6. only the formats the README lists

EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nnewpath 0 0 moveto 8 8 lineto stroke\nshowpage\n%%EOF\n"
FAKE_GS = "#!/bin/sh\necho ran > \"$(dirname \"$0\")/ghostscript-ran\"\nexit 1\n"


def fake_ghostscript(tmp_path: Path) -> tuple[dict, Path]:
    """An environment whose `gs` leaves a file behind when anything runs it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gs").write_text(FAKE_GS)
    (bin_dir / "gs").chmod(0o755)
    return {**env(), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}, bin_dir / "ghostscript-ran"


def test_an_eps_file_named_png_is_never_opened(tmp_path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(3):
        Image.new("L", (8, 8), 60 * i).save(folder / f"{i}.png")
    (folder / "evil.png").write_bytes(EPS)
    environment, ran = fake_ghostscript(tmp_path)
    script = ("import logging, sys; logging.basicConfig(level=logging.WARNING)\n"
              "from aelab.data.folder import load_folder\n"
              f"print(len(load_folder({str(folder)!r}, (8, 8), 1, cache=False)))")
    done = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "3", done.stderr
    assert "skipped" in done.stderr and "evil.png" in done.stderr and not ran.exists()


@pytest.mark.slow  # a few seconds of decoding in a child process, interrupted
@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
def test_interrupting_the_decoding_pool_is_one_line(tmp_path, how):
    folder = tmp_path / "many"
    folder.mkdir()
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (160, 160, 3), dtype=np.uint8)
    for i in range(1200):  # enough for the worker pool (PARALLEL_FROM) and a few seconds of work
        Image.fromarray(np.roll(noise, i, axis=0)).save(folder / f"{i:04d}.png", compress_level=1)
    data_dir = tmp_path / "aelab-data"
    environment = {**env(), "AELAB_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "aelab", "train", "--no-progress", "--runs-dir", str(tmp_path / "runs"),
                             "--set", "data.dataset=folder", "--set", f"data.path={folder}",
                             "--set", "data.input_size=[32,32]"], env=environment, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list(data_dir.glob("folders/.*.part")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # the workers are decoding
    # Decoding 1,200 images takes seconds on 2 cores: a process already gone means the signal was
    # never tested, so the test fails rather than passing on nothing.
    assert proc.poll() is None, "the folder was decoded before the signal; nothing was interrupted"
    if how == "sigterm":
        proc.send_signal(signal.SIGTERM)
    else:
        os.killpg(proc.pid, signal.SIGINT)  # the terminal sends Ctrl-C to the whole group, workers too
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("aelab: ") and not list(data_dir.glob("folders/.*.part"))


# ------------------------------------------------------ 2b. a hostile run folder and idle clients

def get(port: int, path: str, timeout: float = 10) -> tuple[int, bytes]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_a_fifo_or_dev_zero_in_a_run_never_hangs_serve(tmp_path, font_run):
    from aelab.serve import Server

    root = tmp_path / "runs"
    copy_run(font_run, root / "good")
    fifo = copy_run(font_run, root / "fifo")
    (fifo / runs.METRICS).unlink()
    os.mkfifo(fifo / runs.METRICS)
    zero = copy_run(font_run, root / "zero")
    (zero / runs.METRICS).unlink()
    (zero / runs.METRICS).symlink_to("/dev/zero")
    (zero / runs.HISTORY).unlink()
    (zero / runs.HISTORY).symlink_to("/dev/zero")
    server = Server([root], port=0).start()
    try:
        started = time.perf_counter()
        status, body = get(server.port, "/api/runs")
        assert status == 200 and time.perf_counter() - started < 10
        listed = {r["name"]: r for r in json.loads(body)["runs"]}
        assert set(listed) == {"good", "fifo", "zero"}
        assert listed["good"]["metrics"]["test_loss"] is not None and listed["fifo"]["metrics"]["test_loss"] is None
        status, _ = get(server.port, f"/api/runs/{listed['zero']['id']}/history")
        assert status in (200, 400, 404)  # answered, never read without bound
        assert get(server.port, "/api/runs")[0] == 200  # and the server still answers
    finally:
        server.stop()


@pytest.mark.slow  # waits out the request deadline (~10 s)
def test_idle_connections_neither_lock_out_requests_nor_stay_for_good(tmp_path, font_run):
    import socket

    from aelab.serve import Server
    from aelab.serve.server import REQUEST_DEADLINE

    copy_run(font_run, tmp_path / "runs" / "good")
    server = Server([tmp_path / "runs"], port=0).start()
    idle = []
    try:
        for _ in range(250):  # what the campaign opened: every request was a 503 until they closed
            idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=30))
        assert get(server.port, "/api/runs")[0] == 200
        idle[0].settimeout(REQUEST_DEADLINE + 10)
        started = time.perf_counter()
        assert idle[0].recv(1) == b""  # closed by the server: a silent client holds no slot for good
        assert time.perf_counter() - started < REQUEST_DEADLINE + 5
    finally:
        for s in idle:
            s.close()
        server.stop()


# --------------------------------------------------------- 7. one line and exit 2, never a traceback

@pytest.mark.parametrize("bad", [b"ok/\xff.png", b"\xfe\xff/0.png"])  # a file, a label folder
def test_non_utf8_file_or_label_folder_names_are_one_line(capsys, tmp_path, private_data, bad):
    pictures = tmp_path / "pictures"
    (pictures / "ok").mkdir(parents=True)
    for i in range(3):
        Image.new("L", (8, 8), 60 * i).save(pictures / "ok" / f"{i}.png")
    path = os.fsencode(pictures) + b"/" + bad
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new("L", (8, 8), 200).save(os.fsdecode(path))
    line = fails_with(capsys, "train", "--runs-dir", tmp_path / "runs", "--no-progress", "--no-figures",
                      "--set", "data.dataset=folder", "--set", f"data.path={pictures}",
                      says=["not valid UTF-8", "\\xff", "rename it"])
    assert "surrogates" not in line and not list((tmp_path / "runs").glob("*/*"))


def test_a_non_utf8_picture_name_in_a_run_is_linked_by_its_bytes(tmp_path, font_run):
    from aelab.explore.report import write_report

    run = copy_run(font_run, tmp_path / "run")
    Image.new("L", (8, 8)).save(os.fsencode(run) + b"/caf\xe9.png")
    page = write_report(run).read_text(encoding="utf-8")
    assert 'src="caf%E9.png"' in page and "caf\\xe9.png" in page


def write_idx(path: Path, array: np.ndarray, type_code: int, dims=None) -> None:
    dims = array.shape if dims is None else dims
    header = bytes([0, 0, type_code, len(dims)]) + np.asarray(dims, ">u4").tobytes()
    path.write_bytes(header + np.ascontiguousarray(array).astype(array.dtype.newbyteorder(">")).tobytes())


@pytest.mark.parametrize("role, array, type_code, dims, says", [
    ("images", np.zeros(0, np.uint8), 0x08, (1,) * 255, "255 dimensions"),
    ("images", np.zeros((0, 28, 28), np.uint8), 0x08, None, "at least one 28x28 image"),
    ("images", np.full((10, 28, 28), -5, np.int16), 0x0B, None, "int16 values, not uint8"),
    ("labels", np.arange(10, dtype=np.int8), 0x09, None, "int8 values, not uint8"),
    ("labels", np.arange(10, dtype=np.float32), 0x0D, None, "float32 values, not uint8"),
    ("images", np.full((10, 28, 28), np.nan, np.float32), 0x0D, None, "float32 values, not uint8"),  # item 8
])
def test_forged_idx_files_are_one_line(capsys, tmp_path, private_data, role, array, type_code, dims, says):
    folder = tmp_path / "kmnist"
    folder.mkdir()
    write_idx(folder / "t10k-images-idx3-ubyte", np.zeros((10, 28, 28), np.uint8), 0x08)
    write_idx(folder / "t10k-labels-idx1-ubyte", np.arange(10, dtype=np.uint8), 0x08)
    write_idx(folder / f"t10k-{role}-idx{3 if role == 'images' else 1}-ubyte", array, type_code, dims)
    from aelab.data import mnist_family

    with pytest.raises(AelabError, match=says):
        mnist_family.load("kmnist", str(folder), only="test")


def test_forged_idx_through_the_cli_is_one_line(capsys, tmp_path, private_data):
    folder = tmp_path / "kmnist"
    folder.mkdir()
    for split, n in (("train", 20), ("t10k", 10)):
        write_idx(folder / f"{split}-images-idx3-ubyte", np.zeros((n, 28, 28), np.uint8), 0x08)
        write_idx(folder / f"{split}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.float64), 0x0E)
    fails_with(capsys, "train", "--runs-dir", tmp_path / "runs", "--no-progress", "--set", "data.dataset=kmnist",
               "--set", f"data.path={folder}", says=["float64 values, not uint8"])


@pytest.mark.parametrize("override, says", [
    ('model.options={"n_classes": 2}', ["n_classes is 2", "name 10 classes"]),
])
def test_a_cvae_with_fewer_classes_than_its_labels_is_one_line(capsys, tmp_path, override, says):
    fails_with(capsys, "train", "--runs-dir", tmp_path, "--no-progress", "--set", "model.type=cvae",
               "--set", override, says=says)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("override", ["model.conv_channels=[]", "model.stage_channels=[]"])
def test_an_empty_channel_list_is_one_line(capsys, tmp_path, override):
    architecture = "conv" if "conv" in override else "image_conv"
    fails_with(capsys, "train", "--runs-dir", tmp_path, "--no-progress", "--set", f"model.architecture={architecture}",
               "--set", override, says=[override.split("=")[0], "at least 1 item"])
    assert list(tmp_path.iterdir()) == []


def test_a_checkpoint_whose_learning_rate_is_text_is_one_line(capsys, tmp_path, font_run):
    run = copy_run(font_run, tmp_path / "run")
    tensors, meta = checkpoint.read(run / runs.CHECKPOINT, "checkpoint")
    meta["optimizer"]["param_groups"][0]["lr"] = "fast"
    checkpoint.atomic_save(tensors, run / runs.CHECKPOINT, meta)  # forged with a valid SHA-256
    before = (run / runs.CONFIG).read_bytes()
    fails_with(capsys, "train", "--resume", run, "--set", "training.epochs=3", "--no-progress", "--no-figures",
               says=["lr is 'fast'", "not a finite number"])
    assert (run / runs.CONFIG).read_bytes() == before


@pytest.mark.parametrize("name, content, says", [
    (runs.METRICS, "[1, 2]", "JSON object"),
    (runs.METRICS, '{"test": [1]}', "'test' should be an object"),
    (runs.METRICS, '{"test": {"loss": {"x": 1}}}', "loss is"),
    (runs.HISTORY, "a,b\n1,2,3,4\n", "without its epoch or loss"),
    (runs.HISTORY, "loss,val_loss\n1,2\n", "without its epoch or loss"),
])
def test_metrics_or_history_of_the_wrong_shape_are_one_line_for_compare(capsys, tmp_path, font_run, name, content, says):
    run = copy_run(font_run, tmp_path / "run")
    (run / name).write_text(content)
    fails_with(capsys, "compare", font_run, run, "--out", tmp_path / "cmp", says=says)
    assert not (tmp_path / "cmp").exists() or not list((tmp_path / "cmp").iterdir())


@pytest.mark.slow  # ~4 s on a shared machine
def test_report_reads_a_history_of_the_wrong_shape_as_damaged(capsys, tmp_path, font_run):
    run = copy_run(font_run, tmp_path / "run")
    (run / runs.HISTORY).write_text("loss,val_loss\n1,2\n")
    fails_with(capsys, "report", run, "--no-animations", says=[runs.HISTORY, "without its epoch or loss"])
    (run / runs.METRICS).write_text('{"test": [1], "epochs_run": [2]}')
    (run / runs.HISTORY).unlink()
    assert main(["report", str(run), "--no-animations"]) == 0  # shown as it is, nothing to draw from


@pytest.mark.parametrize("argv, says", [
    (["traverse", "{run}", "--range", "nan,1"], "--range nan,1"),
    (["traverse", "{run}", "--range=-inf,1"], "--range -inf,1"),
    (["arithmetic", "{run}", "1e400*#1"], "not a finite number"),
])
def test_nan_and_inf_arguments_are_refused(capsys, tmp_path, font_run, argv, says):
    run = copy_run(font_run, tmp_path / "run")
    fails_with(capsys, *[a.format(run=run) for a in argv], says=says)
    assert not list(run.glob("*.png"))


def test_python_misuse_is_one_aelab_error(tmp_path):
    from torch import nn

    X = np.random.default_rng(0).random((64, 8, 8)).astype(np.float32)
    with pytest.raises(AelabError, match="one per image, a list of 64"):
        aelab.Estimator(model_type="cvae", encoder_layers=[8], epochs=1).fit(X, np.arange(10) % 3)
    with pytest.raises(AelabError, match="torch.float64 parameters.*encoder.float()"):
        aelab.VAE(encoder=nn.Sequential(nn.Flatten(), nn.Linear(64, 4)).double(), epochs=1).fit(X)
    with pytest.raises(AelabError, match="not a class derived from"):
        aelab.register_model("not_a_class", lambda *a: None)
    ae = aelab.AE(encoder_layers=[8], epochs=1).fit(X)
    (tmp_path / "afile").write_text("mine")
    with pytest.raises(AelabError, match="afile is a file, not a folder"):
        ae.save(tmp_path / "afile" / "model.safetensors")
    assert (tmp_path / "afile").read_text() == "mine"


@pytest.mark.parametrize("text, says", [
    ("model:\n  latent_dim: 1:30\n", "model.latent_dim"),  # YAML 1.1: the number 90
    ("name: !!binary aGVsbG8=\n", "!!binary is not accepted"),
    ("model:\n  type: !!timestamp 2024-01-01\n", "!!timestamp is not accepted"),
])
def test_yaml_configs_are_read_as_plain_yaml_1_2(capsys, tmp_path, text, says):
    (tmp_path / "c.yaml").write_text(text)
    fails_with(capsys, "train", "--config", tmp_path / "c.yaml", "--runs-dir", tmp_path / "runs", "--no-progress",
               says=says)


def test_yaml_scalars_are_those_of_yaml_1_2():
    from aelab import yaml12

    assert yaml12.load("a: [yes, no, on, 010, 1:30, 2024-01-01, 1e3, .5, -7, true, null, ~]") == \
        {"a": ["yes", "no", "on", 10, "1:30", "2024-01-01", 1000.0, 0.5, -7, True, None, None]}


# ------------------------------------------------------------- 8. bad data is named as bad data

def test_huge_pixels_are_named_as_bad_data_not_a_learning_rate_problem():
    X = np.random.default_rng(0).random((64, 8, 8)).astype(np.float32)
    X[3, 2, 2] = 3e38  # accepted by an MSE model with an unbounded output: its loss overflows
    with pytest.raises(AelabError, match="because of the data: training pixel values reach 3e\\+38") as e:
        aelab.AE(encoder_layers=[8], epochs=2, reconstruction_loss="mse", output_activation="identity").fit(X)
    assert "learning_rate (now" not in str(e.value)
