"""The training loop: seeded mini-batches from one on-device tensor, early stopping on the
validation loss with the best weights restored, and checkpoints that resume bit-exactly.

Speed (see BENCHMARKS.md): the whole set stays one uint8 tensor and each batch is one index_select
and one conversion; the optimizer is fused; the loss is BCE with logits; nothing waits on a
per-step `.item()`; denormals and threads are set for the duration of `fit` (speed.py); conv
networks train channels_last on a CPU.
Across processes the same loop runs under DistributedDataParallel (distributed.py).
A model with a second network (a discriminator) gets a second optimizer, stepped after the first
on each batch and checkpointed with it (second_network.py); a model without one costs nothing.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from tqdm.auto import tqdm

from aelab.config import Config
from aelab.data.augment import augment
from aelab.data.dataset import data_problem, to_float
from aelab.errors import AelabError
from aelab.models.autoencoder import Autoencoder
from aelab.train import checkpoint, distributed, schedules
from aelab.train.callbacks import Callback, as_callback
from aelab.train.interrupt import DeferredInterrupts, Interrupted
from aelab.train.objective import mean_objective
from aelab.train.optim import build_optimizer
from aelab.train.precision import choose_precision
from aelab.train.second_network import SecondNetwork
from aelab.train.speed import LARGE_MODEL_PARAMETERS, SMALL_STEP_MACS, flush_denormals, intra_op_threads, step_macs


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
    # training.lr_schedule "plateau": the lr's current scale and its own improvement counter
    lr_scale: float = 1.0
    lr_best_loss: float = math.inf
    lr_bad_epochs: int = 0


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise AelabError("training.device is 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


log = logging.getLogger("aelab")

CHECKPOINT_SECONDS = 30.0  # with training.checkpoint_every unset
# An epoch whose mean training loss is this many times the lowest before it diverged for at least
# one step (annealing a KL weight from 0 to beta raises a loss by far less).
DIVERGENCE_FACTOR = 10.0
# Architectures trained channels_last on a CPU by default (BENCHMARKS.md, bench/conv_options.py).
CHANNELS_LAST_ARCHITECTURES = ("conv", "image_conv")


class Trainer:
    def __init__(self, model: Autoencoder, config: Config, device: torch.device | str = "cpu",
                 progress: bool = True, callbacks: list | None = None,
                 context: distributed.Context | None = None, channels_last: bool | None = None):
        self.config = config
        self.device = torch.device(device)
        self.context = context  # None: one process; else this rank's place in the process group
        # channels_last (None: where it was measured to pay, see _memory_format): the conv weights
        # and every batch are laid out NHWC, which oneDNN's convolutions want on a CPU.
        self.memory_format = self._memory_format(model, channels_last)
        self.model = model.to(device) if self.memory_format is None else \
            model.to(device, memory_format=self.memory_format)
        self.is_main = context is None or context.is_main
        # A second network (a discriminator) has its own optimizer; None: the model has none.
        self.second = SecondNetwork.of(model, config.training, distributed=context is not None)
        second = set() if self.second is None else self.second.ids
        self.optimizer = build_optimizer((p for p in model.parameters() if id(p) not in second), config.training)
        # One generator drives every random draw of the loop (order, noise, z), so a checkpoint
        # that stores it resumes exactly where an uninterrupted run would be.
        self.generator = torch.Generator(device=self.device).manual_seed(config.training.seed)
        self.state = TrainState()
        self.best_weights: dict[str, torch.Tensor] | None = None
        self._last_checkpoint: float | None = None  # perf_counter() of the last checkpoint written
        self._checkpointed_epoch = 0
        # An epoch cut short by Ctrl-C/SIGTERM: its order, next batch and loss sums, so that it
        # continues where it stopped (saved in the checkpoint).
        self._partial: dict | None = None
        self._divergences: list[int] = []  # epochs whose loss jumped: the first is warned of, the rest summed up
        self._stop = DeferredInterrupts(enabled=False)
        self.progress = progress and self.is_main
        # Callbacks (train/callbacks.py: Callback objects or functions f(trainer, row)) may write
        # files (snapshots, sweeps): only rank 0 runs them.
        self.callbacks: list[Callback] = [as_callback(c) for c in callbacks or []] if self.is_main else []
        self._validation: torch.Tensor | None = None
        self._objective = distributed.wrap(self.model, context, self.device)  # model.objective, or DDP's
        cfg = config.training
        # Per batch, only what a schedule changes: the constant default does no per-step work.
        self._anneals = cfg.kl_annealing != "none" or cfg.free_bits > 0
        self._schedules_lr = schedules.schedules_learning_rate(cfg)
        schedules.check_model_type(cfg, type(model), config.model.type)
        self.precision = choose_precision(config.training.precision, self.model, self.device, config.training.batch_size)

    # ------------------------------------------------------------------------------- the loop
    def fit(self, train: torch.Tensor, validation: torch.Tensor | None = None,
            checkpoint_path: Path | None = None, labels: torch.Tensor | None = None,
            validation_labels: torch.Tensor | None = None) -> TrainState:
        """Train on `train` (N, C, H, W) in its stored dtype; returns the final state. `labels`
        (N,) go with each batch to models that need them (conditional models)."""
        cfg = self.config.training
        train = train.to(self.device)
        validation = None if validation is None or len(validation) == 0 else validation.to(self.device)
        self._validation = validation
        self._labels = None if labels is None else labels.to(self.device)
        self._validation_labels = None if validation_labels is None or validation is None else validation_labels.to(self.device)
        if self.state.epoch == 0 and self._partial is None:  # a new run, not a resumed one
            self.model.init_from_data(train, torch.Generator(device=self.device).manual_seed(cfg.seed))
        bar = tqdm(total=cfg.epochs, initial=self.state.epoch, desc="training", unit="epoch",
                   disable=not self.progress, dynamic_ncols=True)
        # Signals wait for a batch boundary (one process only: ranks must stop at the same batch).
        with flush_denormals(), intra_op_threads(self._threads()), \
                DeferredInterrupts(enabled=self.context is None) as self._stop:
            try:
                self._call("on_train_begin")
                while self.state.epoch < cfg.epochs and not self.state.stopped_early:
                    self._stop_if_asked()
                    row = self._epoch(train, validation)
                    # The postfix first, unshown, then one refresh: in a log file (no terminal) that is
                    # one line per epoch at most, not one for the count and another for the losses.
                    bar.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k in ("loss", "val_loss")},
                                    refresh=False)
                    bar.update(1)
                    self._call("on_epoch_end", row)
                    if checkpoint_path and self.is_main and self._checkpoint_due():
                        self.save_checkpoint(checkpoint_path)
                self._stop_if_asked()
            except Interrupted:
                if checkpoint_path and self.is_main:
                    self.save_checkpoint(checkpoint_path)
                raise
            finally:
                bar.close()
        if len(self._divergences) > 1:
            log.warning("the training loss jumped in %d more epochs after epoch %d (the last: epoch %d)",
                        len(self._divergences) - 1, self._divergences[0], self._divergences[-1])
        if self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)
        self._call("on_train_end")
        return self.state

    # ------------------------------------------------------------- what callbacks may use
    def stop(self, reason: str = "a callback asked") -> None:
        """Stop after the current epoch, as early stopping does (a callback's way to end training)."""
        if not self.state.stopped_early:
            log.info("training stops after epoch %d: %s", self.state.epoch, reason)
        self.state.stopped_early = True

    def validation_images(self) -> torch.Tensor | None:
        """The validation split as float (N, C, H, W) in [0, 1] on the CPU; None without one."""
        return None if self._validation is None else to_float(self._validation).cpu().clone()  # theirs to change

    def _call(self, hook: str, *args) -> None:
        """Run one hook of every callback, the model in eval mode meanwhile: a callback that looks
        at the model (a reconstruction, a BatchNorm layer's output) never changes what it trains."""
        if not self.callbacks:
            return
        was_training = self.model.training
        self.model.eval()
        try:
            for callback in self.callbacks:
                getattr(callback, hook)(self, *args)
        finally:
            self.model.train(was_training)

    def _stop_if_asked(self) -> None:
        if self._stop.requested is not None:
            raise Interrupted(f"signal {self._stop.requested}")

    def _checkpoint_due(self) -> bool:
        cfg, epoch = self.config.training, self.state.epoch
        if epoch == cfg.epochs or self.state.stopped_early:
            return True
        if cfg.checkpoint_every is not None:
            return epoch % cfg.checkpoint_every == 0
        return self._last_checkpoint is None or time.perf_counter() - self._last_checkpoint >= CHECKPOINT_SECONDS

    def _memory_format(self, model: Autoencoder, channels_last: bool | None) -> torch.memory_format | None:
        """torch.channels_last for aelab's conv networks trained on a CPU in one process; None (the
        layout as it is) elsewhere or when `channels_last` is False. Measured in BENCHMARKS.md
        (bench/conv_options.py)."""
        if channels_last is None:
            channels_last = (self.device.type == "cpu" and self.context is None
                             and self.config.model.architecture in CHANNELS_LAST_ARCHITECTURES
                             and not (self.config.model.encoder or self.config.model.decoder))
        return torch.channels_last if channels_last else None

    def _threads(self) -> int | None:
        """1 for small models on the CPU unless training.threads says otherwise; else leave as set.
        Small: few multiply-adds per step and fewer than LARGE_MODEL_PARAMETERS parameters."""
        cfg = self.config.training
        if self.device.type != "cpu":
            return None
        if cfg.threads is not None:  # as the config says: the Python API's fit sets no threads of its own
            return cfg.threads
        if sum(p.numel() for p in self.model.parameters()) >= LARGE_MODEL_PARAMETERS:
            return None  # memory-bound at any batch size (seed 004 at batch 2)
        return 1 if step_macs(self.model, cfg.batch_size) < SMALL_STEP_MACS else None

    def _epoch(self, train: torch.Tensor, validation: torch.Tensor | None) -> dict:
        cfg = self.config.training
        model, generator, labels = self.model, self.generator, self._labels
        dynamic = self.config.data.binarize == "dynamic"
        precision = self.precision.autocast_dtype
        world = 1 if self.context is None else self.context.world_size
        # The permutation comes from the shared generator (the same on every rank); the draws of
        # z, noise and binarisation are each rank's own when there are several.
        draws = generator if world == 1 else self._rank_generator()
        model.train()
        started = time.perf_counter()
        if self._partial is not None:  # the rest of an interrupted epoch
            order, first, sums = self._partial["order"], self._partial["next"], self._partial["sums"]
            started -= self._partial["seconds"]
            self._partial = None
        else:
            sums: dict[str, torch.Tensor] = {}
            order = torch.randperm(len(train), generator=generator, device=self.device)
            first = 0
        steps = math.ceil(len(train) / cfg.batch_size)
        augmenting = self.config.data.augment_flip or self.config.data.augment_shift > 0
        beta, lr = None, self.optimizer.param_groups[0]["lr"]
        # The second network's game, from training.adversarial_start_epoch on.
        discriminating = self.second is not None and self.state.epoch >= cfg.adversarial_start_epoch
        if discriminating:
            model.start_discriminator(True)
        for step, start in enumerate(range(first, len(train), cfg.batch_size), start=first // cfg.batch_size):
            progress = self.state.epoch + step / steps  # epochs done, fractional
            if self._anneals:  # the KL weight of this step (training.kl_annealing), read by the model
                beta = schedules.kl_weight(cfg, model.kl_beta, progress)
                model.kl_weight, model.free_bits = beta, cfg.free_bits
            if self._schedules_lr:
                lr = schedules.learning_rate(cfg, progress, self.state.lr_scale, self.state.epoch * steps + step)
                schedules.set_learning_rate(self.optimizer, lr)
                if self.second is not None:
                    schedules.set_learning_rate(self.second.optimizer, lr)
            batch = order[start:start + cfg.batch_size]  # the global batch
            local = distributed.local_share(batch, self.context)
            x = to_float(train[local])
            if self.memory_format is not None:
                x = x.contiguous(memory_format=self.memory_format)
            if augmenting:
                x = augment(x, self.config.data.augment_flip, self.config.data.augment_shift, draws)
            if dynamic:  # a fresh binary draw of each image every epoch (Bernoulli likelihood)
                x = torch.bernoulli(x, generator=draws)
            y = None if labels is None else labels[local]
            with torch.autocast(self.device.type, dtype=precision or torch.float32, enabled=precision is not None):
                terms = self._objective(x, generator=draws, labels=y)  # noise, z: the model draws them
            loss = terms["loss"]
            if world > 1:  # DDP averages over ranks; weigh each by its share of the global batch
                loss = loss * (len(local) * world / len(batch))
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.gradient_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.gradient_clip)
            self.optimizer.step()
            if discriminating:  # the second network's step, on the same batch
                terms = {**terms, **self.second.step(model, self.device.type, precision)}
            for k, v in terms.items():  # stays on the device: no sync per step
                sums[k] = sums.get(k, 0.0) + v.detach() * len(x)
            if self._stop.requested is not None:
                self._partial = {"order": order, "next": start + cfg.batch_size, "sums": sums,
                                 "seconds": time.perf_counter() - started}
                raise Interrupted(f"signal {self._stop.requested}")
        if self._anneals:  # validation, evaluation and sampling see the model's own objective
            model.kl_weight, model.free_bits = None, 0.0
        if discriminating:
            model.start_discriminator(False)
        totals = distributed.all_sum(torch.stack([torch.as_tensor(v).float() for v in sums.values()]), self.context)
        seconds = time.perf_counter() - started
        self.state.epoch += 1
        self.state.train_seconds += seconds
        self.state.samples_seen += len(train)
        row = {"epoch": self.state.epoch, **{k: float(v) / len(train) for k, v in zip(sums, totals.tolist())}}
        if discriminating:  # the loss without the game's terms: what validation and the loss figure compare
            row["own_loss"] = model.own_loss(row)
        if validation is not None:
            terms = mean_objective(model, validation, seed=cfg.seed + 1, labels=self._validation_labels,
                                   reconstruction_metrics=True)
            row.update({f"val_{k}": v for k, v in terms.items()})
        row["seconds"] = seconds
        row["learning_rate"] = lr
        if beta is not None:
            row["beta"] = beta
        broken = next((k for k in ("loss", "val_loss") if not math.isfinite(row.get(k, 0.0))), None)
        if broken is not None:
            problem = data_problem(train) or (data_problem(validation, "validation") if validation is not None else None)
            if problem:
                raise AelabError(f"the {broken.replace('val_', 'validation ')} is {row[broken]} in epoch {self.state.epoch} "
                                 f"because of the data: {problem}; check the data (a damaged or forged file, or an array "
                                 "not scaled to [0, 1]): a lower learning rate would not help")
            what = "training loss" if broken == "loss" else "validation loss (the weights after its last step)"
            raise AelabError(
                f"training diverged in epoch {self.state.epoch}: the {what} is {row[broken]}; lower "
                f"training.learning_rate (now {cfg.learning_rate:g}), or avoid unbounded activations such "
                "as cosh in wide layers" + (f" (the last checkpoint, epoch {self._checkpointed_epoch}, is "
                                            "kept)" if self._checkpointed_epoch else ""))
        self._warn_if_diverged(row)
        self.state.history.append(row)
        monitored = row["val_loss"] if validation is not None else row["loss"]
        if validation is None and beta is not None:  # the objective at full beta, not the annealed one
            monitored = row["reconstruction_loss"] + model.kl_beta * row["kl"]
        elif validation is None:  # the autoencoder's own objective, as validation's: without a game's terms
            monitored = row.get("own_loss", row["loss"])
        if cfg.lr_schedule == "plateau":
            s = self.state
            s.lr_best_loss, s.lr_bad_epochs, s.lr_scale = schedules.plateau_step(
                cfg, monitored, s.lr_best_loss, s.lr_bad_epochs, s.lr_scale)
        self._early_stopping(monitored)
        return row

    def _warn_if_diverged(self, row: dict) -> None:
        """One line in the epoch it happens when the training loss jumped: a step that blew up
        (its loss dominates the epoch's mean) leaves weights and normalisation statistics damaged."""
        lowest = min((r["loss"] for r in self.state.history), default=math.inf)
        if 0 < lowest < math.inf and row["loss"] > DIVERGENCE_FACTOR * lowest:
            self._divergences.append(self.state.epoch)
            if len(self._divergences) > 1:  # said once; a noisy run (seed 003's DAE) jumped in 99 epochs
                return
            cfg = self.config.training
            hints = [f"a lower training.learning_rate (now {cfg.learning_rate:g})"]
            if cfg.warmup_steps < 100:
                hints.append(f"a longer warm-up, training.warmup_steps (now {cfg.warmup_steps})")
            if cfg.gradient_clip is None:
                hints.append("training.gradient_clip, e.g. 1.0")
            log.warning("training diverged in epoch %d: its mean training loss %.4g is %.0fx the lowest "
                        "before it (%.4g); try %s", self.state.epoch, row["loss"], row["loss"] / lowest,
                        lowest, " or ".join(hints))

    def _rank_generator(self) -> torch.Generator:
        # Seeded by (seed, epoch, rank): nothing to checkpoint, and any world size can resume.
        seed = self.config.training.seed + 1_000_003 * (self.state.epoch + 1) + 7919 * self.context.rank
        return torch.Generator(device=self.device).manual_seed(seed)

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
        # The history grows every epoch: as a tensor it costs microseconds to write, as JSON in the
        # metadata it made checkpointing quadratic in the number of epochs.
        state = {f.name: getattr(self.state, f.name) for f in fields(self.state) if f.name != "history"}
        columns = list(dict.fromkeys(k for row in self.state.history for k in row))
        tensors["state.history"] = torch.tensor(
            [[row.get(k, math.nan) for k in columns] for row in self.state.history], dtype=torch.float64
        ).reshape(len(self.state.history), len(columns))
        meta = {"state": state, "history_columns": columns, "optimizer": opt_plain, "config": self.config.to_dict()}
        if self.second is not None:
            self.second.save(tensors, meta)
        if self._partial is not None:
            tensors["partial.order"] = self._partial["order"]
            tensors.update({f"partial.sum.{k}": v for k, v in self._partial["sums"].items()})
            meta["partial"] = {"next": self._partial["next"], "seconds": self._partial["seconds"],
                               "sums": list(self._partial["sums"])}
        self._last_checkpoint, self._checkpointed_epoch = time.perf_counter(), self.state.epoch
        checkpoint.atomic_save(tensors, path, meta)

    def load_checkpoint(self, path: Path) -> None:
        tensors, meta = checkpoint.read(path, "checkpoint")
        if "state" not in meta or "optimizer" not in meta:
            raise AelabError(f"{path} is not an aelab checkpoint (no training state in it)")
        checkpoint.check_param_groups(self.optimizer, meta["optimizer"], path)
        if self.second is not None:
            self.second.check(meta, path)
        try:
            self.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
            best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
            self.best_weights = {k: v.to(self.device) for k, v in best.items()} or None
            checkpoint.load_optimizer(self.optimizer, tensors, meta["optimizer"])
            if self.second is not None:
                self.second.load(tensors, meta)
        except (RuntimeError, KeyError, ValueError) as e:
            raise AelabError(f"{path} does not fit this model ({str(e).splitlines()[0]}); "
                             "resume with the config the run was started with") from None
        try:
            self.generator.set_state(tensors["rng.generator"])
            columns = meta.get("history_columns", [])
            history = [{k: (int(v) if k == "epoch" else v) for k, v in zip(columns, row) if not math.isnan(v)}
                       for row in tensors["state.history"].tolist()] if "state.history" in tensors else []
            self.state = TrainState(**{**meta["state"], "history": meta["state"].get("history", history)})
            if not (isinstance(self.state.epoch, int) and 0 <= self.state.epoch):
                raise ValueError(f"epoch {self.state.epoch!r}")
            partial = meta.get("partial")
            if partial is not None:
                self._partial = {"order": tensors["partial.order"].to(self.device), "next": int(partial["next"]),
                                 "seconds": float(partial["seconds"]),
                                 "sums": {k: tensors[f"partial.sum.{k}"].to(self.device) for k in partial["sums"]}}
        except (RuntimeError, KeyError, ValueError, TypeError, AttributeError) as e:
            raise AelabError(f"{path} holds a training state aelab cannot use ({str(e).splitlines()[0][:200]}); "
                             "the file is damaged: restore it, or start the run again") from None
        self._checkpointed_epoch = self.state.epoch
