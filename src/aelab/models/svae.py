"""model.type 'svae': the hyperspherical VAE (Davidson, Falorsi, De Cao, Kipf & Tomczak, 2018,
"Hyperspherical Variational Auto-Encoders"). The code lives on the unit sphere S^{d-1} of
R^d (d = model.latent_dim, at least 2: a circle); the posterior is a von Mises-Fisher
distribution vMF(mu, kappa) around a direction mu with concentration kappa, the prior the uniform
distribution on the sphere, and the KL between them has a closed form with Bessel functions:

    loss = reconstruction_loss + beta * kl

    kl = kappa * I_{d/2}(kappa) / I_{d/2-1}(kappa) + log C_d(kappa) + log |S^{d-1}|
    log C_d(kappa) = (d/2 - 1) log kappa - (d/2) log 2pi - log I_{d/2-1}(kappa)
    |S^{d-1}| = 2 pi^{d/2} / Gamma(d/2)                    the sphere's area

log I_v(kappa) comes from scipy's exponentially scaled Bessel function (ive), with its derivative
I_{v+1}/I_v + v/kappa written out for autograd (`log_bessel`), in float64.

Sampling (Wood, 1994): the cosine w = <z, mu> is drawn by rejection, with proposals
w = (1 - (1 + b) eps) / (1 - (1 - b) eps), eps ~ Beta((d-1)/2, (d-1)/2) (drawn as a ratio of
chi-squares, from the run's generator); z = [w, sqrt(1 - w^2) v] with v uniform on S^{d-2}, then
reflected so that e_1 goes to mu (a Householder reflection). Reparameterisation: the accepted eps
is held fixed and w is differentiated through b(kappa), the "g_rep" part of the rejection
sampler's gradient (Naesseth et al. 2017); its correction term, which the paper's reference code
also leaves out, is not estimated. mu gets its gradient through the reflection.

The code the explore commands see is the posterior direction mu, a unit vector. `decode` projects
any code onto the sphere first, so that an interpolation between two codes follows the great
circle between them and a traversal moves one coordinate and walks on the sphere (from the
training codes' median, over each axis's range in the training codes: the uniform prior has no
centre to start from). The importance-sampled NLL (evaluate/likelihood.py) draws z from the vMF
with Wood's sampler and weighs each draw with its exact density, log q(z|x) = kappa <mu, z> + log
C_d(kappa), against the uniform prior's log p(z) = -log |S^{d-1}|; its ELBO uses the closed-form KL.
Logged: `kl`, `kappa` (the batch mean concentration).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import ive

from aelab.errors import AelabError
from aelab.models.autoencoder import ForwardOutput
from aelab.models.losses import reconstruction_loss
from aelab.models.vae import VAE

PROPOSALS = 4  # Wood's proposals drawn per row and round
MAX_SPHERE_DIM = 256  # I_{d/2-1}(1) underflows float64 near d = 300


class LogBessel(torch.autograd.Function):
    """log I_v(kappa) of a (B,) tensor kappa > 0, for a fixed order v >= 0."""

    @staticmethod
    def forward(ctx, kappa: torch.Tensor, v: float) -> torch.Tensor:
        k = kappa.detach().cpu().double().numpy()
        scaled = ive(v, k)  # I_v(k) e^{-k}: finite for any k
        ctx.save_for_backward(kappa)
        ctx.ratio = torch.from_numpy(ive(v + 1, k) / scaled).to(kappa)  # I_{v+1} / I_v
        ctx.v = v
        return torch.from_numpy(np.log(scaled) + k).to(kappa)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (kappa,) = ctx.saved_tensors
        return grad * (ctx.ratio + ctx.v / kappa), None  # d/dk log I_v(k) = I_{v+1}/I_v + v/k


def log_bessel(v: float, kappa: torch.Tensor) -> torch.Tensor:
    return LogBessel.apply(kappa, v)


def log_sphere_area(d: int) -> float:
    """log |S^{d-1}| = log(2 pi^{d/2} / Gamma(d/2)), the area of the unit sphere in R^d."""
    return math.log(2) + (d / 2) * math.log(math.pi) - math.lgamma(d / 2)


def vmf_log_normaliser(kappa: torch.Tensor, d: int) -> torch.Tensor:
    """(B,) log C_d(kappa) = (d/2 - 1) log kappa - (d/2) log 2pi - log I_{d/2-1}(kappa), in float64:
    the vMF's density on S^{d-1} is C_d(kappa) exp(kappa <mu, z>)."""
    k = kappa.double()
    return (d / 2 - 1) * torch.log(k) - (d / 2) * math.log(2 * math.pi) - log_bessel(d / 2 - 1, k)


def vmf_uniform_kl(kappa: torch.Tensor, d: int) -> torch.Tensor:
    """(B,) KL(vMF(mu, kappa) || uniform on S^{d-1}) of concentrations kappa (B,); independent of mu."""
    k = kappa.double()
    mean_cosine = torch.exp(log_bessel(d / 2, k) - log_bessel(d / 2 - 1, k))  # E[<z, mu>] = I_{d/2} / I_{d/2-1}
    return (k * mean_cosine + vmf_log_normaliser(k, d) + log_sphere_area(d)).to(kappa.dtype)


def vmf_sample(mu: torch.Tensor, kappa: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, d) one draw of vMF(mu, kappa) for unit directions mu (B, d) and kappa (B,), reparameterised."""
    return vmf_sample_with_cosine(mu, kappa, generator)[0]


def vmf_sample_with_cosine(mu: torch.Tensor, kappa: torch.Tensor,
                           generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(z (B, d), w = <mu, z> (B,) in float64): the cosine as drawn, which the reflection keeps, so
    that kappa * w in a log-density does not suffer z's rounding."""
    w = sample_cosine(kappa.double(), mu.shape[1], generator)  # (B,)
    v = F.normalize(torch.randn((len(mu), mu.shape[1] - 1), generator=generator, device=mu.device,
                                dtype=torch.float64), dim=1)  # (B, d-1) uniform on S^{d-2}
    around_e1 = torch.cat([w[:, None], torch.sqrt((1 - w.square()).clamp_min(0))[:, None] * v], 1)
    return householder(around_e1, mu.double()).to(mu.dtype), w


def vmf_log_density(z: torch.Tensor, mu: torch.Tensor, kappa: torch.Tensor) -> torch.Tensor:
    """(B,) log vMF(z; mu, kappa) of unit vectors z (B, d), in float64."""
    return kappa.double() * (z.double() * mu.double()).sum(-1) + vmf_log_normaliser(kappa, mu.shape[-1])


def sample_cosine(kappa: torch.Tensor, d: int, generator: torch.Generator | None) -> torch.Tensor:
    """(B,) w = <z, mu> by Wood's rejection sampler: all rows at once, again for those rejected."""
    m = d - 1
    root = torch.sqrt(4 * kappa.square() + m * m)
    b = m / (2 * kappa + root)  # = (-2 kappa + root) / m, without the cancellation at large kappa
    a = (m + 2 * kappa + root) / 4
    offset = 4 * a * b / (1 + b) - m * math.log(m)
    eps = torch.empty_like(kappa)
    todo = torch.ones_like(kappa, dtype=torch.bool)
    while todo.any():  # PROPOSALS per row at a time: most rows accept in the first round
        rows = todo.nonzero().squeeze(1)
        kw = dict(generator=generator, device=kappa.device, dtype=kappa.dtype)
        shape = (len(rows), PROPOSALS, m)
        chi_a, chi_b = torch.randn(shape, **kw).square().sum(2), torch.randn(shape, **kw).square().sum(2)
        proposal = chi_a / (chi_a + chi_b)  # (R, PROPOSALS) ~ Beta(m/2, m/2)
        u = torch.rand((len(rows), PROPOSALS), **kw)
        ab, b_rows = (2 * a * b)[rows, None], b[rows, None]
        t = ab / (1 - (1 - b_rows) * proposal)
        accept = m * torch.log(t) - t + offset[rows, None] >= torch.log(u)  # (R, PROPOSALS)
        first = accept.int().argmax(1)  # the first accepted proposal of each row
        done = accept.any(1)
        eps[rows[done]] = proposal[done, first[done]]
        todo[rows[done]] = False
    return (1 - (1 + b) * eps) / (1 - (1 - b) * eps)  # eps fixed: the gradient reaches kappa through b


def householder(x: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
    """(B, d) x reflected by the Householder reflection that takes e_1 to mu."""
    e1 = torch.zeros_like(mu)
    e1[:, 0] = 1
    u = F.normalize(e1 - mu, dim=1, eps=1e-12)
    return x - 2 * (x * u).sum(1, keepdim=True) * u


class SVAE(VAE):
    encoder_head = "direction and concentration of the vMF q(z|x)"

    def __init__(self, config, input_shape, encoder, decoder):
        self.check_config(config)
        super().__init__(config, input_shape, encoder, decoder)

    @classmethod
    def check_config(cls, config) -> None:
        if not 2 <= config.latent_dim <= MAX_SPHERE_DIM:
            raise AelabError(f"model.latent_dim {config.latent_dim}: an 'svae' codes on the sphere S^(d-1) in R^d; "
                             f"use 2 (a circle) to {MAX_SPHERE_DIM}")

    @classmethod
    def encoder_outputs(cls, latent_dim: int) -> int:
        return latent_dim + 1  # [direction | concentration]

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu (B, d) unit directions, kappa (B,) >= 1) of q(z|x)."""
        h = self.encoder(x)
        return F.normalize(h[:, :-1], dim=1), F.softplus(h[:, -1]) + 1

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.posterior(x)[0], None

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return super().decode(F.normalize(z, dim=1, eps=1e-12))

    def forward(self, x: torch.Tensor, sample: bool = True,
                generator: torch.Generator | None = None) -> ForwardOutput:
        mu, kappa = self.posterior(x)
        z = vmf_sample(mu, kappa, generator) if sample else mu
        # the logvar slot holds -log kappa (B, 1): for a large kappa the variance per direction is ~1/kappa
        return ForwardOutput(self.decoder(z), mu, -torch.log(kappa)[:, None], z)

    def draw_posterior(self, posterior: tuple[torch.Tensor, ...], samples: int,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(z (b, samples, d) on the sphere, log q(z|x) (b, samples)): Wood's draws of each image's vMF."""
        mu, kappa = posterior
        b, d = mu.shape
        mu_rows, kappa_rows = mu.repeat_interleave(samples, 0), kappa.repeat_interleave(samples, 0)
        z, w = vmf_sample_with_cosine(mu_rows, kappa_rows, generator)
        log_q = kappa_rows.double() * w + vmf_log_normaliser(kappa_rows, d)
        return z.view(b, samples, d), log_q.view(b, samples).to(mu.dtype)

    def posterior_kl(self, posterior: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return vmf_uniform_kl(posterior[1], self.config.latent_dim)

    def kl(self, out: ForwardOutput) -> torch.Tensor:
        return vmf_uniform_kl(torch.exp(-out.logvar[:, 0]), self.config.latent_dim)

    def loss_terms(self, out: ForwardOutput, target: torch.Tensor) -> dict[str, torch.Tensor]:
        recon = reconstruction_loss(self, out, target).mean()
        kl = self.kl(out).mean()
        beta = self.kl_beta if self.kl_weight is None else self.kl_weight
        penalised = kl.clamp(min=self.free_bits * self.config.latent_dim)  # free bits: on the total
        return {"loss": recon + beta * penalised, "reconstruction_loss": recon, "kl": kl,
                "kappa": torch.exp(-out.logvar).mean()}

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """Uniform on the sphere: -log |S^{d-1}| = log Gamma(d/2) - log 2 - (d/2) log pi everywhere on it."""
        return torch.full(z.shape[:-1], -log_sphere_area(self.config.latent_dim), dtype=z.dtype, device=z.device)

    def prior(self, n: int, generator: torch.Generator | None = None,
              temperature: float = 1.0) -> torch.Tensor | None:
        """Uniform on the sphere (temperature does not apply: the uniform has no scale)."""
        return F.normalize(torch.randn((n, self.config.latent_dim), generator=generator), dim=1)

    @property
    def prior_description(self) -> str:
        return f"the uniform distribution on the sphere S^{self.config.latent_dim - 1}"

    def prior_span(self) -> tuple[float, float] | None:
        return None  # no centre on a sphere: traversals start at the training codes' median
