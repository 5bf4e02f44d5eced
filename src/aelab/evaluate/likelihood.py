"""Importance-sampled negative log-likelihood of a VAE (the IWAE bound of Burda et al., 2016).

    log p(x) >= log (1/K) sum_k p(x | z_k) p(z_k) / q(z_k | x),   z_k ~ q(z | x)

K = 1 is a one-sample ELBO; the bound tightens as K grows. p(z) is the model's own prior
(`model.log_prior`: N(0, I), a learned one such as the VampPrior, the uniform distribution on an svae's
sphere, uniform categories for a gumbel_vae), and q(z|x) the model's posterior with its exact density
(`model.draw_posterior`: a diagonal Gaussian, one pushed through a flow, a von Mises-Fisher, one
category per variable). The same K draws also give the ELBO (the mean of log p(x|z_k) minus the
closed-form KL, `model.posterior_kl`; with a learned prior, which has no closed form, the mean of
log p(x|z_k) p(z_k) / q(z_k|x)), so one pass yields both. The decoder's
likelihood follows the model's reconstruction loss, as a normalised density over the pixels:
- bce: Bernoulli, log p(x|z) = -BCE (exact for binary data);
- mse: Gaussian with variance 1/2, log p(x|z) = -sum (x - x_hat)^2 - D/2 log(pi);
- l1:  Laplace with scale 1,     log p(x|z) = -sum |x - x_hat| - D log(2).

Speed (bench/nll.py, BENCHMARKS.md): draws of several images are decoded together in chunks of
about `max_rows` rows, small enough that the logits stay in cache; for BCE, -BCE = x.l -
softplus(l) summed over pixels, where x.l is one batched matrix product and softplus one pass
(no broadcast copy of the target, no per-pixel loss tensor). On hardware with native bf16 the
decoder runs in bf16 (a bf16 copy of it); the log-densities are summed in fp32 (measured against fp32:
see BENCHMARKS.md). `precision="fp32"` gives the exact fp32 numbers.
"""

from __future__ import annotations

import copy
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from aelab.data.dataset import to_float
from aelab.errors import AelabError
from aelab.models.autoencoder import Autoencoder
from aelab.models.losses import reconstruction_loss
from aelab.train.speed import intra_op_threads, native_bf16

LOG_2PI = math.log(2 * math.pi)
LIKELIHOODS = ("bce", "mse", "l1")  # the reconstruction losses that are a decoder's -log p(x|z)


def log_likelihood_constant(model: Autoencoder) -> float:
    """What turns -reconstruction_loss into a normalised log-density of the image."""
    pixels = math.prod(model.input_shape)
    kind = model.config.reconstruction_loss
    return {"bce": 0.0, "mse": -0.5 * pixels * math.log(math.pi), "l1": -pixels * math.log(2.0)}[kind]


def _check(model: Autoencoder) -> None:
    if not model.variational:
        raise AelabError(f"a likelihood bound needs a VAE (its encoder gives q(z|x)); this model is a "
                         f"'{model.config.type}'")
    if not model.posterior_density:
        raise AelabError(f"the importance-sampled likelihood draws from q(z|x) with its density; a "
                         f"'{model.config.type}' does not give them (draw_posterior: docs/extending.md)")
    if model.config.reconstruction_loss not in LIKELIHOODS:
        raise AelabError(f"a likelihood bound needs a decoder likelihood (reconstruction_loss bce, mse or l1); "
                         f"this model's '{model.config.reconstruction_loss}' is not one")


def _use_bf16(precision: str, device: torch.device) -> bool:
    if precision not in ("auto", "bf16", "fp32"):
        raise AelabError(f"precision {precision!r}: use 'auto', 'bf16' or 'fp32'")
    return precision == "bf16" or (precision == "auto" and native_bf16(device))


def _log_px(model: Autoencoder, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(B, k) log p(x | z) up to the constant, for logits (B, k, P) and images x (B, P), in fp32."""
    kind = model.config.reconstruction_loss
    if kind == "bce" and model.config.output_activation == "sigmoid":
        # -BCE(x, sigmoid(l)) = x.l - softplus(l): x.l for all k at once is one batched product.
        logits = logits.float()
        return torch.bmm(logits, x.unsqueeze(-1)).squeeze(-1) - F.softplus(logits).sum(-1)
    x_hat = model.output_activation(logits.float())
    x = x.unsqueeze(1)
    if kind == "bce":
        p = x_hat.clamp(1e-6, 1 - 1e-6)
        return (x * p.log() + (1 - x) * torch.log1p(-p)).sum(-1)
    if kind == "mse":
        return -(x_hat - x).square().sum(-1)
    return -(x_hat - x).abs().sum(-1)


@torch.no_grad()
def likelihood_bounds(model: Autoencoder, data: torch.Tensor, samples: int, seed: int,
                      precision: str = "auto", max_rows: int = 2048, batch_size: int = 1024,
                      progress: bool = False, desc: str = "nll", workers: int | None = None,
                      estimate: Callable[[float, int], None] | None = None,
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,) IWAE lower bounds on log p(x) with `samples` draws each, and (N,) ELBOs from the same
    draws, in nats. `precision`: 'auto' (bf16 decoding where the hardware has it), 'bf16', 'fp32'.
    `workers` (default: torch's thread count on a CPU) share the images; the numbers do not depend
    on it. `estimate(seconds, images)`: called once the first images are done (two passes per
    worker), with the whole job's expected seconds measured on those images."""
    _check(model)
    if samples < 1:
        raise AelabError(f"--nll-samples {samples}: give 1 or more importance samples, e.g. 1000")
    was_training = model.training
    model.eval()
    device = data.device
    bf16 = _use_bf16(precision, device)
    # A bf16 copy of the decoder: autocast would cast every weight again on every call.
    decoder = copy.deepcopy(model.decoder).to(torch.bfloat16) if bf16 else model.decoder
    dtype = torch.bfloat16 if bf16 else torch.float32
    constant = log_likelihood_constant(model)
    # q(z|x) of every image: (mean, logvar) for a VAE; a flow posterior adds its steps' inputs, an
    # svae's is (direction, concentration), a gumbel_vae's the log-probabilities of its categories
    parts = [model.posterior(to_float(data[i:i + batch_size])) for i in range(0, len(data), batch_size)]
    posterior = tuple(torch.cat(p) for p in zip(*parts))
    kl = model.posterior_kl(posterior)  # None: estimated from the draws
    images_per_pass = max(1, max_rows // samples)  # few samples: several images per pass
    draws_per_pass = max(1, min(samples, max_rows))  # many samples: one image's draws in chunks
    bar = tqdm(total=len(data) * samples, desc=desc, unit="draw", unit_scale=True, disable=not progress,
               dynamic_ncols=True, leave=False)

    @torch.no_grad()  # grad mode is per thread: the decorator above does not reach the pool's threads
    def unit(u: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The images of pass `u`, with their own seeded draws: any order of units, any number of
        workers, the same numbers."""
        i = u * images_per_pass
        q = tuple(t[i:i + images_per_pass] for t in posterior)
        b = len(q[0])
        x = to_float(data[i:i + images_per_pass]).flatten(1)
        generator = torch.Generator(device=device).manual_seed(seed * 1_000_003 + u)
        log_w, log_px_sum = [], 0.0
        for done in range(0, samples, draws_per_pass):
            k = min(draws_per_pass, samples - done)
            z, log_qz = model.draw_posterior(q, k, generator)  # (b, k, d), (b, k)
            logits = decoder(z.flatten(0, 1).to(dtype))
            log_px = _log_px(model, logits.view(b, k, -1), x) + constant  # (b, k)
            log_pz = model.log_prior(z)
            log_w.append(log_px + log_pz - log_qz)
            log_px_sum = log_px_sum + log_px.sum(1)
            bar.update(b * k)
        log_w = torch.cat(log_w, 1)  # (b, samples)
        bound = torch.logsumexp(log_w, 1) - math.log(samples)
        elbo_k = log_w.mean(1) if kl is None else log_px_sum / samples - kl[i:i + images_per_pass]
        return bound, elbo_k

    n_units = math.ceil(len(data) / images_per_pass)
    workers = workers or (torch.get_num_threads() if device.type == "cpu" else 1)
    # Whole passes per worker thread, each op on one core: on a busy machine, an op split over
    # threads waits for the slowest of them at every step; whole passes never wait (BENCHMARKS.md).
    with intra_op_threads(1 if workers > 1 else None), ThreadPoolExecutor(workers) as pool:
        # One pass per worker to warm up, a second timed: the rest takes as long per pass.
        first = min(n_units, workers)
        started = time.perf_counter()
        parts = list(pool.map(unit, range(first)))
        if estimate is not None and 2 * first < n_units:
            timed = time.perf_counter()
            parts += list(pool.map(unit, range(first, 2 * first)))
            now = time.perf_counter()
            estimate(now - started + (now - timed) * (n_units - 2 * first) / first,
                     min(len(data), 2 * first * images_per_pass))
        parts += list(pool.map(unit, range(len(parts), n_units)))
    bar.close()
    model.train(was_training)
    return torch.cat([b for b, _ in parts]), torch.cat([e for _, e in parts])


def iwae_bound(model: Autoencoder, data: torch.Tensor, samples: int, seed: int,
               precision: str = "auto") -> torch.Tensor:
    """(N,) per-image lower bounds on log p(x), in nats, with `samples` importance samples each."""
    return likelihood_bounds(model, data, samples, seed, precision)[0]


@torch.no_grad()
def elbo(model: Autoencoder, data: torch.Tensor, seed: int, batch_size: int = 1024) -> torch.Tensor:
    """(N,) per-image ELBO in the same units as `iwae_bound` (one draw of z; the model's KL term,
    `model.kl`: closed-form against N(0, I), else a one-sample estimate)."""
    _check(model)
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=data.device).manual_seed(seed)
    constant = log_likelihood_constant(model)
    parts = []
    for start in range(0, len(data), batch_size):
        x = to_float(data[start:start + batch_size])
        out = model(x, generator=generator)
        parts.append(-reconstruction_loss(model, out, x) + constant - model.kl(out))
    model.train(was_training)
    return torch.cat(parts)


def nll_metrics(model: Autoencoder, data: torch.Tensor, samples: int, seed: int, precision: str = "auto",
                progress: bool = False, desc: str = "nll",
                estimate: Callable[[float, int], None] | None = None) -> dict[str, float]:
    """`nll`: the IWAE estimate of -log p(x) per image; `elbo` from the same draws beside it."""
    bound, elbo_k = likelihood_bounds(model, data, samples, seed, precision, progress=progress, desc=desc,
                                      estimate=estimate)
    return {"nll": -float(bound.mean()), "nll_samples": samples, "elbo": float(elbo_k.mean()),
            "nll_precision": "bf16" if _use_bf16(precision, data.device) else "fp32"}
