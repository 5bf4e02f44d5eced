"""`aelab sweep --jobs N`: N trials at a time on this machine, each in a child process watched by
a thread (see trial_process). Ctrl-C stops the running trials and starts no queued one; a killed
`aelab sweep` takes its trials with it."""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Callable

from aelab.experiments.trial_process import available_cores, run_in_child
from aelab.layout import TRIAL_LOG


def run_local(todo: list, jobs: int, log_dir, report: Callable[[int, int, int], None],
              evaluation: dict | None = None) -> None:
    """Run every trial of `todo` (sweep.Trial), `jobs` at a time; report(finished, running, queued)
    after each change. The first failing trial stops the others and raises its error."""
    threads = max(1, available_cores() // jobs)  # each trial gets its share of the cores
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="aelab-trial") as pool:
        pending = {pool.submit(run_in_child, t.config.to_dict(), t.run, threads, t.fold in (None, 0),
                               log_dir / TRIAL_LOG.format(trial=t.run.name), stop.is_set, evaluation) for t in todo}
        finished = 0
        try:
            while pending:
                done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()  # a failed trial's AelabError
                    finished += 1
                running = sum(f.running() for f in pending)
                report(finished, running, len(pending) - running)
        except BaseException:  # Ctrl-C or a failed trial: stop the rest, wait until they have
            stop.set()
            for future in pending:
                future.cancel()
            raise
