"""Run folders: where a run's config, weights, metrics, history and figures live.

    runs/<name>/config.json          the full resolved config
    runs/<name>/model.safetensors    weights; metadata holds the config and input shape too
    runs/<name>/checkpoint.safetensors   optimizer, generator and loop state, for --resume
    runs/<name>/metrics.json, history.csv, *.png, index.html
    runs/<name>/.aelab-lock          claims the folder (exclusive create) and, while held, marks it in use

A folder belongs to one run: the run claims it by creating `.aelab-lock` exclusively, so of two
runs started on one folder only one gets it, and holds an advisory lock (flock) on that file while
it works in the folder; `--resume` and a second claim are refused while it does. The kernel drops
the lock when the process dies, kill -9 included.

These are the file-level pieces; the rest of aelab reaches a run folder through the object they
make up, aelab.run.Run (its life, config.json written once, its summary, model and data).
"""

from __future__ import annotations

import csv
import errno
import io
import json
import logging
import math
import os
import re
import time
from datetime import datetime
from pathlib import Path

import torch

from aelab import files, limits
from aelab.config import Config, read_config_file, validate_config
from aelab.errors import AelabError
from aelab.layout import CHECKPOINT, CONFIG, HISTORY, LOCK, METRICS, MODEL  # the run folder's names live in layout.py
from aelab.models import samplers
from aelab.models.autoencoder import Autoencoder
from aelab.models.registry import build_model, is_registered, not_registered_for_run
from aelab.train import checkpoint

MAX_NAME = 200  # characters of a run folder's name (filesystems allow 255 bytes)
MAX_PIXELS = 1 << 26  # per image (C x H x W) of a model file: 67M, far above any real model

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the exclusive lock file alone decides claims
    fcntl = None

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # a lock file that is a link is never followed
log = logging.getLogger("aelab")
_held: dict[Path, int] = {}  # run folder -> file descriptor holding its lock, in this process


def new_run_dir(root: str | Path, config: Config, name: str | None = None) -> Path:
    """A fresh folder under `root`; an existing name gets -2, -3, ... so nothing is overwritten."""
    root = Path(root)
    if name is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        name = f"{config.name or config.data.dataset}-{config.model.type}-{stamp}"
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    if len(name) > MAX_NAME:
        raise AelabError(f"the run name is {len(name)} characters long; folder names hold at most {MAX_NAME}: "
                         "give a shorter --name (or config name)")
    if root.exists() and not root.is_dir():
        raise AelabError(f"--runs-dir {root} is a file, not a folder; give a folder for the run folders")
    root.mkdir(parents=True, exist_ok=True)
    for i in range(1, 10_000):
        path = root / (name if i == 1 else f"{name}-{i}")
        try:
            path.mkdir()  # exclusive: of two runs choosing this name, one gets it
        except FileExistsError:
            continue
        _claim(path)
        return path
    raise AelabError(f"could not find a free run name under {root}")


def claim_dir(path: str | Path) -> Path:
    """Use exactly `path` as the run folder: a new folder, or an existing empty one. Atomic: of
    two runs claiming one folder, the second is refused. Refuses a folder that holds files."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise AelabError(f"--out {path} is a file; give a folder for the run")
    path.mkdir(parents=True, exist_ok=True)
    made_lock = True
    try:
        _claim(path)
    except FileExistsError:
        if is_locked(path) or _contents(path):
            raise AelabError(_taken(path)) from None
        lock_run(path)  # left by a run killed before it wrote a file: take it over
        made_lock = False
    files.clean_temps(path)
    if _contents(path):
        release(path, remove_lock=made_lock)
        raise AelabError(f"--out {path} already exists and is not empty; choose a new folder "
                         "(runs are never overwritten) or use --resume to continue a run")
    return path


def _contents(path: Path) -> list[str]:
    return [p.name for p in path.iterdir() if p.name != LOCK and files.TEMP_MARK not in p.name]


def _taken(path: Path) -> str:
    if is_locked(path):
        return f"{path} is in use by another aelab process; wait for it or choose another folder"
    if (path / CONFIG).is_file():
        return (f"{path} holds an earlier run; continue it with: aelab train --resume {path} "
                "(or choose a new folder: runs are never overwritten)")
    return f"{path} was claimed by another aelab run; choose a new folder"


def _claim(path: Path) -> None:
    """Create the folder's lock file exclusively and hold it (FileExistsError if it exists, a
    symbolic link included: O_EXCL never follows one)."""
    fd = os.open(path / LOCK, os.O_CREAT | os.O_EXCL | os.O_WRONLY | _NOFOLLOW, 0o644)
    _hold(path, fd)


def lock_run(path: str | Path) -> Path:
    """Hold an existing run folder (for --resume): refused while another process holds it, and
    when it holds a symbolic link (a run from elsewhere could lead writes out of it that way).
    Removes the temporary files a killed run left behind."""
    path = Path(path)
    links = files.links_in(path)
    if links:
        raise AelabError(f"{path / links[0]} is a symbolic link; aelab never writes through links in a run "
                         "folder: remove it (or copy the run without links) and run again")
    try:
        fd = files.open_new(path / LOCK, os.O_CREAT | os.O_WRONLY)
    except OSError as e:
        raise AelabError(f"cannot open {path} for writing ({e.strerror}); aelab writes a run's training, "
                         "metrics and samplers into its own folder: make it writable or copy the folder "
                         "somewhere writable") from None
    _hold(path, fd)
    for tmp in files.clean_temps(path):
        log.info("removed %s, left by an interrupted run", tmp.name)
    return path


def _hold(path: Path, fd: int) -> None:
    try:
        if fcntl is not None:
            _flock_exclusive(fd)
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise AelabError(f"{path} is in use by another aelab process; wait for it to end") from None
        raise
    _held[path.resolve()] = fd
    files.hold(path)  # from now on every write below it is checked for links (files.route)


def _flock_exclusive(fd: int, tries: int = 5) -> None:
    """Take the lock without waiting for a process that holds it, but retry a few times within
    50 ms: is_locked (`aelab serve` watching a run) holds a shared lock for microseconds, and such
    a look must never make a claim fail."""
    for attempt in range(tries):
        try:
            return fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES) or attempt == tries - 1:
                raise
            time.sleep(0.01)


def is_locked(path: Path) -> bool:
    """Whether some process (this one included) holds the folder."""
    if path.resolve() in _held:
        return True
    if fcntl is None:
        return False
    try:
        fd = os.open(path / LOCK, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def release(path: str | Path, remove_lock: bool = False) -> None:
    """Let go of a folder this process holds (the lock file stays: it marks the folder as a run's)."""
    path = Path(path)
    fd = _held.pop(path.resolve(), None)
    if remove_lock:
        (path / LOCK).unlink(missing_ok=True)
    if fd is not None:
        os.close(fd)
        files.let_go(path)


def save_model(path: Path, model: Autoencoder, config: Config, info: dict,
               extra: dict[str, torch.Tensor] | None = None) -> None:
    """The weights, the config and `info` in one file; `extra`: tensors stored beside the weights
    (an estimator's fitted sampler), their names prefixed so they never clash with a parameter's."""
    meta = {"config": config.to_dict(), "input_shape": list(model.input_shape), **info}
    checkpoint.atomic_save({**model.state_dict(), **(extra or {})}, path, meta)


def load_model(path: str | Path, encoder=None, decoder=None, with_extra: bool = False):
    """A model file or a run folder -> (model in eval mode, its config, its metadata), and with
    `with_extra` the file's tensors that are not weights (see save_model).
    `encoder`/`decoder`: the networks of a model fitted with modules given in Python."""
    path = Path(path)
    if path.is_dir():
        if not (path / MODEL).is_file():
            raise AelabError(f"{path} is not an aelab run: it has no {MODEL}"
                             + (" (training has not finished; use aelab train --resume)"
                                if (path / CHECKPOINT).is_file() else ""))
        path = path / MODEL
    tensors, meta = checkpoint.read(path, "model file")
    if "config" not in meta or "input_shape" not in meta:
        raise AelabError(f"{path} is not an aelab model file (no config in its metadata)")
    config = validate_config(meta["config"], source=str(path))
    shape = meta["input_shape"]
    if not (isinstance(shape, list) and len(shape) == 3 and all(type(v) is int and v > 0 for v in shape)
            and shape[0] in (1, 3) and math.prod(shape) <= MAX_PIXELS):
        raise AelabError(f"{path}: input_shape {str(shape)[:80]} in its metadata is not an image shape "
                         f"[channels 1 or 3, height, width] of at most {MAX_PIXELS} values; the file is damaged")
    if not is_registered(config.model.type):
        raise not_registered_for_run(config.model.type, path.parent if path.name == MODEL else path)
    try:
        model = build_model(config.model, tuple(shape), encoder, decoder)
    except (RuntimeError, MemoryError) as e:
        raise AelabError(f"{path}: the model in its metadata cannot be built here ({_first_line(e)})") from None
    extra = {k: tensors.pop(k) for k in [k for k in tensors if k.startswith(samplers.PREFIX)]}
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        raise AelabError(f"{path}: weights do not fit the model in its metadata ({str(e).splitlines()[0]})") from None
    return (model.eval(), config, meta, extra) if with_extra else (model.eval(), config, meta)


def write_json(path: Path, obj) -> None:
    files.write_text(path, json.dumps(obj, indent=2) + "\n")


def read_json(path: Path) -> dict:
    """A JSON object aelab wrote (metrics.json, summary.json); one clear line if it was damaged.
    Read only as a regular file of bounded size: a FIFO or a link to /dev/zero is refused at once."""
    try:
        data = json.loads(_regular(path, "json_bytes").decode("utf-8"))
    except (ValueError, RecursionError) as e:
        raise AelabError(f"{path} is not valid JSON ({_first_line(e)}); delete it, or restore it from a "
                         "copy (aelab evaluate writes metrics again)") from None
    if not isinstance(data, dict):
        raise AelabError(f"{path} should hold a JSON object; delete or restore it")
    return data


def write_history(path: Path, history: list[dict]) -> None:
    columns = list(dict.fromkeys(k for row in history for k in row))
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows(history)
    files.write_text(path, text.getvalue())


def read_history(path: Path) -> list[dict]:
    try:
        text = _regular(path, "history_bytes").decode("utf-8")
        history = [{k: float(v) for k, v in row.items() if v not in ("", None) and k is not None}
                   for row in csv.DictReader(io.StringIO(text, newline=""))]
        if any("epoch" not in row or "loss" not in row for row in history):
            raise ValueError("a row without its epoch or loss")
        return history
    except (ValueError, TypeError, UnicodeDecodeError, csv.Error) as e:
        raise AelabError(f"{path} is damaged ({_first_line(e)}); delete it (the loss figure is then "
                         "skipped) or restore it from a copy") from None


def _regular(path: Path, limit: str) -> bytes:
    """A run file's bytes: a regular file within its size limit, else a ValueError saying why."""
    return files.read_regular(path, limits.LIMITS[limit].high)


def _first_line(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text[:200]


def read_config(run: Path) -> Config:
    if not (run / CONFIG).is_file():
        raise AelabError(f"{run} is not an aelab run folder: it has no {CONFIG}")
    return validate_config(read_config_file(run / CONFIG), source=str(run / CONFIG))


def set_threads(n: int | None) -> None:
    if n:
        torch.set_num_threads(n)
