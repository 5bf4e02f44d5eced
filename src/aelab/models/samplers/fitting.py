"""What the learned samplers (flow, two_stage, diffusion) share: the codes standardised, a seeded
split into 90% to learn from and 10% held out, a training loop that stops when the held-out loss
has not improved for `patience` checks (the best weights kept: this is also what stops a sampler
from memorising its training codes), and the same base-noise path for drawing, so that the
temperature scales the noise of every sampler alike.

A learned sampler is a small torch module and three methods: `build` (its network for d-dimensional
codes), `loss` (of a batch of standardised codes) and `generate` (base noise (n, d) -> standardised
codes (n, d))."""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from typing import ClassVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

log = logging.getLogger("aelab")

HELD_OUT = 0.1  # of the codes: early stopping's yardstick, never learned from


@contextlib.contextmanager
def one_thread():
    """Small networks on batches of a few hundred codes run fastest on one thread: on 2 busy cores,
    a masked-autoregressive step took 15 ms of CPU on one thread and 140 ms on two (spin waits)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class TrainingOptions(BaseModel):
    """Settings every learned sampler has (its own defaults meet the 2-minute budget on 3,000 codes
    of 128 dimensions on 2 CPU cores; bench/samplers.py measures them)."""
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    steps: int = Field(4000, ge=1, le=10_000_000)  # optimizer steps at most; early stopping may end sooner
    patience: int = Field(30, ge=1, le=100_000)  # held-out checks without a better loss before stopping
    check_every: int = Field(50, ge=1, le=100_000)  # steps between two checks of the held-out loss
    batch_size: int = Field(128, ge=1, le=65_536)
    learning_rate: float = Field(1e-3, gt=0, le=1)
    hidden: int = Field(256, ge=1, le=8192)  # width of the network's hidden layers
    whiten: bool = False  # decorrelate the codes first (PCA whitening), not only scale each dimension
    layers: int = Field(2, ge=1, le=16)  # hidden layers (or residual blocks)


class Standardizer:
    """Codes -> zero mean and unit variance, and back: per dimension, or with `whiten` decorrelated
    too (PCA whitening: the codes' covariance becomes I). forward = (x - mean) @ to_unit,
    back = z @ from_unit + mean."""

    def __init__(self, mean: torch.Tensor, to_unit: torch.Tensor, from_unit: torch.Tensor):
        self.mean, self.to_unit, self.from_unit = mean, to_unit, from_unit

    @classmethod
    def fit(cls, codes: torch.Tensor, spread: torch.Tensor, whiten: bool) -> "Standardizer":
        """From codes (N, d) and their posterior spread (N, d): the moments of that mixture."""
        centred = (codes - codes.mean(0)).double()
        cov = centred.T @ centred / max(len(codes) - 1, 1) + torch.diag(spread.double().square().mean(0))
        if not whiten:
            std = cov.diagonal().sqrt().clamp_min(1e-6)
            return cls(codes.mean(0), torch.diag(1 / std).float(), torch.diag(std).float())
        values, vectors = torch.linalg.eigh(cov)
        values = values.clamp_min(1e-12 * float(values.max().clamp_min(1e-30)))
        return cls(codes.mean(0), (vectors / values.sqrt()).float(), (vectors * values.sqrt()).T.float())

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return (codes - self.mean) @ self.to_unit

    def back(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.from_unit + self.mean

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"mean": self.mean, "to_unit": self.to_unit, "from_unit": self.from_unit}


class LearnedSampler:
    """A network trained on standardised codes; drawn from by generate(base noise)."""
    kind: ClassVar[str]
    Options: ClassVar[type[TrainingOptions]]
    ema: ClassVar[bool] = False  # keep an exponential moving average of the weights, and use it

    def __init__(self, net: nn.Module, scale: Standardizer, options: TrainingOptions, seed: int):
        self.net, self.scale, self.options, self.seed = net.eval(), scale, options, seed
        self.report: dict = {}

    # what each sampler defines
    @classmethod
    def build(cls, dim: int, options) -> nn.Module:
        raise NotImplementedError

    @classmethod
    def loss(cls, net: nn.Module, batch: torch.Tensor, options, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def generate(self, noise: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def description(self) -> str:
        raise NotImplementedError

    # fitting
    @classmethod
    def fit(cls, codes: np.ndarray, options, seed: int, progress: bool = True,
            spread: np.ndarray | None = None) -> "LearnedSampler":
        """Fitted to `codes` (N, d); with `spread` (N, d), the posterior standard deviations of a
        VAE's codes, to fresh posterior draws codes + spread * noise at every step (what the decoder
        was trained on). aelab fits to the means: on 2,726 emoji codes the diffusion sampler's
        Fréchet distance was 3.06x the real-image floor from the means, 3.47x from posterior draws
        (bench/samplers.py --codes)."""
        codes = torch.as_tensor(np.asarray(codes, np.float32))
        spread = torch.zeros_like(codes) if spread is None else torch.as_tensor(np.asarray(spread, np.float32))
        scale = Standardizer.fit(codes, spread, options.whiten)
        generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(codes), generator=generator)
        n_held = max(1, round(HELD_OUT * len(codes))) if len(codes) > 1 else 0
        held, train = order[:n_held], order[n_held:]
        # the held-out codes drawn once: every check compares the same points
        held_noise = torch.randn((n_held, codes.shape[1]), generator=torch.Generator().manual_seed(seed + 2))
        held = scale.forward(codes[held] + spread[held] * held_noise)
        with torch.random.fork_rng(devices=[]):  # the initial weights from `seed`, the global RNG untouched
            torch.manual_seed(seed)
            net = cls.build(codes.shape[1], options)
        sampler = cls(net, scale, options, seed)
        with one_thread():
            sampler.report = _train(cls, net, (codes[train], spread[train], scale), held, options, generator, seed,
                                    progress)
        sampler.net.eval()
        return sampler

    # drawing
    @torch.no_grad()
    def sample(self, n: int, seed: int, temperature: float = 1.0) -> np.ndarray:
        noise = torch.randn(n, len(self.scale.mean), generator=torch.Generator().manual_seed(seed)) * temperature
        with one_thread():
            return self.scale.back(self.generate(noise)).numpy()

    # storing
    def tensors(self) -> dict[str, torch.Tensor]:
        return {**self.scale.tensors(), **{f"net.{k}": v for k, v in self.net.state_dict().items()}}

    @classmethod
    def restore(cls, tensors: dict[str, torch.Tensor], options, seed: int) -> "LearnedSampler":
        with torch.random.fork_rng(devices=[]):
            net = cls.build(len(tensors["mean"]), options)
        net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
        scale = Standardizer(tensors["mean"].float(), tensors["to_unit"].float(), tensors["from_unit"].float())
        return cls(net, scale, options, seed)


def _train(cls, net: nn.Module, train: tuple[torch.Tensor, torch.Tensor, Standardizer], held: torch.Tensor, options,
           generator: torch.Generator, seed: int, progress: bool) -> dict:
    started, cpu = time.perf_counter(), time.process_time()
    optimizer = torch.optim.Adam(net.parameters(), lr=options.learning_rate)
    average = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(getattr(options, "ema_decay", 0.999))) \
        if cls.ema else None
    judged = average.module if average is not None else net
    best, best_step, best_state, checks_since = math.inf, 0, copy.deepcopy(judged.state_dict()), 0
    bar = tqdm(total=options.steps, desc=f"fitting the {cls.kind} sampler", unit="step", leave=False,
               disable=not progress, mininterval=0.5)
    step = 0
    for step, batch in enumerate(_batches(train, options.batch_size, generator), start=1):
        net.train()
        loss = cls.loss(net, batch, options, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if average is not None:
            average.update_parameters(net)
        if step % options.check_every == 0 or step == options.steps:
            held_loss = _held_out_loss(cls, judged, held if len(held) else train[2].forward(train[0]), options, seed)
            checks_since += 1
            if held_loss < best:
                best, best_step, best_state, checks_since = held_loss, step, copy.deepcopy(judged.state_dict()), 0
            bar.update(step - bar.n)
            bar.set_postfix(held_out=f"{held_loss:.4g}", best=f"{best:.4g}")
            if checks_since >= options.patience:
                break
        if step >= options.steps:
            break
    bar.close()
    net.load_state_dict(best_state)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    log.info("%s sampler: %d steps, the best held-out loss %.4g at step %d (%.1f s, %.1f s of CPU)", cls.kind,
             step, best, best_step, seconds, cpu)
    return {"steps": step, "best_step": best_step, "held_out_loss": best, "seconds": seconds, "cpu_seconds": cpu}


def _batches(train: tuple[torch.Tensor, torch.Tensor, Standardizer], size: int, generator: torch.Generator):
    """Shuffled, standardised batches (B, d), epoch after epoch, without end; each code a fresh
    posterior draw."""
    codes, spread, scale = train
    while True:
        order = torch.randperm(len(codes), generator=generator)
        for start in range(0, len(codes), size):
            part = order[start:start + size]
            noise = torch.randn((len(part), codes.shape[1]), generator=generator)
            yield scale.forward(codes[part] + spread[part] * noise)


@torch.no_grad()
def _held_out_loss(cls, net: nn.Module, held: torch.Tensor, options, seed: int) -> float:
    """The held-out loss with the same random draws at every check, so checks compare fairly."""
    net.eval()
    return float(cls.loss(net, held, options, torch.Generator().manual_seed(seed + 1)))
