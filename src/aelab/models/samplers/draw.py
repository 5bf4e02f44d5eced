"""The one path by which new codes are drawn (samples.png, `aelab generate`, `aelab serve`,
`aelab evaluate --fd-samples`, the estimators' `sample()`): which sampler runs (`resolve`), its
settings (`options_for`, from model.sampler_options), fitting it (`fit`) and drawing (`draw`)."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from pydantic import BaseModel, ValidationError

from aelab import limits
from aelab.config import ModelConfig
from aelab.errors import AelabError
from aelab.models.samplers.diffusion import DiffusionSampler
from aelab.models.samplers.flow import FlowSampler
from aelab.models.samplers.gaussian import FittedGaussian
from aelab.models.samplers.gmm import FittedGMM
from aelab.models.samplers.two_stage import TwoStageSampler
from aelab.vocabulary import LEARNED_SAMPLERS, SAMPLER_CHOICES

SAMPLER_CLASSES = {"gaussian": FittedGaussian, "gmm": FittedGMM, "flow": FlowSampler,
                   "two_stage": TwoStageSampler, "diffusion": DiffusionSampler}


def has_prior(model) -> bool:
    return model.prior(1, torch.Generator()) is not None


def resolve(model, sampler: str = "auto") -> str:
    """The sampler that runs: 'auto' is the model's own `model.sampler` (config), and its 'auto' the
    prior when the model has one, else a Gaussian fitted to the codes."""
    if sampler not in SAMPLER_CHOICES:
        raise AelabError(f"sampler {sampler!r}: choose one of {', '.join(SAMPLER_CHOICES)}")
    if sampler == "auto":
        sampler = getattr(model.config, "sampler", "auto")
    if sampler == "auto":
        return "prior" if has_prior(model) else "gaussian"
    return sampler


def options_for(kind: str, config: ModelConfig) -> BaseModel:
    """The settings of sampler `kind`: model.gmm_components for gmm, model.sampler_options.<kind>
    for a learned sampler (validated here: one line naming the key when wrong)."""
    cls = SAMPLER_CLASSES[kind]
    if kind == "gmm":
        return cls.Options(components=config.gmm_components)
    raw = getattr(config, "sampler_options", {}).get(kind, {}) if kind in LEARNED_SAMPLERS else {}
    try:
        return cls.Options.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in ("model.sampler_options", kind, *err["loc"]))
        raise AelabError(f"{key}: {err['msg']} (the options of the '{kind}' sampler: "
                         f"{', '.join(cls.Options.model_fields)})") from None


def check_options(config: ModelConfig) -> None:
    """Every sampler's settings in the config, checked before a long training, not after it."""
    for kind in getattr(config, "sampler_options", {}):
        options_for(kind, config)


def fit(kind: str, codes: np.ndarray, options: BaseModel, seed: int, progress: bool = True,
        spread: np.ndarray | None = None):
    """The sampler `kind` fitted to training codes (N, latent_dim), deterministically per seed;
    `spread` (N, latent_dim): the posterior standard deviations of a VAE's codes, which the learned
    samplers draw from (the Gaussian and the mixture are fitted to the codes themselves)."""
    if kind not in SAMPLER_CLASSES:
        raise AelabError(f"sampler {kind!r} is not fitted to codes; those that are: {', '.join(SAMPLER_CLASSES)}")
    codes = np.asarray(codes)
    if not np.isfinite(codes).all():
        raise AelabError(f"the training codes hold NaN or infinite values; the {kind} sampler cannot be fitted "
                         "to them (the model diverged: train it again with a lower learning rate)")
    return SAMPLER_CLASSES[kind].fit(codes, options, seed, progress, spread=spread)


def check_request(n, temperature) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise AelabError(f"n = {n!r}: ask for at least 1 sample (a whole number)")
    if not (isinstance(temperature, (int, float, np.floating)) and math.isfinite(temperature) and temperature > 0):
        raise AelabError(f"temperature {temperature!r}: must be a finite number > 0 (1 is the distribution itself)")


def draw(model, n: int, seed: int, temperature: float = 1.0, sampler: str = "auto",
         codes: Callable[[], np.ndarray] | None = None, fitted=None, fit_seed: int = 0,
         progress: bool = True) -> tuple[np.ndarray, str]:
    """(n codes (n, latent_dim) float32, what they were drawn from, for titles). A sampler fitted
    to codes is `fitted` when it is of the kind asked for (an estimator's, or a run's stored one),
    else fitted here to `codes()` (a function giving the training codes, called only when needed)."""
    check_request(n, temperature)
    limits.check("samples", int(n), "the number of samples")  # before anything is drawn or decoded
    limits.check("sample_values", int(n) * math.prod(model.input_shape),
                 f"{int(n):,} images of shape {tuple(model.input_shape)} hold")
    limits.check("seed", seed, "the seed")
    kind = resolve(model, sampler)
    temp = "" if temperature == 1 else f", temperature {temperature:g}"
    if kind == "prior":
        z = model.prior(n, torch.Generator().manual_seed(seed), temperature)
        if z is None:
            raise AelabError(f"a '{model.config.type}' has no prior; use --sampler gaussian or gmm (fitted to "
                             "its training codes), or a learned one (flow, two_stage, diffusion)")
        return z.numpy().astype(np.float32), f"{model.prior_description}{temp}"
    if getattr(fitted, "kind", None) != kind:
        if codes is None:
            raise AelabError(f"sampler {kind!r} is fitted to the training codes; none were given")
        fitted = fit(kind, codes(), options_for(kind, model.config), fit_seed, progress)
    return fitted.sample(n, seed, temperature).astype(np.float32), f"{fitted.description}{temp}"
