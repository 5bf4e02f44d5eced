"""`flow`: a normalizing flow fitted to the codes by maximum likelihood (zuko's masked
autoregressive flow, MAF, or neural spline flow, NSF). A flow is an invertible map from the codes
to N(0, I); drawing runs it backwards on Gaussian noise, so the temperature scales that noise.

An autoregressive flow evaluates the likelihood of a batch in one pass (fitting is fast) and
inverts one dimension after another (drawing 1,000 codes of 128 dimensions takes about a second)."""

from __future__ import annotations

from typing import Literal

import torch
import zuko
from pydantic import Field
from torch import nn

from aelab.models.samplers.fitting import LearnedSampler, TrainingOptions
from aelab.vocabulary import FLOW_KINDS


class FlowOptions(TrainingOptions):
    # affine (MAF) or rational-quadratic spline (NSF) steps
    flow: Literal[FLOW_KINDS] = "maf"  # type: ignore[valid-type]
    transforms: int = Field(4, ge=1, le=32)  # autoregressive steps, in alternating orders
    bins: int = Field(8, ge=2, le=64)  # NSF: spline pieces per dimension


class FlowSampler(LearnedSampler):
    kind = "flow"
    Options = FlowOptions

    @classmethod
    def build(cls, dim: int, options: FlowOptions) -> nn.Module:
        hidden = [options.hidden] * options.layers
        if options.flow == "nsf":  # splines act on [-5, 5]: the codes are standardised first
            return zuko.flows.NSF(dim, transforms=options.transforms, bins=options.bins, hidden_features=hidden)
        return zuko.flows.MAF(dim, transforms=options.transforms, hidden_features=hidden)

    @classmethod
    def loss(cls, net, batch, options, generator) -> torch.Tensor:
        return -net().log_prob(batch).mean() / batch.shape[1]  # negative log-likelihood per dimension

    def generate(self, noise: torch.Tensor) -> torch.Tensor:
        return self.net().transform.inv(noise)  # (n, d): noise -> codes

    @property
    def description(self) -> str:
        return f"a normalizing flow ({self.options.flow.upper()}, {self.options.transforms} steps) fitted to the training codes"
