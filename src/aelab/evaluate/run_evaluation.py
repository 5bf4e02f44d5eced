"""Everything `aelab evaluate` measures on a trained run, split by split, merged into the run's
metrics.json: the basic metrics of `metrics.evaluate`, latent quality, denoising at several noise
levels and, for VAEs, an importance-sampled negative log-likelihood."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from aelab import runs
from aelab.config import Config, load_config, read_config_file
from aelab.data.dataset import ImageData
from aelab.data.prepare import prepare_data
from aelab.errors import AelabError
from aelab.evaluate.denoising import denoising_table
from aelab.evaluate.latent_quality import latent_metrics
from aelab.evaluate.likelihood import nll_metrics
from aelab.evaluate.metrics import evaluate
from aelab.models.autoencoder import Autoencoder
from aelab.models.inference import encode

SPLITS = ("train", "validation", "test")


def run_config(run: Path, data_overrides: list[str] | None = None) -> Config:
    """The run's config, with `data.KEY=VALUE` overrides (evaluate on other data)."""
    overrides = [o if o.startswith("data.") else f"data.{o}" for o in data_overrides or []]
    config = runs.read_config(Path(run))  # says so when `run` is not a run folder
    if not overrides:
        return config
    return load_config(None, overrides, base=read_config_file(Path(run) / runs.CONFIG))


def split_data(config: Config) -> dict[str, ImageData]:
    train, validation, test = prepare_data(config)
    parts = {"train": train, "validation": validation, "test": test}
    return {k: v for k, v in parts.items() if v is not None}


def model_data(model: Autoencoder, config: Config, data_overrides: list[str] | None = None) -> dict[str, ImageData]:
    """`split_data(config)`, checked to fit the model: data overrides may not change the images' shape."""
    parts = split_data(config)
    shape = next(iter(parts.values())).shape
    if shape != model.input_shape:
        given = " ".join(f"--set data.{o}" for o in data_overrides) if data_overrides else "the run's config"
        raise AelabError(f"{given}: the data has images of shape {shape} but the model expects "
                         f"{model.input_shape}; --set data.KEY=VALUE must give images of the model's shape")
    return parts


def measure(model: Autoencoder, data: ImageData, seed: int, noise: list | None = None,
            nll_samples: int = 0, noise_repeats: int = 1, latent: bool = True) -> dict:
    """All metrics of one split."""
    device = next(model.parameters()).device
    tensor = data.tensor(device)
    binary = data.binary
    labels = data.labels if model.needs_labels else None  # a conditional model maps each image with its label
    if model.needs_labels and labels is None:
        raise AelabError(f"a '{model.config.type}' maps images with their labels; this data has none")
    result = evaluate(model, tensor, seed, binary, labels=None if labels is None else torch.from_numpy(labels).to(device))
    if latent:
        result.update(latent_metrics(encode(model, data.images, labels=labels), data.labels, seed))
    if nll_samples and model.variational:
        result.update(nll_metrics(model, tensor, nll_samples, seed))
    if noise and model.needs_labels:
        raise AelabError(f"--noise: denoising is not measured for a '{model.config.type}' (a conditional model "
                         "reconstructs with each image's label); leave --noise out")
    if noise:
        result["denoising"] = denoising_table(model, tensor, noise, seed, binary, noise_repeats)
    return result


def evaluate_run(run: str | Path, splits: list[str] | None = None, data_overrides: list[str] | None = None,
                 noise: list | None = None, nll_samples: int = 0, noise_repeats: int = 1,
                 write: bool = True) -> dict[str, dict]:
    """Measure the run on each split; with `write`, merge the results into its metrics.json."""
    run = Path(run)
    config = run_config(run, data_overrides)
    model, _, _ = runs.load_model(run)
    parts = model_data(model, config, data_overrides)
    splits = splits or [s for s in SPLITS if s in parts]
    unknown = [s for s in splits if s not in parts]
    if unknown:
        raise AelabError(f"--splits: {unknown} not available for this run; it has {', '.join(parts)}")
    seed = config.training.seed + 1  # the seed train_run evaluates with: the same numbers
    suffix = f"[{','.join(data_overrides)}]" if data_overrides else ""
    results = {f"{s}{suffix}": measure(model, parts[s], seed, noise, nll_samples, noise_repeats) for s in splits}
    if write:
        merge_metrics(run, results)
    return results


def merge_metrics(run: Path, results: dict[str, dict]) -> None:
    path = run / runs.METRICS
    metrics = json.loads(path.read_text()) if path.is_file() else {}
    for split, values in results.items():
        metrics[split] = {**metrics.get(split, {}), **values}
    runs.write_json(path, _finite(metrics))


def _finite(obj):
    """NaN is not JSON: store it as null."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj
