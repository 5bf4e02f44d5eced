"""Weights and training state as safetensors + JSON: nothing is ever unpickled.

A model file holds the weights and, in its metadata, the config and input shape it needs to be
built again. A checkpoint adds the optimizer state, the random generators and the loop's state.
Files are written to a temporary name and renamed, so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file, safe_open

from aelab.errors import AelabError


def atomic_save(tensors: dict[str, torch.Tensor], path: Path, metadata: dict) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    save_file(tensors, str(tmp), metadata={k: json.dumps(v) for k, v in metadata.items()})
    os.replace(tmp, path)


def read(path: Path, what: str) -> tuple[dict[str, torch.Tensor], dict]:
    path = Path(path)
    if not path.is_file():
        raise AelabError(f"{what} {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = {k: json.loads(v) for k, v in (f.metadata() or {}).items()}
        return load_file(str(path)), metadata
    except (SafetensorError, json.JSONDecodeError, OSError, ValueError) as e:
        raise AelabError(f"{path} is not a valid aelab {what} ({str(e).splitlines()[0]}); "
                         "it may be truncated: re-run training or restore the file") from None


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer's state dict into tensors and a JSON-able rest."""
    state = optimizer.state_dict()
    tensors, plain = {}, {"param_groups": state["param_groups"], "state": {}}
    for index, slots in state["state"].items():
        plain["state"][str(index)] = {}
        for name, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{name}"] = value
            else:
                plain["state"][str(index)][name] = value
    return tensors, plain


def load_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], plain: dict) -> None:
    state = {int(i): dict(slots) for i, slots in plain["state"].items()}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": plain["param_groups"]})
