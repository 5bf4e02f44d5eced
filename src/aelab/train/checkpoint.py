"""Weights and training state as safetensors + JSON: nothing is ever unpickled.

A model file holds the weights and, in its metadata, the config and input shape it needs to be
built again. A checkpoint adds the optimizer state, the random generators and the loop's state.
Files are written to a temporary name, synced and renamed, so a crash never leaves half a file.
Each file carries a SHA-256 of its tensors and metadata (metadata key `sha256`, inside the file so
that it is replaced in the same rename), checked on every load: a flipped byte is an error, never
a silently different model.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file, safe_open

from aelab import files, limits
from aelab.errors import AelabError

HASH_KEY = "sha256"


def atomic_save(tensors: dict[str, torch.Tensor], path: Path, metadata: dict) -> None:
    path = Path(path)
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    text = {k: json.dumps(v) for k, v in metadata.items()}
    text[HASH_KEY] = content_hash(tensors, text)
    with files.atomic_write(path) as tmp:
        try:
            save_file(tensors, str(tmp), metadata=text)
        except SafetensorError as e:  # a full disk arrives as text: "... (os error 28)"
            code = re.search(r"os error (\d+)", str(e))
            if code is None:
                raise
            raise OSError(int(code[1]), os.strerror(int(code[1])), str(path)) from None


def content_hash(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> str:
    """SHA-256 over the metadata (as stored) and every tensor's name, dtype, shape and bytes."""
    digest = hashlib.sha256()
    for key in sorted(k for k in metadata if k != HASH_KEY):
        digest.update(f"{key}\0{metadata[key]}\0".encode())
    for key in sorted(tensors):
        t = tensors[key]
        digest.update(f"{key}\0{t.dtype}\0{list(t.shape)}\0".encode())
        digest.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def read(path: Path, what: str) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, metadata) of a file aelab wrote, checked against the SHA-256 stored in it. A file
    without one is refused like a damaged one: aelab always writes it, so a file without it was
    written by something else or had its key removed along with a change."""
    path = Path(path)
    if not path.is_file():
        raise AelabError(f"{what} {path} does not exist")
    size, cap = path.stat().st_size, limits.LIMITS["tensor_file_bytes"].high
    if size > cap:
        raise AelabError(f"{path} is {size / 2**30:.1f} GiB, above aelab's limit 'tensor_file_bytes' of "
                         f"{cap / 2**30:.0f} GiB for a {what}; is it the right file?")
    try:
        with safe_open(str(path), framework="pt") as f:
            text = dict(f.metadata() or {})
        stored = text.get(HASH_KEY)
        if stored is None:
            raise AelabError(f"{path} has no SHA-256 key, which every {what} aelab writes carries: it was not "
                             f"written by aelab or was altered; restore the {what} from a copy or re-run training")
        tensors = load_file(str(path))
        if stored != content_hash(tensors, text):
            raise AelabError(f"{path} is damaged: its content no longer matches the SHA-256 stored in it; "
                             f"restore the {what} from a copy or re-run training")
        metadata = {k: json.loads(v) for k, v in text.items() if k != HASH_KEY}
        return tensors, metadata
    except AelabError:
        raise
    except (SafetensorError, json.JSONDecodeError, OSError, ValueError, RuntimeError, TypeError) as e:
        raise AelabError(f"{path} is not a valid aelab {what} ({_first_line(e)}); "
                         "it may be truncated or damaged: re-run training or restore the file") from None


def _first_line(e: Exception) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text[:200]


def optimizer_tensors(optimizer: torch.optim.Optimizer, name: str = "optimizer") -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer's state dict into tensors (keys `name.INDEX.SLOT`) and a JSON-able rest."""
    state = optimizer.state_dict()
    tensors, plain = {}, {"param_groups": state["param_groups"], "state": {}}
    for index, slots in state["state"].items():
        plain["state"][str(index)] = {}
        for slot, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{name}.{index}.{slot}"] = value
            else:
                plain["state"][str(index)][slot] = value
    return tensors, plain


def load_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], plain: dict,
                   name: str = "optimizer") -> None:
    """The optimizer state that optimizer_tensors(..., name) split, put back."""
    state = {int(i): dict(slots) for i, slots in plain["state"].items()}
    for key, value in tensors.items():
        if key.startswith(f"{name}."):
            _, index, slot = key.split(".", 2)
            state.setdefault(int(index), {})[slot] = value
    optimizer.load_state_dict({"state": state, "param_groups": plain["param_groups"]})
    match_parameter_layout(optimizer)


def check_param_groups(optimizer: torch.optim.Optimizer, plain, path: Path) -> None:
    """One line when a checkpoint's optimizer settings are not of the kind this optimizer keeps (a
    learning rate that is text, a beta that is a list of words): torch would take them and fail
    in the middle of the first step."""
    groups = plain.get("param_groups") if isinstance(plain, dict) else None
    own = optimizer.param_groups
    if not isinstance(groups, list) or len(groups) != len(own) or not all(isinstance(g, dict) for g in groups):
        raise AelabError(f"{path}: its optimizer state does not have this optimizer's {len(own)} parameter "
                         "group(s); resume with the config the run was started with, or train again")
    for stored, current in zip(groups, own):
        for key, value in current.items():
            if key != "params" and not _same_kind(stored.get(key), value):
                raise AelabError(f"{path}: the optimizer's {key} is {str(stored.get(key))[:40]!r}, not "
                                 f"{_kind(value)}; the checkpoint was altered: restore it from a copy or train again")


def _same_kind(got, expected) -> bool:
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        return True  # flags (foreach, amsgrad, ...): torch's own defaults fill what another version left out
    if isinstance(expected, (int, float)):
        return isinstance(got, (int, float)) and not isinstance(got, bool) and math.isfinite(got)
    if isinstance(expected, (list, tuple)):
        return isinstance(got, (list, tuple)) and len(got) == len(expected) and all(map(_same_kind, got, expected))
    return True  # a setting of another kind (a plug-in optimizer's): torch checks it


def _kind(value) -> str:
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} numbers"
    return "a finite number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__


def match_parameter_layout(optimizer: torch.optim.Optimizer) -> None:
    """Lay out each per-parameter state tensor (Adam's exp_avg, exp_avg_sq, momentum buffers) in
    memory like its parameter. A checkpoint stores them contiguous; a channels_last conv weight
    needs channels_last moments, or the fused kernels refuse them (or fall back to a slow path)
    and the resumed run would no longer step exactly like the uninterrupted one."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            for name, value in optimizer.state.get(p, {}).items():
                if isinstance(value, torch.Tensor) and value.shape == p.shape and value.stride() != p.stride():
                    optimizer.state[p][name] = torch.empty_like(p, dtype=value.dtype).copy_(value)
