"""model.type 'capacity_vae': the β-VAE with a controlled capacity (Burgess, Higgins, Pal,
Matthey, Watters, Desjardins & Lerchner, 2018, "Understanding disentangling in β-VAE"). Instead of
weighing the KL, the loss holds each image's KL at a target C, in nats, that rises linearly from 0
to capacity_max over capacity_steps optimizer steps and stays there:

    loss = reconstruction_loss + gamma * |kl - C|          (per image, then averaged)

    C = capacity_max * min(1, step / capacity_steps)

so the code gains information a little at a time, the factors the reconstruction needs most first.

Where C is comes from the step count alone: the model counts its training steps in a buffer
(`steps_taken`, part of its state, so a checkpoint holds it and `--resume` continues the ramp where
it was) and derives C from it. Validation and evaluation (eval mode) see the ramp's end,
C = capacity_max: the objective training moves towards, the same in every epoch, so that the
validation losses of two epochs compare and the best weights kept are not an early epoch's, when
the target was low and easily met (a dSprites run with C rising to 25 nats kept epoch 21 of 160,
KL 4.8, when its last epoch had reached KL 25 and half the reconstruction error). Logged:
`kl`, `capacity` (C) and `capacity_penalty` = gamma * mean |kl - C|.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field

from aelab.models.losses import reconstruction_loss
from aelab.models.vae import VAE


class CapacityVAEOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gamma: float = Field(1000.0, ge=0)  # weight of |kl - C| (the paper's 1000: the KL stays at C)
    capacity_max: float = Field(25.0, ge=0)  # C at the end of the ramp, nats per image (the paper's dSprites 25)
    # Steps over which C rises; the paper's 100,000 on dSprites, here 10,000: a few minutes' run reaches it.
    capacity_steps: int = Field(10_000, ge=1)


class CapacityVAE(VAE):
    anneals_kl = False  # the KL is held at C, not weighed by a schedule
    Options = CapacityVAEOptions

    def __init__(self, config, input_shape, encoder, decoder):
        super().__init__(config, input_shape, encoder, decoder)
        self.register_buffer("steps_taken", torch.zeros((), dtype=torch.long))

    def capacity(self) -> torch.Tensor:
        """() C, the KL target of the next training step (eval mode: the ramp's end); a tensor op,
        no device sync per step."""
        done = (self.steps_taken / self.options.capacity_steps).clamp(max=1.0)
        return self.options.capacity_max * (done if self.training else torch.ones_like(done))

    def objective(self, x: torch.Tensor, generator: torch.Generator | None = None,
                  labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        out = self(self.corrupt(x, generator), generator=generator)
        recon = reconstruction_loss(self, out, x).mean()
        kl = self.kl(out)  # (B,)
        capacity = self.capacity()
        penalty = self.options.gamma * (kl - capacity).abs().mean()
        if self.training and torch.is_grad_enabled():  # a training step: the ramp moves on
            self.steps_taken += 1
        return self.adversarial({"loss": recon + penalty, "reconstruction_loss": recon, "kl": kl.mean(),
                                 "capacity": capacity, "capacity_penalty": penalty}, out, x)
