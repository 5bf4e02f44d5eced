"""The run folders `aelab serve` may show: found under the paths given on the command line, named
by an id the browser uses. A request names a run only by its id, which is looked up here: no path
from a request ever reaches the filesystem, and a symlink leading out of a given folder is ignored.

A run is listed from the moment `aelab train` has claimed its folder and written its config.json
(the lock file, then the config), and is in one of three states:

    training   no model.safetensors yet, and a process holds the folder's lock (runs.is_locked:
               the kernel drops it when the process ends, kill -9 included)
    stopped    no model.safetensors, and no process holds it: interrupted, killed or failed
    finished   model.safetensors is there: the explorer opens it
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from aelab.files import read_regular
from aelab.run import FINISHED, STOPPED, TRAINING, Run

log = logging.getLogger(__name__)

MAX_DEPTH = 4  # runs/<sweep>/<trial>/<fold>: deep enough for sweeps
MAX_RUNS = 2000
MAX_JSON_BYTES = 1_000_000  # a config or metrics file larger than this is not aelab's


def is_run(folder: Path) -> bool:
    return Run.is_run(folder)


def state_of(folder: Path) -> str:
    return Run(folder).state


class Catalog:
    def __init__(self, roots: list[str | Path]):
        self.roots = list(dict.fromkeys(Path(r).resolve() for r in roots))
        self.runs: dict[str, Path] = {}
        self.refresh()

    def refresh(self) -> dict[str, Path]:
        """Scan the roots again (runs trained since appear)."""
        self._scanned = time.monotonic()
        found: dict[str, Path] = {}
        for root, prefix in zip(self.roots, root_labels(self.roots)):
            for folder in _walk(root):
                rel = folder.relative_to(root).as_posix()
                run_id = "/".join(p for p in (prefix, "" if rel == "." else rel) if p) or root.name
                while run_id in found:
                    run_id += "~"
                found[run_id] = folder
                if len(found) >= MAX_RUNS:
                    log.warning("more than %d runs under %s; showing the first %d", MAX_RUNS, root, MAX_RUNS)
                    self.runs = found
                    return found
        self.runs = found
        return found

    def folder(self, run_id: str) -> Path | None:
        # An unknown id rescans (a run trained since), at most once a second: a flood of bad ids
        # must not turn into a flood of directory walks.
        if run_id not in self.runs and time.monotonic() - self._scanned > 1.0:
            self.refresh()
        return self.runs.get(run_id)

    def summaries(self) -> list[dict]:
        return [summary(run_id, folder) for run_id, folder in sorted(self.refresh().items())]


def root_labels(roots: list[Path]) -> list[str]:
    """What each root's runs are named under: nothing for one root; for several, the fewest last
    parts of their paths that tell them apart (sweeps/A/runs and sweeps/B/runs: A/runs, B/runs),
    so runs of the same name in two sweeps say which sweep they come from."""
    if len(roots) < 2:
        return [""]
    for k in range(1, max(len(r.parts) for r in roots) + 1):
        labels = ["/".join(r.parts[-k:]).lstrip("/") or "/" for r in roots]
        if len(set(labels)) == len(labels):
            return labels
    return [r.as_posix() for r in roots]


def _walk(root: Path):
    if not root.is_dir():
        return
    if is_run(root):
        yield root
        return
    base_depth = len(root.parts)
    for here, dirs, _ in os.walk(root, followlinks=False):
        here_path = Path(here)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if len(here_path.parts) - base_depth >= MAX_DEPTH:
            dirs[:] = []
        kept = []
        for d in dirs:
            folder = here_path / d
            if folder.is_symlink() and not folder.resolve().is_relative_to(root):
                continue  # never leave the folder the user named
            if is_run(folder):
                yield folder
            else:
                kept.append(d)
        dirs[:] = kept


def read_json(path: Path) -> dict:
    """A run's JSON file, or {}: never waits on a FIFO nor reads a link to /dev/zero (read_regular)."""
    try:
        value = json.loads(read_regular(path, MAX_JSON_BYTES))
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError, RecursionError):
        return {}


def summary(run_id: str, folder: Path) -> dict:
    """What the runs page lists: model, data, latent size and key metrics (Run.summary: from the
    files only, without loading the model; what is not as aelab writes it is left out)."""
    found = Run(folder).summary()
    test, validation = (found["metrics"].get(split, {}) for split in ("test", "validation"))
    return {
        "id": run_id, **{k: found[k] for k in ("name", "folder", "state", "type", "architecture", "latent_dim",
                                               "dataset", "path")},
        "metrics": {"test_loss": test.get("loss"), "test_mse": test.get("mse"),
                    "validation_loss": validation.get("loss"), "epochs_run": found["epochs_run"],
                    "train_seconds": found["train_seconds"]},
        "all_metrics": found["metrics"],
    }


def history(folder: Path) -> list[dict]:
    return Run(folder).history_so_far()
