"""Your code, run by the training loop: `estimator.fit(X, callbacks=[...])` in Python. The CLI's
per-epoch snapshots (training.snapshot_every, explore/snapshots.py) and TensorBoard logging
(training.tensorboard, train/tensorboard.py) are callbacks of this same kind.

A callback is a `Callback` whose hooks you override, or any function `f(trainer, row)`, which is
then its `on_epoch_end`. The hooks run in the order the callbacks were given (in a run of several
processes, on rank 0 only):

    on_train_begin(trainer)      before the first epoch (of a resumed run too)
    on_epoch_end(trainer, row)   after every epoch; `row` is the epoch's history row: epoch, loss
                                 and its named terms, val_* (with a validation split), seconds,
                                 learning_rate
    on_train_end(trainer)        after the last epoch, the best weights restored (not after Ctrl-C
                                 or an error)

What a hook may read and call on `trainer`:

    trainer.model                the model; in eval mode during every hook (BatchNorm uses its
                                 running statistics, so looking at the model never changes it)
    trainer.state                .epoch (epochs done), .history (every row so far), .best_epoch
    trainer.config               the resolved Config (trainer.config.training.epochs, ...)
    trainer.validation_images()  the validation split, float (N, C, H, W) in [0, 1] on the CPU;
                                 None without one (validation_split=0)
    trainer.stop(reason)         stop after this epoch, as early stopping does: the best weights
                                 restored, the checkpoint written, metrics' stopped_early true
                                 (one process only: under torchrun the other ranks run no
                                 callbacks and would not know)

Every random draw of training comes from the trainer's own generator: a hook that draws numbers
of its own (torch.randn, numpy) leaves the run as it would have been, the same seed giving the
same weights, and a resumed run the uninterrupted run's weights.
"""

from __future__ import annotations

from typing import Callable

from aelab.errors import AelabError


class Callback:
    """Override the hooks you need; each gets the Trainer (see the module's docstring)."""

    def on_train_begin(self, trainer) -> None:
        pass

    def on_epoch_end(self, trainer, row: dict) -> None:
        pass

    def on_train_end(self, trainer) -> None:
        pass


class EpochEndFunction(Callback):
    """A function f(trainer, row) as a Callback: its on_epoch_end."""

    def __init__(self, function: Callable):
        self.function = function

    def on_epoch_end(self, trainer, row: dict) -> None:
        self.function(trainer, row)


HOOKS = ("on_train_begin", "on_epoch_end", "on_train_end")


def as_callback(obj) -> Callback:
    """`obj` as something with the three hooks: a Callback (or any object with them), a function."""
    if all(hasattr(obj, hook) for hook in HOOKS):
        return obj
    if any(hasattr(obj, hook) for hook in HOOKS):  # hooks of its own, not derived from Callback
        missing = [hook for hook in HOOKS if not hasattr(obj, hook)]
        raise AelabError(f"callbacks: {type(obj).__name__} has no {', '.join(missing)}; derive it from "
                         "aelab.Callback, which has every hook")
    if callable(obj):
        return EpochEndFunction(obj)
    raise AelabError(f"callbacks: a {type(obj).__name__} is neither an aelab.Callback nor a function "
                     "f(trainer, row); give a list of those")
