"""model.type -> model class. A new model type is one file plus one line here; from outside aelab,
one call (`aelab.register_model("my_vae", MyVAE)`) or an entry point of an installed package (group
"aelab.models"). Entries are import paths so that a lookup imports only the model it needs."""

from __future__ import annotations

import difflib
import importlib
import json
import logging

import torch
from torch import nn

from aelab.config import Config, ModelConfig
from aelab.errors import AelabError
from aelab.models.autoencoder import Autoencoder
from aelab.models.image_conv import grid_size
from aelab.plugins import read_entry_points

log = logging.getLogger("aelab")

MODEL_TYPES: dict[str, str | type] = {
    "ae": "aelab.models.autoencoder:Autoencoder",
    "dae": "aelab.models.dae:DAE",
    "vae": "aelab.models.vae:VAE",
    "beta_vae": "aelab.models.vae:BetaVAE",
    "cvae": "aelab.models.cvae:CVAE",
    "iwae": "aelab.models.iwae:IWAE",
    "beta_tcvae": "aelab.models.beta_tcvae:BetaTCVAE",
    "vqvae": "aelab.models.vqvae:VQVAE",
    "vqvae_grid": "aelab.models.vqvae_grid:GridVQVAE",
    "vamp": "aelab.models.vamp:VampVAE",
    "wae": "aelab.models.wae:WAE",
    "rae": "aelab.models.rae:RAE",
    "info_vae": "aelab.models.info_vae:InfoVAE",
    "capacity_vae": "aelab.models.capacity_vae:CapacityVAE",
    "dip_vae": "aelab.models.dip_vae:DIPVAE",
    "svae": "aelab.models.svae:SVAE",
    "gumbel_vae": "aelab.models.gumbel_vae:GumbelVAE",
    "hvae": "aelab.models.hvae:HVAE",
    "aae": "aelab.models.aae:AAE",
    "factor_vae": "aelab.models.factor_vae:FactorVAE",
    "vae_gan": "aelab.models.vae_gan:VAEGAN",
    "flow_vae": "aelab.models.flow_vae:FlowVAE",
    "iaf_vae": "aelab.models.iaf_vae:IAFVAE",
}


def register_model(name: str, model_class: type | str) -> type | str:
    """Make `model.type: name` build `model_class` (an Autoencoder subclass or its import path).
    Returns model_class, so it also works as a decorator argument's result."""
    if not name.isidentifier() or name != name.lower():
        raise AelabError(f"model type {name!r}: use a lowercase identifier such as 'my_vae'")
    if not isinstance(model_class, str):
        _check_model_class(name, model_class)
    MODEL_TYPES[name] = model_class
    return model_class


def is_registered(name: str) -> bool:
    """Whether `model.type: name` builds in this process (built in, registered, or an entry point)."""
    if name not in MODEL_TYPES:
        read_entry_points("aelab.models", MODEL_TYPES)  # installed packages' types (plugins.py)
    return name in MODEL_TYPES


def not_registered_for_run(name: str, where) -> AelabError:
    """The error for a saved run (`where`) whose model type this process does not know: a type
    registered in a script exists only while that script runs, so say what reopens its runs."""
    return AelabError(
        f"{where}: model type {json.dumps(name)} is not registered in this process (a type registered with "
        "aelab.register_model in a script exists only while that script runs); for aelab generate, serve "
        "and evaluate to reopen its runs, declare it in your package's pyproject.toml as "
        f'[project.entry-points."aelab.models"] {name} = "yourpackage.module:YourClass" and pip install it '
        "(docs/extending.md), or call aelab.register_model before aelab.cli.main([...]) in your script")


def model_class(name: str) -> type:
    if not is_registered(name):
        close = difflib.get_close_matches(name, MODEL_TYPES, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise AelabError(f"model.type {json.dumps(name)} is not a registered model type; {hint}known: "
                         f"{', '.join(MODEL_TYPES)} (add your own with aelab.register_model, or for the aelab "
                         "command line an entry point: docs/extending.md)")
    entry = MODEL_TYPES[name]
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        try:
            entry = MODEL_TYPES[name] = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise AelabError(f"model.type {name!r}: cannot import {entry} ({e})") from None
        _check_model_class(name, entry)
    return entry


def _check_model_class(name: str, model_class) -> None:
    if not (isinstance(model_class, type) and issubclass(model_class, Autoencoder)):
        raise AelabError(f"model type {name!r}: {model_class!r} is not a class derived from "
                         "aelab.models.autoencoder.Autoencoder; register the class itself (docs/extending.md)")


def build_model(config: ModelConfig, input_shape, encoder: nn.Module | None = None,
                decoder: nn.Module | None = None, seed: int | None = None):
    """The model `config` describes, for images of shape (C, H, W); `seed` (training.seed) seeds
    its initial weights: same seed, same model."""
    cls = model_class(config.type)
    config = _with_grid_latent_dim(config, tuple(input_shape))  # also for a config that skipped complete_options
    if seed is not None:
        torch.manual_seed(seed)
    try:
        return cls.from_config(config, tuple(input_shape), encoder, decoder)
    except (RuntimeError, MemoryError) as e:  # e.g. "can't allocate memory" for absurd widths
        raise AelabError(f"the model cannot be built on this machine ({str(e).splitlines()[0][:200]}); "
                         "use smaller layers (model.encoder_layers, conv_channels) or smaller images") from None


def complete_options(config: Config, train) -> Config:
    """`config` with what the training data `train` (an ImageData) decides about the model filled
    in: the latent_dim of a latent grid (image_conv with latent_channels: that many values at each
    position of the last feature map), the model.options its type derives where the config leaves
    them out (Autoencoder.options_from_data), and the latent_dim a type derives from its networks
    (Autoencoder.derived_latent_dim)."""
    config = _latent_grid(config, train.shape)
    cls = model_class(config.model.type)
    derived = cls.options_from_data(train)
    missing = {k: v for k, v in derived.items() if k not in config.model.options}
    cls.check_options({**config.model.options, **missing}, train)
    update = {"options": {**config.model.options, **missing}} if missing else {}
    latent_dim = cls.derived_latent_dim(config.model.model_copy(update=update), tuple(train.shape))
    if latent_dim is not None and latent_dim != config.model.latent_dim:
        update["latent_dim"] = latent_dim
    if not update:
        return config
    return config.model_copy(update={"model": config.model.model_copy(update=update)})


def _latent_grid(config: Config, input_shape) -> Config:
    model = _with_grid_latent_dim(config.model, input_shape, warn=True)
    return config if model is config.model else config.model_copy(update={"model": model})


def _with_grid_latent_dim(m: ModelConfig, input_shape, warn: bool = False) -> ModelConfig:
    """`m` with the latent_dim of its latent grid (image_conv with latent_channels) on images of
    `input_shape`; `m` itself when it has no grid or the number is already right."""
    if m.architecture != "image_conv" or m.latent_channels is None or m.encoder or m.decoder:
        return m
    h, w = grid_size(input_shape, m.stage_channels)
    latent_dim = m.latent_channels * h * w
    if latent_dim == m.latent_dim:
        return m
    if warn and "latent_dim" in m.model_fields_set:
        log.warning("model.latent_dim %d is replaced by %d: model.latent_channels %d at each of the %dx%d "
                    "positions of the latent grid", m.latent_dim, latent_dim, m.latent_channels, h, w)
    return m.model_copy(update={"latent_dim": latent_dim})
