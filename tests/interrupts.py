"""Ctrl-C for tests: SIGINT to this process once a condition holds, delivered to the main thread
as a terminal delivers it to its foreground job."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Callable


class InterruptWhen:
    def __init__(self, condition: Callable[[], bool], timeout: float = 120):
        self.condition, self.timeout = condition, timeout
        self.sent_at: float | None = None
        self.timed_out = False
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> "InterruptWhen":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._thread.join()

    def _watch(self) -> None:
        deadline = time.monotonic() + self.timeout
        while not self.condition():
            if time.monotonic() > deadline:
                self.timed_out = True  # interrupt anyway, so that the test ends
                break
            time.sleep(0.05)
        self.sent_at = time.monotonic()
        os.kill(os.getpid(), signal.SIGINT)
