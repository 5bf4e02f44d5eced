"""What changes during training, as pure functions of how far training is (in epochs, fractional
within an epoch), so that a resumed run continues exactly where it stopped:

- the KL weight: `training.kl_annealing` "linear" raises it from 0 to `model.beta` over
  `kl_annealing_epochs` and holds it; "cyclical" repeats that ramp every `kl_annealing_epochs`,
  rising over the first half of each cycle and holding for the second (Fu et al., 2019), so the
  decoder learns to use the code before the KL term pulls it towards the prior;
- the learning rate: `training.lr_schedule` "cosine" decays it from `learning_rate` to 0 along a
  half cosine over all epochs; "plateau" halves it after `lr_patience` epochs without a better
  monitored loss (the loop keeps that scale in its state, which checkpoints store);
  `training.warmup_steps` first raises it linearly over that many optimizer steps. Counted in steps,
  not epochs: Adam's first updates move each weight by about the learning rate whatever the
  gradient's size (its second-moment estimate starts from one gradient), so on a wide layer they
  can jump far; how many such steps a run takes does not depend on the size of its data.
- the length of training: `training.steps` sets the number of epochs that many steps need
  (`resolve_steps`).
"""

from __future__ import annotations

import math

import torch

from aelab.config import TrainingConfig
from aelab.errors import AelabError

PLATEAU_FACTOR = 0.5  # lr multiplier each time the monitored loss stalls
PLATEAU_MIN_SCALE = 1e-3  # never below 1/1000 of training.learning_rate


def check_model_type(cfg: TrainingConfig, model_class: type, model_type: str) -> None:
    """KL annealing and free bits need a model whose objective reads them (the VAE's KL term)."""
    if (cfg.kl_annealing != "none" or cfg.free_bits > 0) and not getattr(model_class, "anneals_kl", False):
        raise AelabError(f"training.kl_annealing and training.free_bits act on a VAE's KL term, which a "
                         f"'{model_type}' does not weigh that way; remove them for this model type")


def kl_weight(cfg: TrainingConfig, beta: float, progress: float) -> float:
    """The KL weight at `progress` epochs into training (the model's beta once annealing is over)."""
    if cfg.kl_annealing == "none":
        return beta
    period = cfg.kl_annealing_epochs
    if cfg.kl_annealing == "linear":
        return beta * min(1.0, progress / period)
    position = (progress % period) / period  # cyclical: 0..1 within the current cycle
    return beta * min(1.0, 2.0 * position)


def learning_rate(cfg: TrainingConfig, progress: float, plateau_scale: float = 1.0, step: int | None = None) -> float:
    """The learning rate at `progress` epochs into training, `step` (0-based) being the optimizer
    step about to be taken (None: no warm-up)."""
    if cfg.lr_schedule == "cosine":
        lr = cfg.learning_rate * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress / cfg.epochs)))
    elif cfg.lr_schedule == "plateau":
        lr = cfg.learning_rate * plateau_scale
    else:
        lr = cfg.learning_rate
    if step is not None and step < cfg.warmup_steps:
        lr *= (step + 1) / cfg.warmup_steps
    return lr


def schedules_learning_rate(cfg: TrainingConfig) -> bool:
    """Whether the learning rate changes during training (else the loop never touches it)."""
    return cfg.lr_schedule != "constant" or cfg.warmup_steps > 0


def resolve_steps(config, n_train: int):
    """`config` with training.epochs set to what training.steps needs on `n_train` training images
    (unchanged without training.steps): the epochs that hold at least `steps` optimizer steps."""
    t = config.training
    if t.steps is None:
        return config
    epochs = max(1, math.ceil(t.steps / max(1, math.ceil(n_train / t.batch_size))))
    if epochs == t.epochs:
        return config
    return config.model_copy(update={"training": t.model_copy(update={"epochs": epochs})})


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def plateau_step(cfg: TrainingConfig, monitored: float, best: float, bad_epochs: int,
                 scale: float) -> tuple[float, int, float]:
    """After an epoch: (best loss so far, epochs without improvement, new lr scale)."""
    if monitored < best - cfg.min_delta:
        return monitored, 0, scale
    bad_epochs += 1
    if bad_epochs >= cfg.lr_patience:
        return best, 0, max(PLATEAU_MIN_SCALE, scale * PLATEAU_FACTOR)
    return best, bad_epochs, scale
