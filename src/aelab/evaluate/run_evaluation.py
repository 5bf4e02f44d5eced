"""Everything `aelab evaluate` measures on a trained run, split by split, merged into the run's
metrics.json: the basic metrics of `metrics.evaluate`, latent quality, denoising at several noise
levels and, for VAEs, an importance-sampled negative log-likelihood."""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

import numpy as np
import torch

from aelab import limits, runs, stored_samplers
from aelab.config import Config, load_config, read_config_file
from aelab.data.dataset import ImageData
from aelab.data.prepare import prepare_data
from aelab.errors import AelabError
from aelab.evaluate.denoising import denoising_table
from aelab.evaluate.disentanglement import disentanglement_metrics
from aelab.evaluate.feature_classifier import classifier_for
from aelab.evaluate.latent_quality import latent_metrics
from aelab.evaluate.likelihood import LIKELIHOODS, nll_metrics
from aelab.evaluate.metrics import evaluate
from aelab.evaluate.sample_quality import classifier_accuracy, judge
from aelab.models.autoencoder import Autoencoder
from aelab.models.inference import decode, encode
from aelab.models.samplers import draw, has_prior, resolve

SPLITS = ("train", "validation", "test")
DEFAULT_SPLITS = ("test",)  # what a user wants first; --splits train,validation,test adds the others
log = logging.getLogger("aelab")


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
            nll_samples: int = 0, noise_repeats: int = 1, latent: bool = True, progress: bool = False,
            name: str = "data", nll_precision: str = "auto") -> dict:
    """All metrics of one split; each stage is logged as it starts and ends (`progress`: a bar for
    the importance-sampled NLL, the slow one)."""
    device = next(model.parameters()).device
    tensor = data.tensor(device)
    binary = data.binary
    labels = data.labels if model.needs_labels else None  # a conditional model maps each image with its label
    if model.needs_labels and labels is None:
        raise AelabError(f"a '{model.config.type}' maps images with their labels; this data has none")
    if noise and model.needs_labels:
        raise AelabError(f"--noise: denoising is not measured for a '{model.config.type}' (a conditional model "
                         "reconstructs with each image's label); leave --noise out")
    with _stage(name, f"reconstruction metrics of {len(data)} images"):
        result = evaluate(model, tensor, seed, binary,
                          labels=None if labels is None else torch.from_numpy(labels).to(device))
    if latent:
        with _stage(name, "latent quality"):
            codes = encode(model, data.images, labels=labels)
            result.update(latent_metrics(codes, data.labels, seed))
        if data.factors is not None:  # known factors of variation (dsprites)
            with _stage(name, "disentanglement"):
                result.update(disentanglement_metrics(codes, data.factors, data.factor_names, seed))
    if nll_samples and model.variational and model.posterior_density and model.config.reconstruction_loss in LIKELIHOODS:
        def estimate(seconds: float, measured: int) -> None:  # said at the start, measured on a few images
            log.info("%s: the NLL will take about %s on this machine (measured on its first %d images)%s",
                     name, _duration(seconds), measured,
                     f"; --limit N measures N of the {len(data)} images" if seconds > 60 else "")

        with _stage(name, f"importance-sampled NLL, {nll_samples} samples x {len(data)} images"):
            result.update(nll_metrics(model, tensor, nll_samples, seed, nll_precision, progress=progress,
                                      desc=f"{name} nll", estimate=estimate))
    if noise:
        with _stage(name, f"denoising at {len(noise)} noise level(s) x {noise_repeats}"):
            result["denoising"] = denoising_table(model, tensor, noise, seed, binary, noise_repeats)
    return result


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def limited(data: ImageData, limit: int | None, seed: int) -> ImageData:
    """`limit` images of `data`, a seeded choice in their order (the whole split when it has no more)."""
    if limit is None or limit >= len(data):
        return data
    chosen = np.sort(np.random.default_rng(seed).choice(len(data), limit, replace=False))
    return data.subset(chosen)


@contextlib.contextmanager
def _stage(split: str, what: str):
    """Log `split: what...` at the start and `split: what done in N s` at the end."""
    log.info("%s: %s...", split, what)
    started = time.perf_counter()
    yield
    log.info("%s: %s done in %.1f s", split, what, time.perf_counter() - started)


def evaluate_run(run: str | Path, splits: list[str] | None = None, data_overrides: list[str] | None = None,
                 noise: list | None = None, nll_samples: int = 0, noise_repeats: int = 1,
                 write: bool = True, progress: bool = False, nll_precision: str = "auto",
                 fd_samples: int = 0, sampler: str = "auto", limit: int | None = None) -> dict[str, dict]:
    """Measure the run on each split (default: the test split); with `write`, merge the results
    into its metrics.json. `fd_samples`: the Fréchet distance of that many samples to each split,
    drawn by `sampler` (auto: the run's model.sampler). `limit`: measure a seeded choice of that
    many images of each split, stored under '<split>[limit=N]' (never over the whole split's)."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise AelabError(f"--limit {limit!r}: give a number of images, 1 or more")
    if nll_samples:
        limits.check("importance_samples", nll_samples, "--nll-samples")
    if fd_samples:
        limits.check("samples", fd_samples, "--fd-samples")
    limits.check("noise_repeats", noise_repeats, "--noise-repeats")
    run = Path(run)
    config = run_config(run, data_overrides)
    model, _, _ = runs.load_model(run)
    parts = model_data(model, config, data_overrides)
    if not splits:
        splits = [s for s in DEFAULT_SPLITS if s in parts]
        log.info("evaluating the %s split (add others with --splits %s)", ", ".join(splits), ",".join(parts))
    unknown = [s for s in splits if s not in parts]
    if unknown:
        raise AelabError(f"--splits: {unknown} not available for this run; it has {', '.join(parts)}")
    # A sampler the model cannot use is said before the long measurements, not after.
    if fd_samples and resolve(model, sampler) == "prior" and not has_prior(model):
        raise AelabError(f"--sampler prior: a '{model.config.type}' has no prior; use a sampler fitted to its "
                         "training codes (gaussian, gmm, flow, two_stage, diffusion)")
    seed = config.training.seed + 1  # the seed train_run evaluates with: the same numbers
    tags = list(data_overrides or []) + ([f"limit={limit}"] if limit is not None else [])
    suffix = f"[{','.join(tags)}]" if tags else ""
    results = {f"{s}{suffix}": measure(model, limited(parts[s], limit, seed), seed, noise, nll_samples, noise_repeats,
                                       progress=progress, name=f"{s}{suffix}", nll_precision=nll_precision)
               for s in splits}
    if fd_samples:
        kind = resolve(model, sampler)
        fitted = None
        if kind != "prior":  # the run's stored sampler, else fitted now (and stored, with `write`)
            train = parts["train"]
            fitted = stored_samplers.obtain(
                run, model, kind, lambda: encode(model, train.images, labels=train.labels if model.needs_labels else None),
                config.training.seed, write=write, progress=progress)
        quality = sample_quality(model, parts, fd_samples, seed, splits, sampler, fitted, config.training.seed)
        for s in splits:
            results[f"{s}{suffix}"].update(quality[s])
    if write:
        merge_metrics(run, results)
    return results


def sample_quality(model: Autoencoder, parts: dict[str, ImageData], n: int, seed: int,
                   splits: list[str], sampler: str = "auto", fitted=None, fit_seed: int = 0) -> dict[str, dict]:
    """Per split: the Fréchet distance of `n` samples (drawn by `sampler`, as samples.png draws
    them: auto is the run's model.sampler; a conditional model's for labels drawn in the training
    set's class proportions) to the split's images, in the feature space of a classifier trained
    on the training split (on its labels, or for unlabelled images on their orientation), and on
    labelled data that classifier's accuracy on the split (how much to trust it). Named
    `frechet_distance`, or `frechet_distance_<sampler>` for a sampler asked for explicitly.
    `fitted`: the sampler to draw from (a run's stored one); without it, one is fitted with `fit_seed`."""
    train = parts["train"]
    classifier = classifier_for(train)
    # A conditional model draws each sample for a label, in the training set's class proportions.
    labels = np.random.default_rng(seed).choice(train.labels, n) if model.needs_labels else None
    kind = resolve(model, sampler)
    train_labels = train.labels if model.needs_labels else None
    codes, source = draw(model, n, seed, sampler=kind, codes=lambda: encode(model, train.images, labels=train_labels),
                         fitted=fitted, fit_seed=fit_seed, progress=False)
    log.info("Fréchet distance of %d samples from %s", n, source)
    samples = np.clip(decode(model, codes, labels=labels), 0, 1)
    name = "frechet_distance" if sampler == "auto" else f"frechet_distance_{kind}"
    result = judge(samples, {s: parts[s].images for s in splits}, train.images, classifier, seed, name)
    if train.labels is not None:
        for s in splits:
            result[s]["classifier_accuracy"] = classifier_accuracy(parts[s].images, parts[s].labels, classifier)
    return result


def merge_metrics(run: Path, results: dict[str, dict]) -> None:
    path = run / runs.METRICS
    metrics = runs.read_json(path) if path.is_file() else {}
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
