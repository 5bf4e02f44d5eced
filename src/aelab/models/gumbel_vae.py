"""model.type 'gumbel_vae': the categorical VAE with the Gumbel-softmax relaxation (Jang, Gu &
Poole, 2017, "Categorical Reparameterization with Gumbel-Softmax"; Maddison, Mnih & Teh, 2017,
"The Concrete Distribution"). The code is N categorical variables of K categories each
(N = options.latent_variables, K = options.categories, latent_dim = N * K): the encoder gives
K logits per variable, and during training the decoder sees a relaxed one-hot sample of each,

    y = softmax((logits + g) / tau),   g ~ Gumbel(0, 1)        (B, N, K), flattened to (B, N * K)

    loss = reconstruction_loss + beta * kl,    kl = KL(q(c|x) || uniform) = sum_n sum_k q log q + N log K

the KL of the categorical posterior q = softmax(logits) against the uniform prior, exact. The
temperature tau anneals per optimizer step, tau = max(temperature_min, temperature * exp(-anneal_rate
* step)) (Jang et al. anneal the same way, every 1000 steps); the model counts its steps in a buffer
(`steps_taken`, saved with the weights) so `--resume` continues the schedule where it was.

The code the explore commands see is the posterior probabilities, flattened: (N * K) values, each
block of K summing to 1 (a latent map, the samplers and `transform` see these). Evaluation decodes
them as they are; the prior draws one-hot codes, a uniform category per variable. `decode`
projects any code onto the simplex of each block (negative parts dropped, each block renormalised),
so interpolations stay categorical mixtures and a traversal of axis (n, k) from the training codes'
median turns category k of variable n on. Logged: `kl`, `temperature` (the tau of the step).

The importance-sampled NLL (evaluate/likelihood.py) is that of the discrete model the relaxation
stands for, the one `generate` samples from: z is one one-hot category per variable, p(z) uniform
(log p(z) = -N log K), and the decoder reads the hard one-hot codes, as it reads the prior's samples
(not the relaxed Gumbel-softmax codes of training, nor the probabilities that reconstructions
decode). The draws are categories of q(c|x) = softmax(logits) (Gumbel-max with the run's
generator), each with its exact log q, the sum over the variables of the drawn categories' log-
probabilities; the ELBO beside it uses the exact KL above.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, model_validator

from aelab.errors import AelabError
from aelab.models.autoencoder import ForwardOutput, parse_options
from aelab.models.losses import reconstruction_loss
from aelab.models.vae import VAE


class GumbelVAEOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    categories: int = Field(10, ge=2, le=1024)  # K, the categories of each variable (Jang et al.'s MNIST: 10)
    # N, the categorical variables; None: latent_dim / categories (latent_dim must then be a multiple)
    latent_variables: Optional[int] = Field(None, ge=1, le=4096)
    temperature: float = Field(1.0, gt=0)  # tau at the first step (the paper's 1.0)
    temperature_min: float = Field(0.5, gt=0)  # tau never goes below it (the paper's 0.5)
    anneal_rate: float = Field(3e-5, ge=0)  # r per optimizer step: tau = max(min, tau0 * exp(-r * step)); 0: fixed

    @model_validator(mode="after")
    def _floor_below_start(self) -> "GumbelVAEOptions":
        if self.temperature_min > self.temperature:
            raise ValueError(f"temperature_min {self.temperature_min:g} is above temperature {self.temperature:g}, "
                             "where the annealing starts: lower temperature_min")
        return self


def gumbel_noise(like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Gumbel(0, 1) noise of `like`'s shape, dtype and device: -log(-log u), u ~ U(0, 1), clamped."""
    u = torch.rand(like.shape, generator=generator, device=like.device, dtype=like.dtype)
    return -torch.log((-torch.log(u.clamp_min(1e-10))).clamp_min(1e-10))


class GumbelVAE(VAE):
    encoder_head = "logits of q(c|x), categories per variable"
    Options = GumbelVAEOptions

    def __init__(self, config, input_shape, encoder, decoder):
        super().__init__(config, input_shape, encoder, decoder)
        self.categories = self.options.categories
        self.variables = config.latent_dim // self.categories
        self.register_buffer("steps_taken", torch.zeros((), dtype=torch.long))

    @classmethod
    def check_config(cls, config) -> None:
        cls.derived_latent_dim(config, None)

    @classmethod
    def derived_latent_dim(cls, config, input_shape) -> int | None:
        """latent_variables * categories when latent_variables is set; else latent_dim as given,
        which must then be a multiple of categories."""
        options = parse_options(cls, config)
        k, n = options.categories, options.latent_variables
        if n is None:
            if config.latent_dim % k:
                raise AelabError(f"model.latent_dim {config.latent_dim} is not a multiple of model.options.categories {k}: "
                                 f"the code is latent_variables blocks of {k}; set model.latent_dim to e.g. {2 * k} or "
                                 "model.options.latent_variables")
            return None
        if "latent_dim" in config.model_fields_set and config.latent_dim not in (n * k,):
            raise AelabError(f"model.latent_dim {config.latent_dim} contradicts model.options.latent_variables {n} x "
                             f"categories {k} = {n * k}; remove model.latent_dim (it is derived) or latent_variables")
        return n * k

    @classmethod
    def from_config(cls, config, input_shape, encoder=None, decoder=None):
        latent_dim = cls.derived_latent_dim(config, input_shape)  # a config that skipped complete_options
        if latent_dim is not None and latent_dim != config.latent_dim:
            config = config.model_copy(update={"latent_dim": latent_dim})
        return super().from_config(config, input_shape, encoder, decoder)

    @classmethod
    def encoder_outputs(cls, latent_dim: int) -> int:
        return latent_dim  # K logits per variable

    def temperature(self) -> torch.Tensor:
        """() tau of the next training step, from the step count alone (a tensor op, no sync)."""
        o = self.options
        return (o.temperature * torch.exp(-o.anneal_rate * self.steps_taken.double())).clamp(min=o.temperature_min)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).view(len(x), self.variables, self.categories)  # (B, N, K)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.logits(x).softmax(-1).flatten(1), None  # the posterior probabilities (B, N * K)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return super().decode(on_simplex(z.view(len(z), -1, self.categories)).flatten(1))

    def forward(self, x: torch.Tensor, sample: bool = True,
                generator: torch.Generator | None = None) -> ForwardOutput:
        logits = self.logits(x)
        probs = logits.softmax(-1)
        y = probs
        if sample:
            y = ((logits + gumbel_noise(logits, generator)) / self.temperature().to(logits.dtype)).softmax(-1)
        return ForwardOutput(self.decoder(y.flatten(1)), probs.flatten(1), None, y.flatten(1))

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        """(log q(c|x) (B, N, K),): the log-probabilities of each variable's categories."""
        return (self.logits(x).log_softmax(-1),)

    def draw_posterior(self, posterior: tuple[torch.Tensor, ...], samples: int,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(z (b, samples, N * K) one-hot per variable, log q(z|x) (b, samples)): categories drawn by
        Gumbel-max, argmax(log q + g) with g ~ Gumbel(0, 1), exactly q's categorical distribution."""
        (log_q,) = posterior
        b, n, k = log_q.shape
        repeated = log_q.unsqueeze(1).expand(b, samples, n, k)
        index = (repeated + gumbel_noise(repeated, generator)).argmax(-1, keepdim=True)  # (b, samples, N, 1)
        drawn = repeated.gather(-1, index).squeeze(-1).sum(-1)
        z = torch.zeros((b, samples, n, k), device=log_q.device, dtype=log_q.dtype).scatter_(-1, index, 1.0)
        return z.flatten(2), drawn

    def posterior_kl(self, posterior: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """(b,) KL(q(c|x) || uniform) = sum q log q + N log K, exact."""
        (log_q,) = posterior
        return (log_q.exp() * log_q).sum((1, 2)) + log_q.shape[1] * math.log(self.categories)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """Uniform categories: -N log K for any one-hot code (..., N * K)."""
        return torch.full(z.shape[:-1], -self.variables * math.log(self.categories), dtype=z.dtype, device=z.device)

    def kl(self, out: ForwardOutput) -> torch.Tensor:
        """(B,) KL(q(c|x) || uniform) from the posterior probabilities out.mean."""
        q = out.mean.view(len(out.mean), -1, self.categories)
        return (q * torch.log(q.clamp_min(1e-10))).sum((1, 2)) + q.shape[1] * math.log(self.categories)

    def loss_terms(self, out: ForwardOutput, target: torch.Tensor) -> dict[str, torch.Tensor]:
        recon = reconstruction_loss(self, out, target).mean()
        kl = self.kl(out).mean()
        beta = self.kl_beta if self.kl_weight is None else self.kl_weight
        penalised = kl.clamp(min=self.free_bits * self.config.latent_dim)  # free bits: on the total
        temperature = self.temperature().float()
        if self.training and torch.is_grad_enabled():  # a training step: the schedule moves on
            self.steps_taken += 1
        return {"loss": recon + beta * penalised, "reconstruction_loss": recon, "kl": kl, "temperature": temperature}

    def prior(self, n: int, generator: torch.Generator | None = None,
              temperature: float = 1.0) -> torch.Tensor | None:
        """One-hot codes, a uniform category per variable (temperature does not apply)."""
        index = torch.randint(self.categories, (n, self.variables), generator=generator)
        return F.one_hot(index, self.categories).float().flatten(1)

    @property
    def prior_description(self) -> str:
        return f"{self.variables} uniform categorical variables of {self.categories} categories, one-hot"

    def prior_span(self) -> tuple[float, float] | None:
        return None  # traversals start at the training codes' median, over each axis's training range


def on_simplex(blocks: torch.Tensor) -> torch.Tensor:
    """(B, N, K) each block's negative parts dropped and the rest scaled to sum 1 (all 0: uniform)."""
    p = blocks.clamp(min=0)
    total = p.sum(-1, keepdim=True)
    return torch.where(total > 0, p / total.clamp_min(1e-12), torch.full_like(p, 1.0 / p.shape[-1]))
