"""Which precision a run trains in: `training.precision` auto, fp32 or bf16.

`auto` (the default) picks bf16 autocast where it was measured to pay, fp32 elsewhere, and says
why (the log line and metrics.json). On a CPU with AVX512-BF16 or AMX (BENCHMARKS.md,
`bench/precision.py`, `bench/conv_options.py`):

- MLPs: a step of >= 32 M multiply-adds runs ~1.3-2x faster in bf16 with the test loss within
  0.1% of fp32; below that the casts autocast inserts around every layer cost more than the
  faster matrix products save: fp32;
- `image_conv` (32-256 channels, e.g. examples/images_rgb_vae.json): bf16 ran 1.4-1.8x faster
  than fp32 (both channels_last), the test loss within 1.5% after 3 epochs and 0.3-1.5% below
  fp32 after 10: bf16, again from 32 M multiply-adds per step. (An earlier measurement in CPU
  seconds on a machine loaded 5-10x over had bf16 at 0.3-0.5x fp32; it did not reproduce on a
  quiet machine, in either memory layout);
- seed 002's small `conv` net (8-32 channels): bf16 gained nothing measurable over fp32: fp32.

Without bf16 hardware bf16 is emulated and several times slower than fp32: fp32. On CUDA, bf16
pays wherever the GPU supports it (Ampere and later).

Only the forward pass and the loss run under autocast; the weights, the gradients and the
optimizer state stay fp32, and evaluation is fp32.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import torch

from aelab.models.autoencoder import Autoencoder
from aelab.train.speed import SMALL_STEP_MACS, native_bf16, step_macs

log = logging.getLogger("aelab")


@dataclass(frozen=True)
class Precision:
    name: str  # "fp32" or "bf16"
    reason: str  # why, in a few words (the log line and metrics.json)

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return torch.bfloat16 if self.name == "bf16" else None


def choose_precision(setting: str, model: Autoencoder, device: torch.device, batch_size: int) -> Precision:
    """The precision to train in for `training.precision` = `setting` (auto, fp32 or bf16); logged."""
    chosen = _decide(setting, model, torch.device(device), batch_size)
    log.info("training in %s (%s)", chosen.name, chosen.reason)
    return chosen


def _decide(setting: str, model: Autoencoder, device: torch.device, batch_size: int) -> Precision:
    native = _bf16_hardware(device)
    if setting == "fp32":
        return Precision("fp32", "training.precision is fp32")
    if setting == "bf16":
        if not native:
            warnings.warn("training.precision is bf16 but this CPU has no bf16 hardware (AVX512-BF16 or "
                          "AMX): bf16 emulated in software is several times slower than fp32 here")
        return Precision("bf16", "training.precision is bf16")
    if not native:
        where = "this GPU has no bf16 support" if device.type == "cuda" else \
            "this CPU has no bf16 hardware (AVX512-BF16 or AMX)"
        return Precision("fp32", f"auto: {where}")
    if device.type == "cuda":
        return Precision("bf16", "auto: the GPU supports bf16")
    if model.config.architecture == "conv":  # seed 002's few-channel convs (BENCHMARKS.md, issue 10)
        return Precision("fp32", "auto: bf16 gained nothing over fp32 for the small conv network on this kind of CPU")
    macs = step_macs(model, batch_size)
    if macs < SMALL_STEP_MACS:
        return Precision("fp32", f"auto: a small step ({macs / 1e6:.1f} M multiply-adds) gains nothing from bf16")
    what = "an image_conv network" if model.config.architecture == "image_conv" else "a model"
    return Precision("bf16", f"auto: this CPU does bf16 in hardware (AVX512-BF16/AMX) and {what} of "
                             f"{macs / 1e6:,.0f} M multiply-adds per step gains from it")


def _bf16_hardware(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return native_bf16(device)

