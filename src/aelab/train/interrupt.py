"""Ctrl-C and SIGTERM during training: noted, and acted on at the next batch boundary, where the
training loop saves a checkpoint it can resume exactly. A second signal stops at once.

Only the main thread can catch signals; elsewhere (a worker thread, a notebook kernel's helper
thread) nothing is installed and KeyboardInterrupt arrives as usual.
"""

from __future__ import annotations

import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Raised at a batch boundary after Ctrl-C or SIGTERM; the loop's state is consistent there."""


class DeferredInterrupts:
    """`with DeferredInterrupts() as stop:` ... `if stop.requested: ...` between batches."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested: int | None = None  # the signal number received
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "DeferredInterrupts":
        if self.enabled:
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._note)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _note(self, signum, frame) -> None:
        if self.requested is not None:  # asked twice: do not wait for the batch to end
            raise KeyboardInterrupt
        self.requested = signum
