"""`aelab sweep --cluster ADDRESS`: every unfinished trial becomes a task on an existing Dask
(distributed) cluster, whose workers share the sweep folder's filesystem at the same path.

On a worker, the task runs the trial in a child process (see trial_process) and watches it:
- a worker that dies takes its child with it; Dask's scheduler gives the task to another worker,
  where the trial resumes from its checkpoint (up to the scheduler's allowed-failures, 3);
- a cancelled task (Ctrl-C here, or this process gone) stops its child within a second;
- each worker runs as many trials at once as it has threads (`dask worker --nthreads`), each
  trial with the machine's cores // (the threads of all workers on it) torch threads, unless
  training.threads says otherwise.
"""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import aelab
from aelab.errors import AelabError
from aelab.experiments.trial_process import STOP_GRACE, available_cores, run_in_child
from aelab.layout import TRIAL_LOG

try:
    import distributed
    from distributed.comm import get_address_host
    from distributed.core import Status
except ImportError:  # the optional extra: aelab[cluster]
    distributed = None

CONNECT_SECONDS = 10
SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")
POLL = 0.5  # seconds between looks at the tasks
STATE_SECONDS = 2.0  # seconds between asking the workers which trials are running


def run_on_cluster(client, todo: list, spec: Path, log_dir: Path, report: Callable[[int, int, int], None],
                   evaluation: dict | None = None) -> None:
    """Run every trial of `todo` (sweep.Trial) on the cluster; report(finished, running, queued).
    `spec` is the sweep folder's sweep.json, which every worker must see at that (absolute) path.
    A failing trial, Ctrl-C or any error cancels the rest and waits until none is running."""
    check_workers(client, spec)
    slots = trial_slots(client)
    tag = uuid.uuid4().hex[:8]  # fresh keys: a re-run never meets a cancelled task of an earlier one
    # Absolute paths: a worker's working folder is its own.
    futures = [client.submit(cluster_trial, t.config.to_dict(), str(t.run.resolve()), t.fold in (None, 0),
                             str(log_dir / TRIAL_LOG.format(trial=t.run.name)), str(spec), slots, evaluation,
                             key=f"aelab-{t.run.name}-{tag}",
                             pure=False) for t in todo]
    try:
        _wait(client, futures, report)
    except BaseException:
        try:
            client.cancel(futures)
        except Exception:  # noqa: BLE001 - the scheduler is gone: its workers stop their trials themselves
            pass
        _wait_until_stopped(client, [f.key for f in futures])
        raise


@contextmanager
def connect(address: str):
    """A client of the Dask scheduler at `address`, closed on leaving; one line if there is none."""
    if distributed is None:
        raise AelabError("--cluster needs Dask's distributed scheduler; install it with pip install 'aelab[cluster]'")
    scheme = address.partition("://")[0] if "://" in address else "tcp"
    if scheme not in SCHEMES:
        raise AelabError(f"--cluster {address}: give the scheduler's address as tcp://HOST:PORT "
                         f"(what `dask scheduler` prints), not a {scheme}:// address")
    try:
        client = distributed.Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise AelabError(f"--cluster {address}: no Dask scheduler answers there ({reason[:200]}); start one "
                         f"with `dask scheduler` and its workers with `dask worker {address}`") from None
    try:
        yield client
    finally:
        client.close()


def check_workers(client, spec: Path) -> None:
    """Every connected worker runs this aelab version and sees the sweep folder at the same path."""
    answers = client.run(_worker_sees, str(spec), on_error="return")
    blind = sorted(w for w, answer in answers.items() if not isinstance(answer, tuple) or not answer[1])
    if blind:
        raise AelabError(f"--cluster {client.scheduler.address}: worker(s) {', '.join(blind)} cannot run trials: "
                         f"they need aelab installed and the sweep folder {spec.parent} at the same path "
                         "(a shared filesystem)")
    other = sorted(f"{w} has aelab {answer[0]}" for w, answer in answers.items() if answer[0] != aelab.__version__)
    if other:
        raise AelabError(f"--cluster {client.scheduler.address}: this is aelab {aelab.__version__} but "
                         f"{', '.join(other)}; install the same version everywhere and restart the workers")


def trial_slots(client) -> dict[str, int]:
    """host -> how many trials its workers run at once (their threads, summed over the workers
    on that host), so that trials on one machine share its cores instead of each taking them all."""
    slots: dict[str, int] = {}
    for worker in client.scheduler_info()["workers"].values():
        slots[worker["host"]] = slots.get(worker["host"], 0) + worker["nthreads"]
    return slots


def _worker_sees(spec: str) -> tuple[str | None, bool]:
    """On each worker: (its aelab version or None, whether it sees the sweep folder)."""
    import importlib
    import os

    try:
        version = importlib.import_module("aelab").__version__
    except ImportError:
        version = None
    return version, version is not None and os.path.isfile(spec)


def _wait(client, futures: list, report: Callable[[int, int, int], None]) -> None:
    pending, finished, running, asked = set(futures), 0, 0, 0.0
    while pending:
        done = {f for f in pending if f.done()}
        for future in done:
            _result(future)
            finished += 1
        pending -= done
        if done or time.monotonic() - asked >= STATE_SECONDS:
            asked = time.monotonic()
            try:
                running = len(_executing(client, [f.key for f in pending]))
            except Exception:  # noqa: BLE001 - a worker died while asked: its tasks go back to the queue
                pass
        report(finished, min(running, len(pending)), max(0, len(pending) - running))
        if pending:
            time.sleep(POLL)


def _result(future) -> None:
    """The task's outcome: nothing, or its AelabError (raised on the worker), or one line on what
    the cluster did to it."""
    if future.cancelled():  # not by us: the scheduler lost it
        raise AelabError(f"the cluster dropped {future.key} (did its scheduler restart?); run the same command "
                         "again to finish the sweep")
    try:
        future.result()
    except distributed.KilledWorker as e:
        raise AelabError(f"{future.key}: every worker that ran this trial died ({e}); see its log in the "
                         "sweep's logs/ folder") from None


def _executing(client, keys: list) -> set:
    """The keys among `keys` that a worker is running now."""
    if not keys:
        return set()
    stacks = client.call_stack()  # everything running: asking for keys the scheduler forgot is an error
    return {key for worker in stacks.values() for key in worker} & set(keys)


def _wait_until_stopped(client, keys: list) -> None:
    deadline = time.monotonic() + STOP_GRACE + 10
    while time.monotonic() < deadline:
        try:
            if not _executing(client, keys):
                return
        except Exception:  # noqa: BLE001 - the scheduler is gone: its workers stop their trials themselves
            return
        time.sleep(POLL)


# ----------------------------------------------------------------------------- on a worker

def cluster_trial(config: dict, run: str, figures: bool, log_path: str, spec: str, slots: dict[str, int],
                  evaluation: dict | None = None) -> None:
    """The task: one trial in a child process of this worker, stopped when the task is cancelled."""
    worker = distributed.get_worker()
    key = worker.get_current_task()
    if not Path(spec).is_file():  # a worker that joined after check_workers
        raise AelabError(f"worker {worker.address} does not see the sweep folder {Path(spec).parent}: "
                         "it must be on a filesystem shared by every worker, at the same path")
    host = get_address_host(worker.address)
    threads = max(1, available_cores() // max(1, slots.get(host, worker.state.nthreads)))

    def cancelled() -> bool:
        task = worker.state.tasks.get(key)
        return task is None or task.state in ("cancelled", "released", "forgotten") or \
            worker.status in (Status.closing, Status.closed, Status.failed)

    run_in_child(config, Path(run), threads, figures, Path(log_path), cancelled, evaluation)
