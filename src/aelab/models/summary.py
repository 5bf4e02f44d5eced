"""A model's layers with their output shapes and parameter counts, like Keras' `summary()`:
logged by `aelab train`, shown in index.html, printed by `aelab summary RUN`."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from aelab.models.autoencoder import Autoencoder


class LayerRow(NamedTuple):
    name: str  # where it sits, e.g. "encoder.hidden.0"
    kind: str  # the module's class, e.g. "Linear"
    output_shape: tuple[int, ...]  # per image, batch dimension left out
    params: int


@torch.no_grad()
def layer_table(model: Autoencoder) -> list[LayerRow]:
    """Every leaf module in the order one image flows through it (encoder, then decoder)."""
    rows: list[LayerRow] = []

    def record(name):
        def hook(module, inputs, output):
            rows.append(LayerRow(name, type(module).__name__, tuple(output.shape[1:]),
                                 sum(p.numel() for p in module.parameters(recurse=False))))
        return hook

    leaves = [(n, m) for n, m in model.named_modules() if n and not any(m.children())]
    hooks = [m.register_forward_hook(record(n)) for n, m in leaves]
    was_training = model.training
    try:
        model.eval()
        device = next(model.parameters()).device
        labels = {"labels": torch.zeros(1, dtype=torch.long, device=device)} if model.needs_labels else {}
        model(torch.zeros(1, *model.input_shape, device=device), sample=False, **labels)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return rows


def format_summary(model: Autoencoder) -> str:
    """The table as text, with totals; a VAE's encoder head gives the mean and log-variance."""
    rows = layer_table(model)
    cells = [("layer", "type", "output shape", "params")] + [
        (r.name, r.kind, "x".join(map(str, r.output_shape)), f"{r.params:,}") for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    lines = ["  ".join([c[0].ljust(widths[0]), c[1].ljust(widths[1]), c[2].rjust(widths[2]),
                        c[3].rjust(widths[3])]) for c in cells]
    rule = "-" * len(lines[0])
    total = sum(p.numel() for p in model.parameters())
    encoder = sum(p.numel() for p in model.encoder.parameters())
    decoder = sum(p.numel() for p in model.decoder.parameters())
    second = sum(p.numel() for p in model.discriminator_parameters())  # trained by its own optimizer
    beside = total - encoder - decoder - second  # a codebook, pseudo-inputs, a prior network
    kind = model.config.type.replace("_", "-").upper()
    head = model.encoder_head if model.variational else "the code"
    return "\n".join([
        f"{kind}, {model.config.architecture}: input {'x'.join(map(str, model.input_shape))} "
        f"({math.prod(model.input_shape)} values), latent {model.config.latent_dim} (encoder head: {head})",
        rule, lines[0], rule, *lines[1:], rule,
        f"parameters: {total:,} ({encoder:,} encoder, {decoder:,} decoder"
        f"{f', {beside:,} in the codebook and prior' if beside else ''}"
        + (f", {second:,} discriminator" if second else "") + "), "
        f"{total * 4 / 2**20:.2f} MiB in fp32"])
