"""history.csv while a run trains: `aelab serve` draws the loss curves of a run still training
from it (the final history.csv replaces it when the run ends).

Rewritten whole (temp + fsync + rename, as every run file) at most once a second and at the
last epoch, so a reader never sees half a file and a run of many short epochs does not spend its
time writing its history.
"""

from __future__ import annotations

import time
from pathlib import Path

from aelab import runs
from aelab.train.callbacks import Callback

EVERY_SECONDS = 1.0


class LiveHistory(Callback):
    """A Trainer callback: `Trainer(callbacks=[LiveHistory(run / runs.HISTORY)])`."""

    def __init__(self, path: Path, every_seconds: float = EVERY_SECONDS):
        self.path = Path(path)
        self.every = every_seconds
        self._written: float | None = None  # monotonic() of the last write

    def on_epoch_end(self, trainer, row: dict) -> None:
        state = trainer.state
        last = state.epoch >= trainer.config.training.epochs or state.stopped_early
        now = time.monotonic()
        if last or self._written is None or now - self._written >= self.every:
            runs.write_history(self.path, state.history)
            self._written = now
