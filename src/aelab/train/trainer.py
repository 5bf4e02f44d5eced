"""The training loop: seeded mini-batches from one on-device tensor, early stopping on the
validation loss with the best weights restored, and checkpoints that resume bit-exactly."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from aelab.config import Config
from aelab.data.dataset import to_float
from aelab.data.noise import corrupt
from aelab.errors import AelabError
from aelab.evaluate.metrics import objective
from aelab.models.autoencoder import Autoencoder
from aelab.train import checkpoint
from aelab.train.losses import loss_terms
from aelab.train.optim import build_optimizer


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    best_epoch: int = 0
    best_loss: float = math.inf  # of the monitored loss: validation if there is a validation set
    bad_epochs: int = 0  # epochs since the last improvement
    stopped_early: bool = False
    train_seconds: float = 0.0
    samples_seen: int = 0
    history: list[dict] = field(default_factory=list)


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise AelabError("training.device is 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


class Trainer:
    def __init__(self, model: Autoencoder, config: Config, device: torch.device | str = "cpu",
                 progress: bool = True, callbacks: list[Callable[["Trainer", dict], None]] | None = None):
        self.model = model.to(device)
        self.config = config
        self.device = torch.device(device)
        self.optimizer = build_optimizer(model.parameters(), config.training)
        # One generator drives every random draw of the loop (order, noise, z), so a checkpoint
        # that stores it resumes exactly where an uninterrupted run would be.
        self.generator = torch.Generator(device=self.device).manual_seed(config.training.seed)
        self.state = TrainState()
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.progress = progress
        self.callbacks = list(callbacks or [])

    # ------------------------------------------------------------------------------- the loop
    def fit(self, train: torch.Tensor, validation: torch.Tensor | None = None,
            checkpoint_path: Path | None = None) -> TrainState:
        """Train on `train` (N, C, H, W) in its stored dtype; returns the final state."""
        cfg = self.config.training
        train = train.to(self.device)
        validation = None if validation is None or len(validation) == 0 else validation.to(self.device)
        bar = tqdm(total=cfg.epochs, initial=self.state.epoch, desc="training", unit="epoch",
                   disable=not self.progress, dynamic_ncols=True)
        try:
            while self.state.epoch < cfg.epochs and not self.state.stopped_early:
                row = self._epoch(train, validation)
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k in ("loss", "val_loss")})
                for callback in self.callbacks:
                    callback(self, row)
                if checkpoint_path and (self.state.epoch % cfg.checkpoint_every == 0
                                        or self.state.epoch == cfg.epochs or self.state.stopped_early):
                    self.save_checkpoint(checkpoint_path)
        finally:
            bar.close()
        if self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)
        return self.state

    def _epoch(self, train: torch.Tensor, validation: torch.Tensor | None) -> dict:
        cfg = self.config.training
        model, noise, generator = self.model, self.model.config.noise, self.generator
        dynamic = self.config.data.binarize == "dynamic"
        precision = torch.bfloat16 if cfg.precision == "bf16" else None
        model.train()
        started = time.perf_counter()
        sums: dict[str, torch.Tensor] = {}
        order = torch.randperm(len(train), generator=generator, device=self.device)
        for start in range(0, len(train), cfg.batch_size):
            x = to_float(train[order[start:start + cfg.batch_size]])
            if dynamic:  # a fresh binary draw of each image every epoch (Bernoulli likelihood)
                x = torch.bernoulli(x, generator=generator)
            x_in = corrupt(x, noise, generator) if noise is not None else x
            with torch.autocast(self.device.type, dtype=precision or torch.float32, enabled=precision is not None):
                terms = loss_terms(model, model(x_in, generator=generator), x)
            self.optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            self.optimizer.step()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v.detach() * len(x)
        seconds = time.perf_counter() - started
        self.state.epoch += 1
        self.state.train_seconds += seconds
        self.state.samples_seen += len(train)
        row = {"epoch": self.state.epoch, **{k: float(v) / len(train) for k, v in sums.items()}}
        if validation is not None:
            terms = objective(model, validation, seed=cfg.seed + 1)
            row.update({f"val_{k}": v for k, v in terms.items()})
        row["seconds"] = seconds
        self.state.history.append(row)
        self._early_stopping(row["val_loss"] if validation is not None else row["loss"])
        return row

    def _early_stopping(self, monitored: float) -> None:
        cfg = self.config.training
        if monitored < self.state.best_loss - cfg.min_delta:
            self.state.best_loss, self.state.best_epoch, self.state.bad_epochs = monitored, self.state.epoch, 0
            self.best_weights = copy.deepcopy(self.model.state_dict())
        else:
            self.state.bad_epochs += 1
            if cfg.patience is not None and self.state.bad_epochs >= cfg.patience:
                self.state.stopped_early = True

    # ---------------------------------------------------------------------------- checkpoints
    def save_checkpoint(self, path: Path) -> None:
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        if self.best_weights is not None:
            tensors.update({f"best.{k}": v for k, v in self.best_weights.items()})
        opt_tensors, opt_plain = checkpoint.optimizer_tensors(self.optimizer)
        tensors.update(opt_tensors)
        tensors["rng.generator"] = self.generator.get_state()
        checkpoint.atomic_save(tensors, path, {"state": asdict(self.state), "optimizer": opt_plain,
                                               "config": self.config.to_dict()})

    def load_checkpoint(self, path: Path) -> None:
        tensors, meta = checkpoint.read(path, "checkpoint")
        if "state" not in meta or "optimizer" not in meta:
            raise AelabError(f"{path} is not an aelab checkpoint (no training state in it)")
        try:
            self.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
            best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
            self.best_weights = {k: v.to(self.device) for k, v in best.items()} or None
            checkpoint.load_optimizer(self.optimizer, tensors, meta["optimizer"])
        except (RuntimeError, KeyError, ValueError) as e:
            raise AelabError(f"{path} does not fit this model ({str(e).splitlines()[0]}); "
                             "resume with the config the run was started with") from None
        self.generator.set_state(tensors["rng.generator"])
        self.state = TrainState(**meta["state"])
