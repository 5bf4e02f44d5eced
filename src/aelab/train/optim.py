"""Optimizers by name, all from torch.optim.

Adam and SGD use PyTorch's fused kernels (one pass over all parameters per step instead of about
ten small ops per parameter tensor): the same update rule, a fraction of the per-step overhead.
"""

from __future__ import annotations

import torch

from aelab.config import TrainingConfig


def build_optimizer(params, cfg: TrainingConfig) -> torch.optim.Optimizer:
    params = list(params)
    o = cfg.optimizer
    fused = _fusable(params)
    if o.type == "adam":
        return torch.optim.Adam(params, lr=cfg.learning_rate, betas=(o.beta1, o.beta2), eps=o.epsilon,
                                weight_decay=o.weight_decay, fused=fused)
    momentum = o.momentum if o.type == "momentum" else 0.0
    return torch.optim.SGD(params, lr=cfg.learning_rate, momentum=momentum, weight_decay=o.weight_decay,
                           fused=fused)


def _fusable(params: list[torch.Tensor]) -> bool | None:
    # The fused kernels exist for float parameters on CPU and CUDA; elsewhere keep torch's default.
    ok = params and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return True if ok else None
