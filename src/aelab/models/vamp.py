"""model.type 'vamp': the VAE with a VampPrior (Tomczak & Welling, 2018). The prior is learned with
the model: a uniform mixture of the encoder's posteriors at K learned pseudo-inputs u_k (images,
`options.pseudo_inputs`), an approximation of the aggregate posterior, the prior that maximises
the ELBO:

    p(z) = 1/K sum_k q(z | u_k)
    loss = reconstruction_loss + beta * kl,     kl = log q(z|x) - log p(z) at the drawn z

`kl` is the ELBO's KL term, as for every VAE type (so loss = reconstruction_loss + beta * kl still
holds), but a one-sample Monte Carlo estimate: KL against a mixture has no closed form. It is
unbiased, and a single image's estimate can be negative. `model.beta` and `training.kl_annealing`
weigh it as for a VAE; `training.free_bits` leaves free_bits x latent_dim nats of the batch's mean
KL unpenalised (the per-dimension split of the VAE's free bits does not exist for a mixture).
`prior(n)` draws a pseudo-input uniformly and samples its posterior (temperature scales its
spread); `log_prior(z)` is the mixture's density, which the IWAE NLL (`aelab evaluate`) uses.

Posterior log-variances are softly kept to [-6, 2], the range the paper's code clamps them to:
a prior made of the encoder's own posteriors has no fixed scale, so in a dimension the decoder
ignores, the posteriors and the prior's components can widen together at no KL cost, without limit
(measured on the emojis: log-variances of 60 within 60 steps, then NaN); N(0, I) pins that scale
for a VAE. Outside the range a log-variance grows only logarithmically (2 + log(1 + raw - 2)), so
it stays finite, and keeps a gradient: a hard clamp froze every unit whose initial log-variance
lay above 2 (an image_conv head starts at up to 30): all 16 of them stuck at 2 on Fashion-MNIST,
and the test ELBO was 1.3 nats worse after 5 epochs on 5,000 images.

Initialisation: the pseudo-inputs start as K random training images (`init_from_data`, seeded by
training.seed), so from the first step each component is the posterior of a real image and the
prior already covers the data. From noise, all K start as nearly the same grey image whose
posteriors coincide, and training must first pull them apart (measured on held-out digits, latent
8, 40 epochs, 2 seeds: test NLL 23.70 from training images, 23.78 from noise; a VAE 24.18).

BatchNorm: in training mode a BatchNorm layer normalises with the statistics of the batch it sees.
Pushing the pseudo-inputs through the encoder in the data's batch would shift those statistics (50
pseudo-inputs beside 64 images) and teach the running statistics images that are not data; a
separate pass would normalise them with statistics of their own, another function than the one
that encodes x. Here the pseudo-inputs are normalised with the data batch's statistics and do not
touch the running ones: q(z|u_k) and q(z|x) are the same function of their input, in training
(batch statistics) as in evaluation (running statistics). Encoders without BatchNorm encode both
in one pass.
"""

from __future__ import annotations

import contextlib
import math

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from aelab.data.dataset import to_float
from aelab.models.autoencoder import ForwardOutput
from aelab.models.losses import LOG_2PI, gaussian_log_density, reconstruction_loss
from aelab.models.vae import VAE

LOGVAR_RANGE = (-6.0, 2.0)  # posterior standard deviations from 0.05 to 2.7, softly (soft_range)
MIXTURE_CHUNK = 1 << 22  # values of the (rows, K, latent_dim) tensor a mixture density makes at once


class VampOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pseudo_inputs: int = Field(50, ge=1, le=10_000)  # K, the components of the prior


class VampVAE(VAE):
    Options = VampOptions
    closed_form_kl = False

    def __init__(self, config, input_shape, encoder, decoder):
        super().__init__(config, input_shape, encoder, decoder)
        # (K, C, H, W) in image space; noise until init_from_data sets them to training images
        self.pseudo_inputs = nn.Parameter(torch.rand(self.options.pseudo_inputs, *self.input_shape))

    @torch.no_grad()
    def init_from_data(self, train: torch.Tensor, generator: torch.Generator) -> None:
        k = len(self.pseudo_inputs)
        pick = torch.randperm(len(train), generator=generator, device=train.device)
        pick = pick[torch.arange(k, device=pick.device) % len(pick)]  # fewer images than K: some twice
        self.pseudo_inputs.copy_(to_float(train[pick]))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        mean, logvar = super().encode(x)
        return mean, soft_range(logvar, *LOGVAR_RANGE)

    # --------------------------------------------------------------------------- the prior
    def pseudo_posteriors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(means (K, d), log-variances (K, d)) of q(z | u_k), BatchNorm at its running statistics."""
        with running_statistics(self.encoder):
            return self.encode(self.pseudo_inputs)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        means, logvars = self.pseudo_posteriors()
        return mixture_log_density(z.float(), means.float(), logvars.float())

    def kl(self, out: ForwardOutput) -> torch.Tensor:
        """(B,) log q(z|x) - log p(z) at the drawn code out.z: a one-sample estimate of the KL."""
        return gaussian_log_density(out.z, out.mean, out.logvar) - self.log_prior(out.z)

    @torch.no_grad()
    def prior(self, n: int, generator: torch.Generator | None = None,
              temperature: float = 1.0) -> torch.Tensor | None:
        means, logvars = (t.float().cpu() for t in self.pseudo_posteriors())
        k = torch.randint(len(means), (n,), generator=generator)  # a pseudo-input per sample
        eps = torch.randn((n, means.shape[1]), generator=generator)
        return means[k] + temperature * torch.exp(0.5 * logvars[k]) * eps

    @property
    def prior_description(self) -> str:
        return f"the VampPrior (the posteriors of {len(self.pseudo_inputs)} learned pseudo-inputs)"

    def prior_span(self) -> tuple[float, float] | None:
        return None  # the mixture has no set scale: traversals span the training codes' range

    # ---------------------------------------------------------------------------- objective
    def objective(self, x: torch.Tensor, generator: torch.Generator | None = None,
                  labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        (mean, logvar), (u_mean, u_logvar) = self.encode_with_pseudo_inputs(self.corrupt(x, generator))
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        z = mean + torch.exp(0.5 * logvar) * eps  # (B, d), reparameterised
        out = ForwardOutput(self.decoder(z), mean, logvar, z)
        recon = reconstruction_loss(self, out, x).mean()
        log_q = -0.5 * (eps.float().square() + logvar.float() + LOG_2PI).sum(1)  # log q(z|x)
        log_p = mixture_log_density(z.float(), u_mean.float(), u_logvar.float())
        kl = (log_q - log_p).mean()
        penalised = kl if self.free_bits <= 0 else kl.clamp(min=self.free_bits * self.config.latent_dim)
        beta = self.kl_beta if self.kl_weight is None else self.kl_weight
        return self.adversarial({"loss": recon + beta * penalised, "reconstruction_loss": recon, "kl": kl}, out, x)

    def encode_with_pseudo_inputs(self, x: torch.Tensor):
        """((mean, logvar) of x, (means, logvars) of the pseudo-inputs), both through the same
        function: BatchNorm layers in training mode normalise the pseudo-inputs with x's batch
        statistics, and only x updates their running statistics."""
        norms = [m for m in self.encoder.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
        if not norms:  # nothing in the encoder mixes the images of a batch: one pass
            mean, logvar = self.encode(torch.cat([x, self.pseudo_inputs.to(x.dtype)]))
            return (mean[:len(x)], logvar[:len(x)]), (mean[len(x):], logvar[len(x):])
        stats: dict[nn.Module, tuple[torch.Tensor, torch.Tensor]] = {}

        def record(norm, inputs, output):
            h = inputs[0].float()
            dims = [0, *range(2, h.dim())]  # all but the channels
            stats[norm] = (h.mean(dims), h.var(dims, unbiased=False))

        def reuse(norm, inputs, output):  # BatchNorm's formula with x's statistics (differentiable in them)
            h, (mean, var) = inputs[0], stats[norm]
            shape = (1, -1) + (1,) * (h.dim() - 2)
            y = (h - mean.view(shape)) * torch.rsqrt(var.view(shape) + norm.eps)
            if norm.affine:
                y = y * norm.weight.view(shape) + norm.bias.view(shape)
            return y.to(h.dtype)

        with hooked(norms, record):
            data = self.encode(x)
        with running_statistics(self.encoder), hooked(norms, reuse):  # eval: no running-statistics update
            pseudo = self.encode(self.pseudo_inputs.to(x.dtype))
        return data, pseudo


def soft_range(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """x inside [low, high]; beyond, the bound plus the log of how far: continuous, with a gradient
    that never vanishes (a clamp's is 0 outside), and finite whatever x does."""
    above = high + torch.log1p((x - high).clamp(min=0))
    below = low - torch.log1p((low - x).clamp(min=0))
    return torch.where(x > high, above, torch.where(x < low, below, x))


def mixture_log_density(z: torch.Tensor, means: torch.Tensor, logvars: torch.Tensor) -> torch.Tensor:
    """(...,) log (1/K) sum_k N(z; means_k, diag(exp(logvars_k))) of codes (..., d), for the K
    components (K, d); in chunks of rows, so that the (rows, K, d) differences stay small."""
    flat = z.reshape(-1, z.shape[-1])
    rows = max(1, MIXTURE_CHUNK // means.numel())
    parts = [torch.logsumexp(gaussian_log_density(flat[i:i + rows, None], means, logvars), dim=1)
             for i in range(0, len(flat), rows)]
    return (torch.cat(parts) - math.log(len(means))).view(z.shape[:-1])


@contextlib.contextmanager
def running_statistics(module: nn.Module):
    """Inside the block, the BatchNorm layers of `module` normalise with their running statistics
    and leave them unchanged (evaluation mode), whatever mode the module is in."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    for norm in norms:
        norm.eval()
    try:
        yield
    finally:
        for norm in norms:
            norm.train()


@contextlib.contextmanager
def hooked(modules: list[nn.Module], hook):
    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
