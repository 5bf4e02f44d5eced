"""model.type 'iwae': the importance-weighted autoencoder (Burda, Grosse & Salakhutdinov, 2016).
The same networks as a VAE, trained on a tighter bound: K draws z_k ~ q(z|x) per image, weights
w_k = p(x|z_k) p(z_k) / q(z_k|x),

    iwae_bound = log (1/K) sum_k w_k           loss = -iwae_bound    (K = 1: the VAE's ELBO)

A tighter bound trains the decoder better but gives the encoder's gradient a worse signal-to-noise
ratio as K grows (Rainforth, Kosiorek, Le, Maddison, Igl, Wood & Teh, 2018, "Tighter Variational
Bounds are Not Necessarily Better"). Their three remedies are `options.variant`s, drawing M x K
codes per image (M = options.groups, K = options.samples):

    miwae: miwae_bound = (1/M) sum_m log (1/K) sum_k w_mk     the mean of M K-sample bounds
    ciwae: ciwae_bound = beta * elbo + (1 - beta) * iwae_bound, elbo = (1/K) sum_k log w_k (M = 1)
    piwae: the decoder climbs the IWAE bound of all M x K draws, the encoder the MIWAE(M, K) bound:
           two targets for two parameter sets, from the same draws, in one optimizer step

`iwae_bound` is always logged, over all the draws (M x K); `reconstruction_loss` and `kl` (the
closed form, first draw) beside it to compare with a VAE; they are not what is minimised. The
log-densities leave out the likelihood's constant, as the VAE's loss does. MIWAE with M = 1 is the
IWAE; CIWAE with beta = 0 too, and with beta = 1 the VAE's K-sample ELBO.

PIWAE's two targets: the decoder's bound is computed from the draws detached (its gradient reaches
only the decoder), the encoder's from a second decoder pass with the decoder's parameters detached
(`torch.func.functional_call`; BatchNorm's running statistics move in the first pass only): two
decoder passes per training step, one in validation. The `loss` logged is -iwae_bound, the
decoder's target; its gradient is the sum of the two targets' on their disjoint parameters.
"""

from __future__ import annotations

import math
from typing import Literal, Optional

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from aelab.models.autoencoder import ForwardOutput
from aelab.models.losses import LOG_2PI, kl_divergence, reconstruction_loss
from aelab.models.vae import VAE
from aelab.vocabulary import IWAE_VARIANTS

GROUPED = ("miwae", "piwae")  # the variants that average M groups of K draws


class IWAEOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # the bound trained on: iwae, or Rainforth et al.'s miwae (mean of M bounds), ciwae (mixed with the
    # ELBO), piwae (IWAE for the decoder, MIWAE for the encoder)
    variant: Literal[IWAE_VARIANTS] = "iwae"  # type: ignore[valid-type]
    samples: int = Field(5, ge=1, le=1000)  # K, importance samples per bound
    groups: int = Field(1, ge=1, le=1000)  # M, the K-sample bounds miwae and piwae average (M x K draws)
    beta: Optional[float] = Field(None, ge=0, le=1)  # ciwae: the ELBO's share of the bound [0.5]

    @model_validator(mode="after")
    def _options_of_the_variant(self) -> "IWAEOptions":
        if self.groups > 1 and self.variant not in GROUPED:
            raise ValueError(f"groups {self.groups}: only the variants {' and '.join(GROUPED)} average groups of "
                             f"bounds; set variant to one of them, or remove groups for '{self.variant}'")
        if self.beta is not None and self.variant != "ciwae":
            raise ValueError(f"beta mixes the ELBO into the bound of variant 'ciwae'; remove it for '{self.variant}'")
        if self.variant == "ciwae" and self.beta is None:
            self.beta = 0.5
        return self

    @property
    def draws(self) -> int:
        return self.groups * self.samples


class IWAE(VAE):
    anneals_kl = False  # its bound has no separate KL term to weigh
    Options = IWAEOptions

    def objective(self, x: torch.Tensor, generator: torch.Generator | None = None,
                  labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        o = self.options
        mean, logvar = self.encode(self.corrupt(x, generator))
        eps = torch.randn((o.draws, *mean.shape), generator=generator, device=mean.device, dtype=mean.dtype)
        z = mean + torch.exp(0.5 * logvar) * eps  # (M*K, B, d): all draws decoded in one batch
        log_pz = -0.5 * (z.square() + LOG_2PI).sum(-1)
        log_qz = -0.5 * (eps.square() + LOG_2PI + logvar).sum(-1)
        target = x.expand(o.draws, *x.shape).flatten(0, 1)
        piwae = o.variant == "piwae" and torch.is_grad_enabled()
        logits = self.decoder((z.detach() if piwae else z).flatten(0, 1))  # piwae: the decoder's own target
        recon = reconstruction_loss(self, ForwardOutput(logits, None, None, None), target).view(o.draws, -1)
        log_w = -recon + log_pz - log_qz  # (M*K, B)
        iwae = log_mean_exp(log_w, 0)  # (B,) over all draws
        terms = {"loss": -iwae.mean(), "iwae_bound": iwae.mean(), "reconstruction_loss": recon.mean(),
                 "kl": kl_divergence(ForwardOutput(logits, mean, logvar, z[0])).mean()}
        if o.variant in GROUPED:
            terms["miwae_bound"] = miwae_bound(log_w, o.groups).mean()
        if o.variant == "miwae":
            terms["loss"] = -terms["miwae_bound"]
        elif o.variant == "ciwae":
            elbo = log_w.mean(0)
            terms["ciwae_bound"] = (o.beta * elbo + (1 - o.beta) * iwae).mean()
            terms["elbo"] = elbo.mean()
            terms["loss"] = -terms["ciwae_bound"]
        elif piwae:
            terms.update(self.piwae_loss(z, log_pz - log_qz, recon, target))
        return self.adversarial(terms, ForwardOutput(logits, mean, logvar, z), target)  # all draws

    def piwae_loss(self, z: torch.Tensor, log_prior_ratio: torch.Tensor, recon: torch.Tensor,
                   target: torch.Tensor) -> dict[str, torch.Tensor]:
        """`loss` with the IWAE bound's gradient for the decoder and the MIWAE bound's for the encoder,
        its value -iwae_bound; recon (M*K, B) was decoded from the draws z (M*K, B, d) held fixed."""
        o = self.options
        decoder_bound = log_mean_exp(-recon + log_prior_ratio.detach(), 0).mean()  # reaches the decoder only
        # the encoder's target: the decoder's parameters held fixed, its buffers copies (BatchNorm's
        # running statistics move once per step, in the decoder's own pass)
        frozen = {name: p.detach() for name, p in self.decoder.named_parameters()}
        frozen.update({name: b.clone() for name, b in self.decoder.named_buffers()})
        logits = torch.func.functional_call(self.decoder, frozen, (z.flatten(0, 1),))
        encoder_recon = reconstruction_loss(self, ForwardOutput(logits, None, None, None), target).view(o.draws, -1)
        encoder_bound = miwae_bound(-encoder_recon + log_prior_ratio, o.groups).mean()  # reaches the encoder only
        return {"loss": -decoder_bound - encoder_bound + encoder_bound.detach()}  # the value: -iwae_bound


def log_mean_exp(t: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.logsumexp(t, dim) - math.log(t.shape[dim])


def miwae_bound(log_w: torch.Tensor, groups: int) -> torch.Tensor:
    """(B,) the mean over M groups of the K-sample bounds of log weights (M*K, B), group-major."""
    return log_mean_exp(log_w.view(groups, -1, log_w.shape[-1]), 1).mean(0)
