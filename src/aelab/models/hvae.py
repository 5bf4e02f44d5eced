"""model.type 'hvae': a two-level hierarchical VAE, the ladder VAE of Sønderby, Raiko, Maaløe,
Sønderby & Winther (2016, "Ladder Variational Autoencoders") with two stochastic layers, kept
small for a CPU. The generative model goes top-down,

    z2 ~ N(0, I)    z1 ~ p(z1 | z2) = N(mu_p(z2), sigma_p(z2)^2)    x ~ p(x | z1)

with p(z1 | z2) a small MLP (the top-down cell, `options.hidden` units) and p(x | z1) the config's
decoder. Inference follows the ladder: the encoder gives, bottom-up, q(z2 | x) and an estimate
N(mu_hat, sigma_hat^2) of z1; q(z1 | x, z2) merges that estimate with the top-down prior by
precision weighting, 1/sigma_q^2 = 1/sigma_hat^2 + 1/sigma_p^2 (both levels' bottom-up
parameters come from the encoder's last layer: a two-level ladder on one encoder network).

    loss = reconstruction_loss + beta * (kl_top + kl_bottom)

    kl_top    = KL(q(z2 | x) || N(0, I))                      closed form
    kl_bottom = KL(q(z1 | x, z2) || p(z1 | z2))               closed form given the drawn z2

The code the explore commands see is both levels, [z2 | e1] (latent_dim = top_dim + the rest),
where e1 = (z1 - mu_p(z2)) / sigma_p(z2) is z1 standardised by its prior given z2 (the
"non-centred" form of the bottom level): the prior over the whole code is then N(0, I), drawn
in one go and decoded top-down (the decoder module computes z1 from z2 and e1, then x), and the
KL in these coordinates is the same number as kl_top + kl_bottom. So everything a VAE's code
does works unchanged: the first top_dim axes change what z1's prior is (the image's overall
form), the other axes move z1 within it (details); traversals span -3..3; the importance-sampled
NLL draws from the posterior in these coordinates at z2's mean (a valid proposal, so a valid
bound, looser than the model's own two-step posterior). KL annealing and free bits act as on a
VAE's (free bits per value of the code). Logged: `kl_top`, `kl_bottom`, `kl` (their sum).
"""

from __future__ import annotations

from typing import Optional

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from aelab.errors import AelabError
from aelab.models.autoencoder import ForwardOutput, parse_options
from aelab.models.losses import kl_divergence
from aelab.models.networks import build_networks
from aelab.models.vae import bounded_logvar, VAE
from aelab.models.vamp import soft_range

PRIOR_LOGVAR_RANGE = (-6.0, 2.0)  # sigma_p from 0.05 to 2.7: e1 = (z1 - mu_p) / sigma_p stays finite


class HVAEOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    top_dim: Optional[int] = Field(None, ge=1)  # values of z2; None: half the code (latent_dim // 2)
    hidden: int = Field(64, ge=1, le=4096)  # units of the top-down cell p(z1 | z2)


class TopDown(nn.Module):
    """The decoder of the whole code: [z2 | e1] (B, top + bottom) -> z1 -> image logits."""

    def __init__(self, top: int, bottom: int, hidden: int, decoder: nn.Module):
        super().__init__()
        self.top = top
        self.cell = nn.Sequential(nn.Linear(top, hidden), nn.ELU(), nn.Linear(hidden, 2 * bottom))
        self.decoder = decoder  # z1 (B, bottom) -> image logits

    def prior(self, z2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu_p, logvar_p), each (B, bottom), of p(z1 | z2)."""
        mean, raw = self.cell(z2).chunk(2, dim=1)
        return mean, soft_range(raw, *PRIOR_LOGVAR_RANGE)

    def bottom(self, code: torch.Tensor) -> torch.Tensor:
        """z1 (B, bottom) of codes [z2 | e1]."""
        mean, logvar = self.prior(code[:, :self.top])
        return mean + torch.exp(0.5 * logvar) * code[:, self.top:]

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.bottom(code))


class HVAE(VAE):
    Options = HVAEOptions
    encoder_head = "mean and log-variance of q(z2|x) and of the bottom-up estimate of z1"

    @classmethod
    def levels(cls, config) -> tuple[int, int]:
        """(top_dim, bottom_dim) of a config: the sizes of z2 and z1."""
        options = parse_options(cls, config)
        top = config.latent_dim // 2 if options.top_dim is None else options.top_dim
        if config.latent_dim < 2 or not 1 <= top < config.latent_dim:
            raise AelabError(f"model.options.top_dim {top} must leave z1 at least one of model.latent_dim "
                             f"{config.latent_dim} values (an 'hvae' needs latent_dim >= 2: z2 and z1)")
        return top, config.latent_dim - top

    @classmethod
    def check_config(cls, config) -> None:
        cls.levels(config)
        if config.latent_channels is not None:
            raise AelabError("model.latent_channels: an 'hvae' codes in two dense levels, not a grid; remove it")

    @classmethod
    def from_config(cls, config, input_shape, encoder=None, decoder=None):
        cls.check_config(config)
        top, bottom = cls.levels(config)
        # the config's decoder maps z1; the encoder gives both levels' bottom-up parameters
        built_encoder, built_decoder = build_networks(
            config.model_copy(update={"latent_dim": bottom}), tuple(input_shape), 2 * config.latent_dim,
            need_encoder=encoder is None, need_decoder=decoder is None)
        decoder = TopDown(top, bottom, parse_options(cls, config).hidden, built_decoder if decoder is None else decoder)
        return cls(config, input_shape, built_encoder if encoder is None else encoder, decoder)

    def __init__(self, config, input_shape, encoder, decoder):
        super().__init__(config, input_shape, encoder, decoder)
        self.top = self.levels(config)[0]

    def infer(self, x: torch.Tensor, sample: bool, generator: torch.Generator | None):
        """(mean, logvar, code) of the whole code [z2 | e1], each (B, latent_dim), and z1 (B, bottom):
        z2 drawn from q(z2|x), then z1 from q(z1|x, z2) (or their means when not `sample`). Not
        named `posterior`: VAE.posterior(x), the likelihood bounds' q(z|x), is inherited as it is."""
        t = self.top
        h = self.encoder(x)
        mean2, logvar2 = h[:, :t], bounded_logvar(h[:, t:2 * t])
        mean_up, logvar_up = h[:, 2 * t:].chunk(2, dim=1)  # the bottom-up estimate of z1
        logvar_up = bounded_logvar(logvar_up)
        z2 = mean2 + torch.exp(0.5 * logvar2) * self.noise(mean2, generator) if sample else mean2
        mean_p, logvar_p = self.decoder.prior(z2)
        logvar1 = -torch.logaddexp(-logvar_up, -logvar_p)  # precisions add
        mean1 = mean_up * torch.exp(logvar1 - logvar_up) + mean_p * torch.exp(logvar1 - logvar_p)
        z1 = mean1 + torch.exp(0.5 * logvar1) * self.noise(mean1, generator) if sample else mean1
        inv_std_p = torch.exp(-0.5 * logvar_p)  # standardise by the prior p(z1 | z2)
        mean = torch.cat([mean2, (mean1 - mean_p) * inv_std_p], 1)
        logvar = torch.cat([logvar2, logvar1 - logvar_p], 1)
        return mean, logvar, torch.cat([z2, (z1 - mean_p) * inv_std_p], 1), z1

    @staticmethod
    def noise(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        mean, logvar, _, _ = self.infer(x, False, None)
        return mean, logvar

    def forward(self, x: torch.Tensor, sample: bool = True,
                generator: torch.Generator | None = None) -> ForwardOutput:
        mean, logvar, code, z1 = self.infer(x, sample, generator)
        return ForwardOutput(self.decoder.decoder(z1), mean, logvar, code)

    def loss_terms(self, out: ForwardOutput, target: torch.Tensor) -> dict[str, torch.Tensor]:
        terms = super().loss_terms(out, target)  # loss = recon + beta * kl (free bits per value)
        t = self.top
        kl_top = kl_divergence(ForwardOutput(out.logits, out.mean[:, :t], out.logvar[:, :t], out.z[:, :t])).mean()
        return {**terms, "kl_top": kl_top, "kl_bottom": terms["kl"] - kl_top}

    @property
    def prior_description(self) -> str:
        return (f"N(0, I) over [z2 | e1], drawn top-down: z2 ({self.top} values), then z1 = mu_p(z2) + "
                f"sigma_p(z2) * e1 ({self.config.latent_dim - self.top} values)")
