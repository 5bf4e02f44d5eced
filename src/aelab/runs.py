"""Run folders: where a run's config, weights, metrics, history and figures live.

    runs/<name>/config.json          the full resolved config
    runs/<name>/model.safetensors    weights; metadata holds the config and input shape too
    runs/<name>/checkpoint.safetensors   optimizer, generator and loop state, for --resume
    runs/<name>/metrics.json, history.csv, *.png, index.html
"""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime
from pathlib import Path

import torch

from aelab.config import Config, read_config_file, validate_config
from aelab.errors import AelabError
from aelab.layout import CHECKPOINT, CONFIG, HISTORY, METRICS, MODEL  # the run folder's names live in layout.py
from aelab.models.autoencoder import Autoencoder
from aelab.models.registry import build_model
from aelab.train import checkpoint



def new_run_dir(root: str | Path, config: Config, name: str | None = None) -> Path:
    """A fresh folder under `root`; an existing name gets -2, -3, ... so nothing is overwritten."""
    root = Path(root)
    if name is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        name = f"{config.name or config.data.dataset}-{config.model.type}-{stamp}"
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(1, 10_000):
        path = root / (name if i == 1 else f"{name}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise AelabError(f"could not find a free run name under {root}")


def claim_dir(path: str | Path) -> Path:
    """Use exactly `path` as the run folder; refuse one that already holds files."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise AelabError(f"--out {path} already exists and is not empty; choose a new folder "
                         "(runs are never overwritten) or use --resume to continue it")
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_model(path: Path, model: Autoencoder, config: Config, info: dict) -> None:
    meta = {"config": config.to_dict(), "input_shape": list(model.input_shape), **info}
    checkpoint.atomic_save(dict(model.state_dict()), path, meta)


def load_model(path: str | Path, encoder=None, decoder=None) -> tuple[Autoencoder, Config, dict]:
    """A model file or a run folder -> (model in eval mode, its config, its metadata).
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
    model = build_model(config.model, tuple(meta["input_shape"]), encoder, decoder)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        raise AelabError(f"{path}: weights do not fit the model in its metadata ({str(e).splitlines()[0]})") from None
    return model.eval(), config, meta


def write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    tmp.replace(path)


def write_history(path: Path, history: list[dict]) -> None:
    columns = list(dict.fromkeys(k for row in history for k in row))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)


def read_history(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


def read_config(run: Path) -> Config:
    if not (run / CONFIG).is_file():
        raise AelabError(f"{run} is not an aelab run folder: it has no {CONFIG}")
    return validate_config(read_config_file(run / CONFIG), source=str(run / CONFIG))


def set_threads(n: int | None) -> None:
    if n:
        torch.set_num_threads(n)
