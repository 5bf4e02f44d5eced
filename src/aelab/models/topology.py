"""Hidden-layer widths of an MLP, from any of the three ways users give them."""

from __future__ import annotations

import math

from aelab.config import Config, ModelConfig, validate_config
from aelab.errors import AelabError

Widths = list[tuple[int, str]]  # (units, activation) per hidden layer


def mlp_widths(cfg: ModelConfig, input_dim: int, encoder_outputs: int) -> tuple[Widths, Widths]:
    """(encoder hidden layers, decoder hidden layers), input and latent layers excluded.
    `encoder_outputs`: what the model's encoder head gives (a VAE: mean and log-variance)."""
    if cfg.encoder_topology:
        return _from_topology(cfg, input_dim, encoder_outputs)
    if cfg.n_layers:
        widths = layer_rule(input_dim, cfg.latent_dim, cfg.n_layers)[1:-1]
        hidden = [(w, cfg.activation) for w in widths]
        return hidden, hidden[::-1]
    enc = [(l.units, l.activation or cfg.activation) for l in cfg.encoder_layers or []]
    dec = [(l.units, l.activation or cfg.activation) for l in cfg.decoder_layers or []]
    return enc, dec


def layer_rule(input_dim: int, latent_dim: int, n_layers: int) -> list[int]:
    """Seed 001: D_i = D_x - floor((D_x - D_z) * i / n) for i = 0..n (input and latent included)."""
    return [input_dim - ((input_dim - latent_dim) * i) // n_layers for i in range(n_layers + 1)]


def _from_topology(cfg: ModelConfig, input_dim: int, encoder_outputs: int) -> tuple[Widths, Widths]:
    # Seed 000: encoder [784, 256, 128, 2k] (a VAE's head outputs mean and log-variance), decoder [k, 128, 256, 784].
    enc = cfg.encoder_topology
    heads = tuple(dict.fromkeys((cfg.latent_dim, encoder_outputs)))
    if len(enc) < 2 or enc[0] != input_dim or enc[-1] not in heads:
        want = " or ".join(str(h) for h in heads)
        raise AelabError(f"model.encoder_topology {enc} must start at the input size {input_dim} "
                         f"and end at the latent size {want}")
    dec = cfg.decoder_topology or [cfg.latent_dim, *enc[1:-1][::-1], input_dim]
    if len(dec) < 2 or dec[0] != cfg.latent_dim or dec[-1] != input_dim:
        raise AelabError(f"model.decoder_topology {dec} must start at latent_dim {cfg.latent_dim} "
                         f"and end at the input size {input_dim}")
    return [(w, cfg.activation) for w in enc[1:-1]], [(w, cfg.activation) for w in dec[1:-1]]


def resolve_widths(config: Config, input_shape: tuple[int, int, int], encoder_outputs: int) -> Config:
    """`config` with the MLP's hidden layers written out as `encoder_layers`/`decoder_layers` in
    place of the rule or topology that gave them, so that a run's config.json shows what was built
    (and re-runs it exactly). Conv models, own networks and listed layers come back unchanged."""
    model = config.model
    if model.architecture != "mlp" or model.encoder or model.decoder or not (model.n_layers or model.encoder_topology):
        return config
    enc, dec = mlp_widths(model, math.prod(input_shape), encoder_outputs)
    raw = config.to_dict()
    raw["model"].update(n_layers=None, encoder_topology=None, decoder_topology=None,
                        encoder_layers=[{"units": u, "activation": a} for u, a in enc],
                        decoder_layers=[{"units": u, "activation": a} for u, a in dec])
    return validate_config(raw, source="resolved config")
