"""model.type 'iaf_vae': a VAE whose posterior is a diagonal Gaussian pushed through an inverse
autoregressive flow (Kingma, Salimans, Jozefowicz, Chen, Sutskever & Welling, 2016, "Improved
Variational Inference with Inverse Autoregressive Flow"):

    z_0 = mean(x) + sigma(x) * eps,    z_t = exp(a_t) * z_{t-1} + b_t,   t = 1..T
    (a_t, b_t)_i = MADE_t(z_{t-1, <i}, h(x))          each value reads only the ones before it
    log q(z_T|x) = log q_0(z_0) - sum_t sum_i a_t,i
    loss = reconstruction_loss + beta * kl,            kl = log q(z_T|x) - log p(z_T)  at the drawn z_T

h(x) is a context the encoder gives beside the mean and the log-variance (the paper's h), read by
every step. A step's shift and scale come from a masked MLP (MADE) of z_{t-1} and h in one pass,
and its Jacobian is triangular, so both the draw and its density cost one pass per step: the
direction in which an autoregressive flow is cheap, used for sampling (the "inverse" of a MAF, which
uses it for density). Steps alternate the order of the values.

The masked networks are zuko's (`MaskedAutoregressiveTransform`, the one the `flow` sampler's MAF is
built of), run forward; its affine step bounds the log-scale softly (a slope of at least 1e-3), where
the paper writes the update as sigma * z + (1 - sigma) * m with a sigmoid gate: the same family of
per-value affine maps. `kl` is a one-sample estimate (no closed form); `log_det` (the steps' mean sum
of log-scales) is logged beside it and is already inside it. The code of an image (`encode`) is q_0's
mean pushed through its flow.
"""

from __future__ import annotations

import torch
import zuko
from pydantic import BaseModel, ConfigDict, Field

from aelab.models.flow_vae import FlowPosteriorVAE


class IAFOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    transforms: int = Field(2, ge=1, le=32)  # T, autoregressive steps (the paper: 2 on MNIST), in alternating orders
    hidden: int = Field(64, ge=1, le=4096)  # width of each step's masked MLP
    layers: int = Field(2, ge=1, le=8)  # hidden layers of each step's masked MLP


class IAFVAE(FlowPosteriorVAE):
    Options = IAFOptions

    def __init__(self, config, input_shape, encoder, decoder):
        super().__init__(config, input_shape, encoder, decoder)
        d, o = config.latent_dim, self.options
        # the steps: masked MLPs of (z, context), ascending then descending order of the values
        self.iaf = zuko.flows.MAF(d, context=d, transforms=o.transforms, hidden_features=[o.hidden] * o.layers)

    def flow(self, z0: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.iaf.transform(context).call_and_ladj(z0)  # (N, d), (N,): one pass per step
