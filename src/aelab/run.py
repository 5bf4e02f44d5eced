"""One run folder as one object: its life (claimed, held, resumed, released, undone after a
failure), its files written as aelab writes them (config.json once), and what is read back from it
(the config, metrics, history, one summary, the model and the data reloaded as its config says).

    with Run.create("runs", config) as run:   # a new folder, claimed and held; Run.claim(path) for
        run.write_config(config)              # exactly that folder, Run.resume(path) to go on training,
        ...                                   # Run.hold(path) to add a file to a finished run;
                                              # a failure before the first checkpoint undoes a new run
    Run.open(path).summary()                  # read only: serve, compare, report, aelab.load, explore

Training (the CLI and a sweep's trials), explore, serve, compare, report and `aelab.load` reach a
run folder through this class; runs.py keeps the file-level pieces it is made of (the exclusive
claim and the advisory lock, JSON and CSV reads with their limits, the model file).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from aelab import runs
from aelab.config import Config
from aelab.data.prepare import prepare_data
from aelab.errors import AelabError
from aelab.layout import CHECKPOINT, CONFIG, HISTORY, LOCK, METRICS, MODEL

TRAINING, STOPPED, FINISHED = "training", "stopped", "finished"
SUMMARY_METRICS = ("epochs_run", "best_epoch", "train_seconds")  # the run-wide numbers a summary shows


class Run:
    """A run folder. Made by a classmethod: create/claim/resume/hold hold the folder until
    release() (or the end of a `with` block); at/open do not."""

    def __init__(self, path: str | Path, *, held: bool = False, new: bool = False, created: bool = False,
                 resumed: bool = False):
        self.path = Path(path)
        self.held = held
        self.new = new  # a run starting in a folder it claimed: a failure before its first checkpoint undoes it
        self.created = created  # this Run made the folder: undoing the run removes the folder itself
        self.resumed = resumed  # training goes on from the folder's checkpoint and config.json
        self._config: Config | None = None
        self._config_written = False
        self._loaded = None  # (model, config, metadata, extra tensors) of model.safetensors
        self._data = None

    # ------------------------------------------------------------------------------ life

    @classmethod
    def create(cls, root: str | Path, config: Config | None, name: str | None = None) -> Run:
        """A new folder under `root` (runs/<name>-<time>; a taken name gets -2, -3, ...), claimed."""
        return cls(runs.new_run_dir(root, config, name), held=True, new=True, created=True)

    @classmethod
    def claim(cls, path: str | Path, restart: bool = False) -> Run:
        """Exactly `path`: a new folder or an empty one, claimed atomically (a second claim is
        refused). `restart`: a folder left by a run killed before its first checkpoint (no process
        holds it) is emptied and claimed again, as a sweep restarts such a trial."""
        path = Path(path)
        if restart and path.is_dir() and not (path / CHECKPOINT).is_file() and not runs.is_locked(path):
            runs.lock_run(path)  # refused if a process took it meanwhile
            run = cls(path, held=True, new=True)
            run._remove_files()
            return run
        created = not path.exists()
        return cls(runs.claim_dir(path), held=True, new=True, created=created)

    @classmethod
    def check_resumable(cls, path: str | Path) -> Path:
        """`path` if it is a run that `--resume` can continue, else one line saying why not."""
        path = Path(path)
        if not (path / CONFIG).is_file():
            raise AelabError(f"{path} has no {CONFIG} or {CHECKPOINT} to resume from; is it an aelab run folder?")
        if (path / MODEL).is_file() and not (path / CHECKPOINT).is_file():
            raise AelabError(f"{path} has finished and has no {CHECKPOINT} to continue from; "
                             "train a new run (runs are never overwritten)")
        return path

    @classmethod
    def resume(cls, path: str | Path) -> Run:
        """An interrupted run, held to go on training (refused while another process holds it)."""
        return cls(runs.lock_run(cls.check_resumable(path)), held=True, resumed=True)

    @classmethod
    def hold(cls, path: str | Path) -> Run:
        """A finished run held to add a file beside its own (`aelab fit-sampler`): refused while
        another process holds it; never undone."""
        return cls(runs.lock_run(path), held=True)

    @classmethod
    def at(cls, path: str | Path, resumed: bool = False) -> Run:
        """A folder written without a claim: train_run(config, path) from Python, and the other
        ranks of a torchrun (rank 0 holds the folder)."""
        return cls(path, resumed=resumed)

    @classmethod
    def open(cls, path: str | Path) -> Run:
        """A run folder to read: never written, never locked."""
        path = Path(path)
        if not path.is_dir():
            raise AelabError(f"{path} is not a run folder (no such directory); give a folder written by aelab train")
        return cls(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}{', held' if self.held else ''})"

    def __enter__(self) -> Run:
        return self

    def __exit__(self, kind, error, trace) -> None:
        try:
            if error is not None:
                self.fail_cleanup()
        finally:
            self.release()

    def release(self) -> None:
        """Let go of the folder (its lock file stays: it marks the folder as a run's)."""
        if self.held:
            runs.release(self.path)
            self.held = False

    def fail_cleanup(self) -> bool:
        """After a failure: a new run that saved no checkpoint leaves nothing behind: its folder
        if this Run made it, else its files (the folder was empty when claimed, so all in it is
        this run's; the folder the user made stays, empty). A resumed or held run, one with a
        checkpoint, and a folder this Run does not hold are left as they are. Whether the run was undone."""
        if not (self.held and self.new) or self.has(CHECKPOINT):
            return False
        if self.created:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            self._remove_files()
            (self.path / LOCK).unlink(missing_ok=True)
        runs.release(self.path)
        self.held = False
        return True

    def _remove_files(self) -> None:
        for item in self.path.iterdir():
            if item.name == LOCK:
                continue
            if item.is_dir() and not item.is_symlink():
                shutil.rmtree(item, ignore_errors=True)
            else:
                item.unlink(missing_ok=True)

    # ---------------------------------------------------------------------------- writing

    def write_config(self, config: Config) -> None:
        """config.json: the resolved config, written once per training (a resumed run's only when
        its training.* settings changed). A second write in one training is a bug, said at once."""
        if self._config_written:
            raise RuntimeError(f"{self.path / CONFIG} is written once per training")
        self._config_written = True
        self._config = config
        if self.resumed and self.has(CONFIG) and runs.read_json(self.path / CONFIG) == json.loads(json.dumps(config.to_dict())):
            return  # the same settings: config.json stays as it was
        runs.write_json(self.path / CONFIG, config.to_dict())

    # ---------------------------------------------------------------------------- reading

    def has(self, name: str) -> bool:
        return (self.path / name).is_file()

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = runs.read_config(self.path)
        return self._config

    @property
    def metrics(self) -> dict:
        """metrics.json ({} before training ends); one clear line if it is damaged."""
        return runs.read_json(self.path / METRICS) if self.has(METRICS) else {}

    @property
    def history(self) -> list[dict]:
        """history.csv, one row per epoch ([] when there is none)."""
        return runs.read_history(self.path / HISTORY) if self.has(HISTORY) else []

    @property
    def state(self) -> str:
        """finished (model.safetensors is there), training (a process holds the folder) or
        stopped. Only an unfinished run's lock is looked at: a finished run may be held by
        `aelab fit-sampler` and is still finished."""
        if self.has(MODEL):
            return FINISHED
        return TRAINING if runs.is_locked(self.path) else STOPPED

    @staticmethod
    def is_run(folder: Path) -> bool:
        """A run folder, finished or not (an unfinished one: claimed by `aelab train`, its lock file there)."""
        return (folder / CONFIG).is_file() and ((folder / MODEL).is_file() or (folder / LOCK).is_file())

    def load(self, encoder=None, decoder=None) -> tuple:
        """(model in eval mode, its config, its metadata, its tensors that are not weights) of
        model.safetensors, read once. `encoder`/`decoder`: networks given in Python (runs.load_model)."""
        if self._loaded is None or encoder is not None or decoder is not None:
            self._loaded = runs.load_model(self.path, encoder, decoder, with_extra=True)
        return self._loaded

    def model(self):
        return self.load()[0]

    def data(self) -> tuple:
        """(train, validation or None, test) reloaded as the run's config says, so that test
        indices refer to this run's test set; the config's training.threads applied first."""
        if self._data is None:
            runs.set_threads(self.config.training.threads)
            self._data = prepare_data(self.config)
        return self._data

    def summary(self, strict: bool = False) -> dict:
        """What a run is and what it reached, from its files without loading the model: the
        numbers `aelab serve` lists, `aelab compare` tabulates and a run's index.html heads with.

        strict=False (serve, a folder from anywhere): what is not as aelab writes it is left out.
        strict=True (compare): a damaged file or a value that is not a number is one clear line."""
        config = self._read(CONFIG, strict)
        metrics = self._read(METRICS, strict)
        state = self.state
        if state != FINISHED:  # how far it got: the epochs of its history so far
            rows = self.history if strict else self.history_so_far()
            metrics = {"epochs_run": int(rows[-1]["epoch"]) if rows else 0}
        model, data = _object(config.get("model")), _object(config.get("data"))
        path = data.get("path")
        groups = {}  # train, validation, test and any other group of numbers (anomalies)
        for group, values in metrics.items():
            if strict and group in ("train", "validation", "test") and not isinstance(values, dict):
                raise AelabError(f"{self.path / METRICS}: '{group}' should be an object of metrics, not "
                                 f"{type(values).__name__}; delete it and run aelab evaluate {self.path} to write it again")
            if isinstance(values, dict):  # a list (rows of a table) is not a summary's number
                groups[group] = {k: self._number(values, k, strict) for k, v in values.items()
                                 if _is_number(v) or strict and not isinstance(v, list)}
        return {
            "name": self.path.name, "folder": str(self.path), "state": state,
            "type": model.get("type"), "architecture": model.get("architecture"), "latent_dim": model.get("latent_dim"),
            "dataset": data.get("dataset"), "path": Path(path).name if isinstance(path, str) and path else None,
            **{k: self._number(metrics, k, strict) for k in SUMMARY_METRICS},
            "metrics": groups,
        }

    def _read(self, name: str, strict: bool) -> dict:
        if strict:
            return runs.read_json(self.path / name) if self.has(name) else {}
        try:
            return runs.read_json(self.path / name) if self.has(name) else {}
        except (AelabError, OSError):
            return {}

    def history_so_far(self) -> list[dict]:
        """history.csv as far as it is readable now ([] when missing or damaged): a run that
        trains, as `aelab serve` watches it."""
        try:
            return self.history
        except (AelabError, OSError):
            return []

    def _number(self, values, key: str, strict: bool):
        """values[key]: a number or None; anything else is left out, or (strict) one clear line."""
        value = _object(values).get(key)
        if value is None or _is_number(value):
            return value
        if not strict:
            return None
        raise AelabError(f"{self.path / METRICS}: {key} is {str(value)[:40]!r}, not a number; "
                         f"delete it and run aelab evaluate {self.path} to write it again")


def _object(value) -> dict:
    return value if isinstance(value, dict) else {}


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
