"""A model's second network (a discriminator: model.adversarial_weight's patch discriminator, or
the discriminator of an aae, factor_vae or vae_gan): its own optimizer, its
step, and its place in the checkpoint. The trainer builds one only for a model whose
`discriminator_parameters()` is not empty; a model without one costs the loop nothing.

Each batch, after the model's own step, `step` minimises the model's `discriminator_objective()`
(computed on that batch) with the second optimizer, built like the first (training.optimizer,
learning_rate, the same schedule, gradient_clip). docs/extending.md, section 3, says how a model
plugs in.
"""

from __future__ import annotations

import torch

from aelab.config import TrainingConfig
from aelab.errors import AelabError
from aelab.train import checkpoint
from aelab.train.optim import build_optimizer

NAME = "discriminator_optimizer"  # its optimizer's tensors and state in a checkpoint


class SecondNetwork:
    def __init__(self, parameters: list[torch.nn.Parameter], cfg: TrainingConfig):
        self.parameters = parameters
        self.ids = {id(p) for p in parameters}
        self.optimizer = build_optimizer(parameters, cfg)
        self.gradient_clip = cfg.gradient_clip

    @classmethod
    def of(cls, model, cfg: TrainingConfig, distributed: bool) -> "SecondNetwork | None":
        """The model's second network, or None when it has none."""
        parameters = model.discriminator_parameters()
        if not parameters:
            return None
        if distributed and getattr(model, "adversary", None) is not None:
            raise AelabError("model.adversarial_weight: the adversarial term trains in one process; run it "
                             "without torchrun, or set adversarial_weight to 0")
        if distributed:
            raise AelabError(f"model.type '{model.config.type}': a model with a discriminator of its own trains "
                             "in one process; run it without torchrun")
        return cls(parameters, cfg)

    def step(self, model, device_type: str, precision: torch.dtype | None) -> dict[str, torch.Tensor]:
        """One step on the model's discriminator objective (the last batch's); its named terms."""
        with torch.autocast(device_type, dtype=precision or torch.float32, enabled=precision is not None):
            terms = model.discriminator_objective()
        self.optimizer.zero_grad(set_to_none=True)
        terms["discriminator_loss"].backward()
        if self.gradient_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.parameters, self.gradient_clip)
        self.optimizer.step()
        return terms

    def save(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        """Adds the optimizer's state to a checkpoint's tensors and metadata."""
        state, plain = checkpoint.optimizer_tensors(self.optimizer, NAME)
        tensors.update(state)
        meta[NAME] = plain

    def check(self, meta: dict, path) -> None:
        """One line when the checkpoint's settings of this optimizer are not numbers (checkpoint.py)."""
        if NAME not in meta:
            raise AelabError(f"{path} holds no state of the second optimizer ({NAME}); resume with the "
                             "config the run was started with")
        checkpoint.check_param_groups(self.optimizer, meta[NAME], path)

    def load(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        checkpoint.load_optimizer(self.optimizer, tensors, meta[NAME], NAME)
