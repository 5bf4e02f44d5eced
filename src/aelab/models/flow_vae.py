"""model.type 'flow_vae': a VAE whose posterior is a diagonal Gaussian pushed through K planar or
radial flows (Rezende & Mohamed, 2015, "Variational Inference with Normalizing Flows"):

    z_0 ~ q_0 = N(mean(x), diag(sigma(x)^2)),    z_K = f_K(... f_1(z_0))
    log q(z_K|x) = log q_0(z_0) - sum_k log |det df_k/dz|
    loss = reconstruction_loss + beta * kl,      kl = log q(z_K|x) - log p(z_K)  at the drawn z_K

`kl` is still the ELBO's KL term (loss = reconstruction_loss + beta * kl), but a one-sample
estimate: a flow's KL has no closed form. `log_det` (the flows' mean sum log|det|, the nats of
entropy they add to q_0) is logged beside it; it is inside `kl`, not added again.

planar:  f(z) = z + u_hat tanh(w.z + b),     log|det| = log|1 + u_hat.(1 - tanh^2(w.z + b)) w|
radial:  f(z) = z + beta_hat (z - z_ref) / (alpha + r),   r = |z - z_ref|,   alpha > 0
         log|det| = (d - 1) log(1 + beta_hat h) + log(1 + beta_hat alpha h^2),   h = 1 / (alpha + r)

Each step is invertible by its constraint: u_hat = u + (m(w.u) - w.u) w / |w|^2 with
m(a) = -1 + softplus(a) makes w.u_hat >= -1; beta_hat = -alpha + softplus(beta) >= -alpha.

The flows' parameters are amortised, as in the paper and in Berg et al.'s Sylvester-flow code: each
image has its own, computed from features the encoder gives beside the mean and the log-variance
(a linear head on them). pythae's VAE_LinNF keeps one global set for all images instead; a
posterior bent the same way for every image cannot follow images whose posteriors differ, which is
what a flow posterior is for. FlowPosteriorVAE, the base, is shared with `iaf_vae` (models/iaf_vae.py).

The code aelab uses for an image (`encode`: transform, the latent maps, interpolation) is q_0's mean
pushed through the image's flows: the point the decoder reads when there is no noise.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from aelab.models.autoencoder import ForwardOutput
from aelab.models.losses import LOG_2PI, reconstruction_loss
from aelab.models.vae import VAE, bounded_logvar
from aelab.vocabulary import POSTERIOR_FLOWS


class FlowPosteriorVAE(VAE):
    """A VAE whose q(z|x) is q_0 = N(mean, sigma) pushed through invertible steps that read a
    per-image context; a subclass says what the steps are (`flow`)."""
    closed_form_kl = False  # KL terms are one-sample estimates log q(z|x) - log p(z)
    # posterior_density stays True: draw_posterior pushes q_0's Gaussian draws through the flow, with their log q
    encoder_head = "mean and log-variance of q_0(z|x), and the context its flow reads"

    @classmethod
    def encoder_outputs(cls, latent_dim: int) -> int:
        return 3 * latent_dim  # [mean | log-variance | context the flows read]

    def flow(self, z0: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_K (N, d), sum_k log|det df_k/dz| (N,)) of codes z0 (N, d) under the steps that the
        per-image context (N, d) sets."""
        raise NotImplementedError

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        mean, raw, context = self.encoder(x).chunk(3, dim=1)  # (B, d) each
        return mean, bounded_logvar(raw), context

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        mean, _, context = self.posterior(x)
        return self.flow(mean, context)[0], None  # no Gaussian to describe: the code alone

    def draw_posterior(self, posterior, samples, generator=None):
        mean, logvar, context = posterior
        z0, log_q0 = super().draw_posterior((mean, logvar), samples, generator)  # (b, k, d), (b, k)
        b, k, d = z0.shape
        z, log_det = self.flow(z0.reshape(b * k, d), context.repeat_interleave(k, dim=0))
        return z.view(b, k, d), log_q0 - log_det.view(b, k)

    def forward(self, x: torch.Tensor, sample: bool = True,
                generator: torch.Generator | None = None) -> ForwardOutput:
        return self.forward_with_log_det(x, sample, generator)[0]

    def forward_with_log_det(self, x: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None):
        """(the ForwardOutput, with log q(z|x) at its z; (B,) the flows' sum log|det| there)."""
        mean, logvar, context = self.posterior(x)
        eps = (torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype) if sample
               else torch.zeros_like(mean))
        z0 = mean + torch.exp(0.5 * logvar) * eps  # reparameterised: gradients reach mean, sigma and the flows
        z, log_det = self.flow(z0, context)
        log_q = -0.5 * (eps.square() + LOG_2PI + logvar).sum(1) - log_det  # (B,)
        return ForwardOutput(self.decoder(z), mean, logvar, z, log_q), log_det

    def kl(self, out: ForwardOutput) -> torch.Tensor:
        """(B,) log q(z|x) - log p(z) at the drawn code: a one-sample estimate of the KL."""
        return out.log_q - self.log_prior(out.z)

    def objective(self, x: torch.Tensor, generator: torch.Generator | None = None,
                  labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        out, log_det = self.forward_with_log_det(self.corrupt(x, generator), generator=generator)
        recon = reconstruction_loss(self, out, x).mean()
        kl = self.kl(out).mean()
        # free bits: the batch's mean KL is unpenalised up to free_bits nats per latent dimension (a
        # flow's KL does not split into dimensions)
        penalised = kl if self.free_bits <= 0 else kl.clamp(min=self.free_bits * self.config.latent_dim)
        beta = self.kl_beta if self.kl_weight is None else self.kl_weight
        terms = {"loss": recon + beta * penalised, "reconstruction_loss": recon, "kl": kl, "log_det": log_det.mean()}
        return self.adversarial(terms, out, x)


class FlowVAEOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # planar: bends along a hyperplane; radial: contracts or expands around a point
    flow: Literal[POSTERIOR_FLOWS] = "planar"  # type: ignore[valid-type]
    flow_length: int = Field(10, ge=1, le=200)  # K, steps q_0 is pushed through (the paper: 2 to 80)


class FlowVAE(FlowPosteriorVAE):
    Options = FlowVAEOptions

    def __init__(self, config, input_shape, encoder, decoder):
        super().__init__(config, input_shape, encoder, decoder)
        d, k = config.latent_dim, self.options.flow_length
        per_step = 2 * d + 1 if self.options.flow == "planar" else d + 2  # (u, w, b) or (z_ref, alpha, beta)
        self.flow_parameters = nn.Linear(d, k * per_step)  # the encoder's context -> every step's parameters

    def flow(self, z0, context):
        params = self.flow_parameters(context).unflatten(1, (self.options.flow_length, -1))  # (N, K, per_step)
        step = planar_step if self.options.flow == "planar" else radial_step
        z, log_det = z0, torch.zeros_like(z0[:, 0])  # (N,); not new_zeros(len(z0)), which fixes N in an ONNX graph
        for k in range(params.shape[1]):
            z, step_log_det = step(z, params[:, k])
            log_det = log_det + step_log_det
        return z, log_det


def planar_step(z: torch.Tensor, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(f(z) (N, d), log|det df/dz| (N,)) of one planar step with parameters (N, 2d + 1) = [u | w | b]."""
    d = z.shape[1]
    u, w, b = params[:, :d], params[:, d:2 * d], params[:, 2 * d]
    wu = (w * u).sum(1, keepdim=True)  # (N, 1)
    u_hat = u + (F.softplus(wu) - 1 - wu) * w / w.square().sum(1, keepdim=True).clamp(min=1e-12)  # w.u_hat >= -1
    a = torch.tanh((w * z).sum(1) + b)  # (N,)
    z = z + u_hat * a.unsqueeze(1)
    det = 1 + (1 - a.square()) * (w * u_hat).sum(1)  # >= 0 by the constraint
    return z, torch.log(det.abs().clamp(min=1e-12))


def radial_step(z: torch.Tensor, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(f(z) (N, d), log|det df/dz| (N,)) of one radial step with parameters (N, d + 2) = [z_ref | alpha | beta]."""
    d = z.shape[1]
    z_ref, alpha, beta = params[:, :d], F.softplus(params[:, d]), params[:, d + 1]
    beta_hat = -alpha + F.softplus(beta)  # >= -alpha: invertible
    diff = z - z_ref
    r = diff.norm(dim=1)  # (N,)
    h = 1 / (alpha + r)
    bh = beta_hat * h
    z = z + bh.unsqueeze(1) * diff
    log_det = (d - 1) * torch.log1p(bh) + torch.log1p(beta_hat * alpha * h.square())  # bh - beta_hat r h^2 = beta_hat alpha h^2
    return z, log_det
