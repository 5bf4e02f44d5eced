"""A fitted sampler as tensors and metadata (safetensors, no pickle): inside an estimator's model
file (names prefixed `sampler.`) or in a run folder's own sampler_<kind>.safetensors. The metadata
says its kind, its settings, its seed and a fingerprint of the model weights it was fitted for,
so a sampler left stale (the model trained further) is detected instead of silently used."""

from __future__ import annotations

import hashlib

import torch

from aelab.models.samplers.draw import SAMPLER_CLASSES

PREFIX = "sampler."  # its tensors in a model file, beside the weights


def weights_fingerprint(model: torch.nn.Module) -> str:
    """SHA-256 of the model's weights and buffers (names, dtypes, shapes, bytes)."""
    digest = hashlib.sha256()
    for key, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        digest.update(f"{key}\0{t.dtype}\0{list(t.shape)}\0".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def metadata(fitted, seed: int, fingerprint: str) -> dict:
    return {"kind": fitted.kind, "options": fitted.options.model_dump(mode="json"), "seed": int(seed),
            "fitted_for": fingerprint}


def to_tensors(fitted, prefix: str = PREFIX) -> dict[str, torch.Tensor]:
    return {} if fitted is None else {prefix + k: v for k, v in fitted.tensors().items()}


def problem(meta: dict, kind: str, options, seed: int, fingerprint: str) -> str | None:
    """Why a stored sampler's metadata does not fit what is asked for, or None when it does."""
    if meta.get("kind") != kind:
        return f"it holds a {meta.get('kind')!r} sampler, not {kind!r}"
    if meta.get("fitted_for") != fingerprint:
        return "it was fitted for other model weights (the model trained further since)"
    if meta.get("options") != options.model_dump(mode="json") or meta.get("seed") != seed:
        return "it was fitted with other settings or another seed than the config's"
    return None


def from_tensors(tensors: dict[str, torch.Tensor], meta: dict | None = None, prefix: str = PREFIX):
    """The sampler stored in `tensors` (its names prefixed) with `meta` (see metadata); None when
    there is none. A file saved before samplers carried metadata holds a gaussian or a gmm."""
    arrays = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    if not arrays:
        return None
    if meta is None:  # the earlier layout: the kind follows from the tensors' names
        kind = "gaussian" if set(arrays) == {"mean", "cov"} else "gmm" if "weights" in arrays else None
        return None if kind is None else SAMPLER_CLASSES[kind].restore(arrays)
    cls = SAMPLER_CLASSES[meta["kind"]]
    return cls.restore(arrays, cls.Options.model_validate(meta["options"]), int(meta["seed"]))
