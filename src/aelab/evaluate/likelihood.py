"""Importance-sampled negative log-likelihood of a VAE (the IWAE bound of Burda et al., 2016).

    log p(x) >= log (1/K) sum_k p(x | z_k) p(z_k) / q(z_k | x),   z_k ~ q(z | x)

K = 1 is a one-sample ELBO; the bound tightens as K grows. The decoder's likelihood follows the
model's reconstruction loss, as a normalised density over the pixels:
- bce: Bernoulli, log p(x|z) = -BCE (exact for binary data);
- mse: Gaussian with variance 1/2, log p(x|z) = -sum (x - x_hat)^2 - D/2 log(pi);
- l1:  Laplace with scale 1,     log p(x|z) = -sum |x - x_hat| - D log(2).
The draws for all K are decoded in a few large batches (images x samples), never one by one.
"""

from __future__ import annotations

import math

import torch

from aelab.data.dataset import to_float
from aelab.errors import AelabError
from aelab.models.autoencoder import Autoencoder, ForwardOutput
from aelab.models.losses import kl_divergence, reconstruction_loss

LOG_2PI = math.log(2 * math.pi)


def log_likelihood_constant(model: Autoencoder) -> float:
    """What turns -reconstruction_loss into a normalised log-density of the image."""
    pixels = math.prod(model.input_shape)
    kind = model.config.reconstruction_loss
    return {"bce": 0.0, "mse": -0.5 * pixels * math.log(math.pi), "l1": -pixels * math.log(2.0)}[kind]


def _check(model: Autoencoder) -> None:
    if not model.variational:
        raise AelabError(f"a likelihood bound needs a VAE (its encoder gives q(z|x)); this model is a "
                         f"'{model.config.type}'")


@torch.no_grad()
def iwae_bound(model: Autoencoder, data: torch.Tensor, samples: int, seed: int,
               batch_size: int = 256, max_rows: int = 16384) -> torch.Tensor:
    """(N,) per-image lower bounds on log p(x), in nats, with `samples` importance samples each."""
    _check(model)
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=data.device).manual_seed(seed)
    constant = log_likelihood_constant(model)
    chunk = max(1, min(samples, max_rows // batch_size))  # samples decoded per pass
    bounds = []
    for start in range(0, len(data), batch_size):
        x = to_float(data[start:start + batch_size])
        mean, logvar = model.encode(x)
        std = torch.exp(0.5 * logvar)
        log_weights = []
        for done in range(0, samples, chunk):
            k = min(chunk, samples - done)
            eps = torch.randn((k, *mean.shape), generator=generator, device=x.device)  # (k, B, d)
            z = mean + std * eps
            logits = model.decoder(z.flatten(0, 1))  # (k * B, C, H, W)
            target = x.expand(k, *x.shape).flatten(0, 1)
            out = ForwardOutput(logits, z.flatten(0, 1), None, z.flatten(0, 1))
            log_px = -reconstruction_loss(model, out, target).view(k, -1) + constant
            log_pz = -0.5 * (z.square() + LOG_2PI).sum(-1)
            log_qz = -0.5 * (eps.square() + LOG_2PI + logvar).sum(-1)
            log_weights.append(log_px + log_pz - log_qz)  # (k, B)
        w = torch.cat(log_weights)
        bounds.append(torch.logsumexp(w, 0) - math.log(samples))
    model.train(was_training)
    return torch.cat(bounds)


@torch.no_grad()
def elbo(model: Autoencoder, data: torch.Tensor, seed: int, batch_size: int = 1024) -> torch.Tensor:
    """(N,) per-image ELBO in the same units as `iwae_bound` (closed-form KL, one draw of z)."""
    _check(model)
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=data.device).manual_seed(seed)
    constant = log_likelihood_constant(model)
    parts = []
    for start in range(0, len(data), batch_size):
        x = to_float(data[start:start + batch_size])
        out = model(x, generator=generator)
        parts.append(-reconstruction_loss(model, out, x) + constant - kl_divergence(out))
    model.train(was_training)
    return torch.cat(parts)


def nll_metrics(model: Autoencoder, data: torch.Tensor, samples: int, seed: int) -> dict[str, float]:
    """`nll`: the IWAE estimate of -log p(x) per image; `elbo` beside it for comparison."""
    bound = iwae_bound(model, data, samples, seed)
    return {"nll": -float(bound.mean()), "nll_samples": samples, "elbo": float(elbo(model, data, seed).mean())}
