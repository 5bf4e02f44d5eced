"""One sweep trial in a child process of its own, watched by a thread of its parent (the local
pool in the `aelab sweep` process, or a task on a cluster worker):

- the child dies with its parent (kill -9 included), so no trial outlives the sweep or worker
  that started it;
- the parent stops the child whenever asked (Ctrl-C, a cancelled task): SIGTERM, then SIGKILL
  after STOP_GRACE seconds. An interrupted trial resumes from its checkpoint on the next run;
- the child runs in a session of its own, so a Ctrl-C in the terminal reaches only the parent,
  which ends with one line instead of a traceback from every trial;
- the child's log (<sweep>/logs/<trial>.log, appended to by every attempt) is also its lock:
  a retried attempt waits until an earlier attempt at the same trial has exited.

    python -m aelab.experiments.trial_process RUN_DIR PARENT_PID  < {"config", "threads", "figures", "evaluation"}
"""

from __future__ import annotations

import json
import logging
import os
import signal
import site
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import aelab
from aelab import files
from aelab.errors import AelabError
from aelab.experiments.trial import run_trial

STOP_GRACE = 5.0  # seconds a stopped trial gets to exit after SIGTERM
POLL = 0.2  # seconds between looks at the child and at the stop request
FAILED, ERROR = 1, 2  # child exit codes: an unexpected exception; an AelabError (bad input)


class TrialStopped(Exception):
    """The trial was stopped from outside before it finished; it resumes on the next run."""


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def run_in_child(config: dict, run: Path, threads: int | None, figures: bool, log_path: Path,
                 stop: Callable[[], bool], evaluation: dict | None = None) -> None:
    """Run the trial in a child process and wait for it; raise TrialStopped as soon as stop()
    is true (the child stopped first), AelabError when the trial fails."""
    if stop():
        raise TrialStopped(run.name)
    files.make_folder(log_path.parent)
    payload = json.dumps({"config": config, "threads": threads, "figures": figures,
                          "evaluation": evaluation or {}}).encode()
    # Appended to, never through a link planted where the log goes (O_NOFOLLOW).
    with os.fdopen(files.open_new(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab") as log_file:
        child = subprocess.Popen([sys.executable, "-m", "aelab.experiments.trial_process", str(run), str(os.getpid())],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file,
                                 start_new_session=True, env=_child_environment())
    try:
        try:
            child.stdin.write(payload)
            child.stdin.close()
        except BrokenPipeError:  # the child died at once; its exit code says why
            pass
        while True:
            try:
                child.wait(POLL)
                break
            except subprocess.TimeoutExpired:
                if stop():
                    raise TrialStopped(run.name) from None
        message = child.stdout.read().decode(errors="replace").strip()
    finally:
        if child.poll() is None:  # stopped, interrupted, or this thread failed
            _terminate(child)
        child.stdout.close()
    if child.returncode == 0:
        return
    if child.returncode == ERROR and message:
        raise AelabError(f"trial {run.name}: {message}")
    why = message or (f"killed by signal {-child.returncode}" if child.returncode < 0
                      else f"exit code {child.returncode}")
    raise AelabError(f"trial {run.name} failed: {why} (its log: {log_path})")


def _terminate(child: subprocess.Popen) -> None:
    child.terminate()
    try:
        child.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _child_environment() -> dict[str, str]:
    """This environment, with aelab importable in the child even when the parent found it through
    sys.path changes of its own (a source checkout, a test runner)."""
    env = dict(os.environ)
    root = str(Path(aelab.__file__).resolve().parent.parent)
    site_dirs = {str(Path(p).resolve()) for p in [*site.getsitepackages(), site.getusersitepackages()]}
    if root not in site_dirs:  # never put site-packages ahead of the standard library
        env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return env


# ---------------------------------------------------------------------------------- the child

def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(FAILED)

    def watch() -> None:  # where prctl does not exist
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(FAILED)

    threading.Thread(target=watch, daemon=True).start()


def _lock_log() -> None:
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no lock
        return
    try:
        fcntl.flock(sys.stderr.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        logging.getLogger("aelab").info("waiting for an earlier attempt at this trial to exit")
        fcntl.flock(sys.stderr.fileno(), fcntl.LOCK_EX)


def main() -> int:
    run, parent = Path(sys.argv[1]), int(sys.argv[2])
    _die_with_parent(parent)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s pid %(process)d %(name)s: %(message)s")
    _lock_log()
    payload = json.loads(sys.stdin.read())
    logging.getLogger("aelab").info("trial %s starting", run)
    try:
        run_trial(payload["config"], str(run), payload["threads"], payload["figures"], payload.get("evaluation"))
    except AelabError as e:
        print(str(e)[:2000], flush=True)
        return ERROR
    except Exception as e:  # noqa: BLE001 - reported to the parent as one line, the traceback in the log
        logging.getLogger("aelab").exception("trial %s failed", run)
        print(f"{type(e).__name__}: {e}"[:2000], flush=True)
        return FAILED
    logging.getLogger("aelab").info("trial %s finished", run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
