"""model.type 'vae' and 'beta_vae': the encoder gives a mean and a log-variance, z is sampled
with the reparameterisation z = mean + sigma * eps, and the loss is the negative ELBO

    loss = reconstruction_loss + beta * kl       (beta = 1: the VAE of Kingma & Welling)

The log-variance is bounded above, smoothly (`bounded_logvar`): a posterior wider than the prior
N(0, I) never helps the ELBO, but one early Adam step on a wide encoder head can move a raw
log-variance by tens (measured: 8 to 37 in one step on the shipped 172 emojis), and exp(37) in
the KL term and in z = mean + sigma * eps turned the loss into 1e11 and left BatchNorm's running
statistics ruined for the rest of a short run.
"""

from __future__ import annotations

from typing import ClassVar

import torch

import torch.nn.functional as F

from aelab.models.autoencoder import Autoencoder, ForwardOutput
from aelab.models.losses import LOG_2PI, gaussian_kl, kl_divergence, kl_per_dimension, reconstruction_loss, standard_normal_log_density

LOGVAR_MAX = 2.0  # posterior variance at most e^2 ~ 7.4 times the prior's


def bounded_logvar(raw: torch.Tensor) -> torch.Tensor:
    """raw below LOGVAR_MAX passes almost unchanged (within 0.13 at raw = 0, 0.02 at raw = -2);
    above it, the value flattens out at LOGVAR_MAX, its gradient fading but keeping its sign (Adam,
    which divides a step by the gradient's size, still moves a saturated unit back)."""
    return LOGVAR_MAX - F.softplus(LOGVAR_MAX - raw)


class VAE(Autoencoder):
    variational = True
    # Set by the trainer from training.kl_annealing and training.free_bits (train/schedules.py):
    # the KL weight of this step (None: model.beta) and the nats per latent dimension (batch-
    # averaged) the KL term leaves unpenalised (Kingma et al., 2016). `kl` always logs the true KL.
    kl_weight: float | None = None
    free_bits: float = 0.0
    anneals_kl = True  # its objective reads kl_weight and free_bits (a type whose own objective does not says False)
    # p(z) = N(0, I): the KL term has a closed form. A type whose prior is learned (vamp) says False;
    # its KL terms are then one-sample estimates log q(z|x) - log p(z), with p from log_prior.
    closed_form_kl: ClassVar[bool] = True
    # `posterior` and `draw_posterior` give draws of q(z|x) with their exact log-density, and
    # `log_prior` the density of p(z) at them: the importance-sampled NLL (evaluate/likelihood.py)
    # applies. A VAE's q is N(mean, exp(logvar)); svae's a von Mises-Fisher, gumbel_vae's a
    # categorical, a flow's a Gaussian pushed through its steps. A type without them says False.
    posterior_density: ClassVar[bool] = True
    encoder_head: ClassVar[str] = "mean and log-variance of q(z|x)"

    @property
    def kl_beta(self) -> float:
        """The KL term's weight once any annealing is over: model.beta (1 where a type has none)."""
        return 1.0 if self.config.beta is None else self.config.beta

    @classmethod
    def encoder_outputs(cls, latent_dim: int) -> int:
        return 2 * latent_dim  # [mean | log-variance]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        mean, raw = self.encoder(x).chunk(2, dim=1)
        return mean, bounded_logvar(raw)

    def forward(self, x: torch.Tensor, sample: bool = True,
                generator: torch.Generator | None = None) -> ForwardOutput:
        mean, logvar = self.encode(x)
        z = mean
        if sample:  # reparameterisation: gradients flow through mean and sigma
            eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            z = mean + torch.exp(0.5 * logvar) * eps
        return ForwardOutput(self.decoder(z), mean, logvar, z)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """q(z|x)'s parameters, per image (B, ...) each, as `draw_posterior` takes them: the likelihood
        bounds (evaluate/likelihood.py) encode once and draw many times. A VAE's: (mean, logvar)."""
        return self.encode(x)

    def draw_posterior(self, posterior: tuple[torch.Tensor, ...], samples: int,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(z (b, samples, latent_dim), log q(z|x) (b, samples)): draws from the posteriors that
        `posterior` gave for b images, with their exact log-densities."""
        mean, logvar = posterior
        eps = torch.randn((len(mean), samples, mean.shape[1]), generator=generator, device=mean.device)
        z = mean.unsqueeze(1) + torch.exp(0.5 * logvar).unsqueeze(1) * eps
        return z, -0.5 * (eps.square() + LOG_2PI + logvar.unsqueeze(1)).sum(-1)

    def posterior_kl(self, posterior: tuple[torch.Tensor, ...]) -> torch.Tensor | None:
        """(b,) KL(q(z|x) || p(z)) in closed form from `posterior`'s parameters, or None where it has
        none (closed_form_kl False): the likelihood bounds then estimate it from their draws."""
        if not self.closed_form_kl:
            return None
        return gaussian_kl(*posterior[:2])

    def loss_terms(self, out: ForwardOutput, target: torch.Tensor) -> dict[str, torch.Tensor]:
        recon = reconstruction_loss(self, out, target).mean()
        kl = self.kl(out).mean()
        penalised = kl if self.free_bits <= 0 else kl_per_dimension(out).clamp(min=self.free_bits).sum()
        beta = self.kl_beta if self.kl_weight is None else self.kl_weight
        return {"loss": recon + beta * penalised, "reconstruction_loss": recon, "kl": kl}

    def kl(self, out: ForwardOutput) -> torch.Tensor:
        """(B,) the ELBO's KL term of each image, KL(q(z|x) || p(z)): in closed form for N(0, I)."""
        return kl_divergence(out)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """(...,) log p(z) of codes (..., latent_dim) under the prior that `prior` draws from; the
        likelihood bounds of evaluate/likelihood.py weigh their importance samples with it."""
        return standard_normal_log_density(z)

    def prior(self, n: int, generator: torch.Generator | None = None,
              temperature: float = 1.0) -> torch.Tensor | None:
        return temperature * torch.randn((n, self.config.latent_dim), generator=generator)

    def prior_span(self) -> tuple[float, float] | None:
        return -3.0, 3.0


class BetaVAE(VAE):
    """The KL term weighted by model.beta (Higgins et al.): the same model, another objective
    weight; the config check gives it its default beta of 4."""
