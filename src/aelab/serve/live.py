"""A run still training, as its page shows it: its state (catalog.state_of), the epochs of its
history.csv so far (experiments/live_history.py writes it during training), an estimate of the
time left, and its latest reconstruction strip (training.snapshot_every).

Everything is read from the run folder as it is at that moment, which may be half made: no
config yet, no history yet, a temporary file beside history.csv, a run killed mid-epoch. What is
missing or damaged is left out, never an error. Reads only: regular files of bounded size, and
a snapshot is opened inside the folder without following a link.
"""

from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path

from aelab.files import read_regular
from aelab.layout import CHECKPOINT, CONFIG, HISTORY, SNAPSHOT, SNAPSHOTS
from aelab.serve.catalog import FINISHED, STOPPED, TRAINING, read_json, history, state_of

SNAPSHOT_NAME = re.compile(r"epoch_(\d{4,9})\.png")  # explore/snapshots.py writes epoch_NNNN.png
MAX_SNAPSHOT_BYTES = 8 << 20
RECENT_EPOCHS = 5  # the time left is their mean time per epoch times the epochs to go
REMOVED = "removed"  # a state beside the catalog's: the folder went away while it was listed


def status(folder: Path, since: int = 0) -> dict:
    """What the page of a run shows while it trains; `since`: the epochs the page has already
    (only the history rows after them are sent)."""
    if not folder.is_dir():  # a run stopped before its first checkpoint removes its folder
        return {"state": REMOVED, "message": "the run folder is gone: training stopped before its "
                                               "first checkpoint and left nothing behind"}
    state = state_of(folder)
    if state == FINISHED:
        return {"state": FINISHED}
    rows = history(folder)
    epoch = int(rows[-1]["epoch"]) if rows else 0
    training = read_json(folder / CONFIG).get("training")
    training = training if isinstance(training, dict) else {}
    epochs, every = (_positive(training.get(key)) for key in ("epochs", "snapshot_every"))
    found = {
        "state": state, "epoch": epoch, "epochs": epochs, "snapshot_every": every,
        "history": [row for row in rows if row["epoch"] > since],
        "seconds_left": _seconds_left(rows, epochs) if state == TRAINING else None,
        "seconds_since_epoch": _age(folder / HISTORY),
        "snapshot": latest_snapshot(folder),
    }
    if state == TRAINING and epochs is not None and epoch >= epochs:
        found["message"] = "training is done; evaluating and saving the model"
    elif state == STOPPED:
        found["message"] = _stopped(folder, epoch)
    return found


def _stopped(folder: Path, epoch: int) -> str:
    where = f"after epoch {epoch}" if epoch else "before its first epoch"
    if (folder / CHECKPOINT).is_file():
        return (f"stopped {where} without finishing (interrupted, killed or failed; the terminal that "
                f"ran it says why); continue it with: aelab train --resume {folder}")
    return f"stopped {where} without finishing, and before its first checkpoint: nothing to resume"


def _positive(value) -> int | None:
    """A positive whole number of its config.json (training.epochs: training.steps are resolved
    into it when training starts), or None."""
    return value if type(value) is int and value > 0 else None


def _seconds_left(rows: list[dict], epochs: int | None) -> float | None:
    """The epochs to go times the mean time of the last few (early stopping may end it sooner;
    the evaluation and figures after training are not counted)."""
    recent = [row["seconds"] for row in rows[-RECENT_EPOCHS:] if row.get("seconds", -1) >= 0]
    if epochs is None or not recent:
        return None
    return round(max(0, epochs - int(rows[-1]["epoch"])) * sum(recent) / len(recent), 1)


def _age(path: Path) -> float | None:
    try:
        return round(max(0.0, time.time() - path.stat().st_mtime), 1)
    except OSError:
        return None


def latest_snapshot(folder: Path) -> int | None:
    """The epoch of the newest snapshots/epoch_NNNN.png, or None (none yet, or the folder is a link)."""
    epochs = []
    try:
        with os.scandir(_snapshots(folder)) as entries:
            for entry in entries:
                match = SNAPSHOT_NAME.fullmatch(entry.name)
                if match and entry.name == snapshot_name(int(match[1])) and entry.is_file(follow_symlinks=False):
                    epochs.append(int(match[1]))
    except (OSError, ValueError):
        return None
    return max(epochs, default=None)


def snapshot_name(epoch: int) -> str:
    return SNAPSHOT.format(epoch=epoch)


def snapshot_bytes(folder: Path, epoch: int) -> bytes | None:
    """The PNG of one epoch's snapshot, or None. Neither the snapshots folder nor the file is
    followed if it is a link (opened with O_NOFOLLOW, the file relative to the folder's own
    descriptor), and only a regular file of bounded size is read."""
    name = snapshot_name(epoch)
    try:
        if os.open not in os.supports_dir_fd:  # (Windows) no descriptors of folders: links checked by name
            path = _snapshots(folder) / name
            return None if path.is_symlink() else read_regular(path, MAX_SNAPSHOT_BYTES)
        folder_fd = os.open(_snapshots(folder), os.O_RDONLY | _DIRECTORY | _NOFOLLOW)
        try:
            fd = os.open(name, os.O_RDONLY | _NOFOLLOW | _NONBLOCK, dir_fd=folder_fd)
        finally:
            os.close(folder_fd)
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_SNAPSHOT_BYTES:
                return None
            return f.read(MAX_SNAPSHOT_BYTES)
    except (OSError, ValueError):
        return None


_NOFOLLOW, _NONBLOCK, _DIRECTORY = (getattr(os, f"O_{flag}", 0) for flag in ("NOFOLLOW", "NONBLOCK", "DIRECTORY"))


def _snapshots(folder: Path) -> Path:
    path = folder / SNAPSHOTS
    if path.is_symlink():
        raise ValueError(f"{path} is a link")
    return path
