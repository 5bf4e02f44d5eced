"""The objective outside the hot loop: averaged over a whole split with seeded draws (the
validation loss every epoch; evaluate/ reports it too), and as a module for DistributedDataParallel,
which synchronises gradients of what is called through it."""

from __future__ import annotations

import torch
from torch import nn

from aelab.data.dataset import to_float
from aelab.models.losses import reconstruction_loss

RECONSTRUCTION_METRICS = ("mse", "bce", "l1")


class Objective(nn.Module):
    """`Objective(model)(x, generator=g)` is `model.objective(x, generator=g)`, as a module."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None,
                labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return self.model.objective(x, generator=generator, labels=labels)


@torch.no_grad()
def mean_objective(model, data: torch.Tensor, seed: int, batch_size: int = 1024,
                   labels: torch.Tensor | None = None, reconstruction_metrics: bool = False) -> dict[str, float]:
    """The training objective's terms averaged over `data`, with seeded noise and z draws, so the
    same model always gets the same numbers; with `reconstruction_metrics`, also `mse`, `bce` and
    `l1` of the deterministic reconstruction (clean input, z = the mean), in the same pass: the
    trainer's per-epoch validation curves."""
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=data.device).manual_seed(seed)
    sums: dict[str, torch.Tensor] = {}
    for start in range(0, len(data), batch_size):
        x = to_float(data[start:start + batch_size])
        y = None if labels is None else labels[start:start + batch_size]
        terms = model.objective(x, generator=generator, labels=y)
        if reconstruction_metrics:
            clean = model(x, sample=False) if y is None else model(x, sample=False, labels=y)
            terms.update({k: reconstruction_loss(model, clean, x, k).mean() for k in RECONSTRUCTION_METRICS})
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + v * len(x)
    model.train(was_training)
    return {k: float(v) / len(data) for k, v in sums.items()}
