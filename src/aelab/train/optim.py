"""Optimizers by name, all from torch.optim."""

from __future__ import annotations

import torch

from aelab.config import TrainingConfig


def build_optimizer(params, cfg: TrainingConfig) -> torch.optim.Optimizer:
    o = cfg.optimizer
    if o.type == "adam":
        return torch.optim.Adam(params, lr=cfg.learning_rate, betas=(o.beta1, o.beta2), eps=o.epsilon,
                                weight_decay=o.weight_decay)
    momentum = o.momentum if o.type == "momentum" else 0.0
    return torch.optim.SGD(params, lr=cfg.learning_rate, momentum=momentum, weight_decay=o.weight_decay)
