"""Which precision a run trains in: `training.precision` auto, fp32 or bf16.

`auto` (the default) picks bf16 autocast where it pays, fp32 elsewhere, and says why. Measured
(BENCHMARKS.md, `bench/precision.py`): on a CPU with AVX512-BF16 an MLP step of >= 32 M
multiply-adds runs ~1.3x faster in bf16 with the test loss within 0.1% of fp32; below that the
casts autocast inserts cost more than the faster matrix products save, and oneDNN's bf16
convolutions with few channels were slower than fp32, so conv models stay in fp32. Without bf16
hardware (AVX512-BF16 or AMX) bf16 is emulated and several times slower than fp32. On CUDA, bf16
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
    if model.config.architecture in ("conv", "image_conv"):  # image_conv: 0.3-0.5x in bf16 (issue 10)
        return Precision("fp32", "auto: bf16 convolutions were slower than fp32 on this kind of CPU")
    macs = step_macs(model, batch_size)
    if macs < SMALL_STEP_MACS:
        return Precision("fp32", f"auto: a small step ({macs / 1e6:.1f} M multiply-adds) gains nothing from bf16")
    return Precision("bf16", "auto: this CPU does bf16 in hardware (AVX512-BF16/AMX)")


def _bf16_hardware(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return native_bf16(device)

