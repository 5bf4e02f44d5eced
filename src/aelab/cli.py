"""The `aelab` command. Each module in COMMANDS adds its sub-commands with `add_commands(sub)`;
a handler takes the parsed arguments and returns an exit code. Bad input of any kind ends in one
line on stderr and exit code 2, never a traceback; so does a failing disk or an unexpected error
(exit 1), unless --debug asks for the traceback. Ctrl-C and SIGTERM end with one line and 130."""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import signal
import sys
import threading

from aelab import trust
from aelab.errors import AelabError

COMMANDS = [
    "aelab.commands.train",
    "aelab.commands.datasets",
    "aelab.commands.explore",
    "aelab.commands.fit_sampler",
    "aelab.commands.sweep",
    "aelab.commands.evaluate",
    "aelab.commands.anomalies",
    "aelab.commands.serve",
    "aelab.commands.summary",
    "aelab.commands.compare",
    "aelab.commands.export",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + error
        raise AelabError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aelab", description="Train, compare and explore autoencoders on image data.")
    parser.add_argument("--version", action="version", version=f"aelab {_version()}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(name).add_commands(sub)
    for name, command in sub.choices.items():
        # -q and --debug read the same before or after the command (aelab evaluate RUN -q);
        # SUPPRESS: absent here, the value given before the command stands.
        command.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                             help="only warnings and errors")
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show the full traceback of an error")
        if name not in NO_RUNS:
            command.add_argument("--trust-code", action="store_true",
                                 help="import the network factories (model.encoder / model.decoder import "
                                      "paths) that a saved run names: only for runs you trust, as importing "
                                      "runs their code (your own --config's factories need no flag)")
    return parser


NO_RUNS = ("datasets",)  # commands that never read a run folder: no --trust-code


def _version() -> str:
    from aelab import __version__

    return __version__


def _remove_logging() -> None:
    """main()'s handler leaves with it: a later log line (a notebook, the next test) must not go to
    the sys.stderr of a call that is over, which may be closed by then."""
    log = logging.getLogger("aelab")
    for handler in [h for h in log.handlers if getattr(h, "_aelab_cli", False)]:
        log.removeHandler(handler)


def _setup_logging(quiet: bool) -> None:
    log = logging.getLogger("aelab")
    # Replace, not add: main() may run many times in one process (tests, notebooks), each time
    # with the sys.stderr of that moment.
    _remove_logging()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("aelab: %(message)s"))
    handler._aelab_cli = True
    log.addHandler(handler)
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    logging.captureWarnings(True)


MAX_MESSAGE = 1000  # characters of an error line: a huge value in a config is not echoed whole


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    restore = _terminate_as_interrupt()
    try:
        parser = build_parser()
        if not argv:  # bare `aelab`: what it can do, not a training run started by surprise
            parser.print_help()
            return 0
        args = parser.parse_args(argv)
        _setup_logging(args.quiet)
        if args.command is None:
            parser.print_help()
            return 2
        # No program of the user's runs here: a factory a saved run names is imported only with
        # --trust-code (trust.py), whatever this process has imported.
        with trust.policy(everything=getattr(args, "trust_code", False), imported=False):
            return int(args.handler(args) or 0)
    except AelabError as e:
        if debug:
            raise
        _error(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        if debug:
            raise
        print("aelab: interrupted", file=sys.stderr)
        return 130
    except OSError as e:
        if debug:
            raise
        _error(describe_os_error(e))
        return 2 if e.errno in _USER_FIXABLE else 1
    except (MemoryError, RecursionError) as e:
        if debug:
            raise
        _error(f"{type(e).__name__}: the input is too large or too deeply nested for this machine "
               f"({str(e)[:200]}); make it smaller (aelab --debug shows where)")
        return 2
    except Exception as e:  # a bug: still one line, and the way to see more
        if debug:
            raise
        text = str(e).splitlines()[0] if str(e) else ""
        _error(f"unexpected {type(e).__name__}: {text}; run again with aelab --debug ... for the "
               "traceback and please report it")
        return 1
    finally:
        restore()
        _remove_logging()


def _error(message: str) -> None:
    message = " ".join(message.split("\n"))
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + f" ... ({len(message) - MAX_MESSAGE} more characters)"
    print(f"aelab: error: {message}", file=sys.stderr)


def _terminate_as_interrupt():
    """SIGTERM (kill, a scheduler's time limit) ends like Ctrl-C: training saves a checkpoint.
    Returns what puts the previous handler back."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may
        return lambda: None

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


_USER_FIXABLE = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT,
                 errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.ELOOP, errno.EFBIG}


def describe_os_error(e: OSError) -> str:
    """One line for a failing file operation: which file, what happened, what to do."""
    from aelab.files import target_of

    where = target_of(str(e.filename)) if e.filename is not None else "a file"
    what = e.strerror or str(e)
    hints = {
        errno.ENOSPC: "the disk is full: free some space, then run again (a run with a checkpoint "
                      "continues with aelab train --resume RUN; the checkpoint is intact)",
        errno.EDQUOT: "the disk quota is used up: free some space, then run again",
        errno.EFBIG: "the file is larger than this system allows (ulimit -f?)",
        errno.EROFS: "that place is read-only: give a writable folder (--out, --runs-dir) or copy the run "
                     "somewhere writable",
        errno.EACCES: "no permission: give a folder you can write to (--out, --runs-dir)",
        errno.EPERM: "not permitted: give a folder you can write to (--out, --runs-dir)",
        errno.ENOTDIR: "a part of that path is a file, not a folder: give another path",
        errno.EEXIST: "it already exists: give a new name",
        errno.ENAMETOOLONG: "the name is too long: give a shorter one",
        errno.ELOOP: "too many symbolic links (a link pointing to itself?)",
    }
    hint = hints.get(e.errno, "check the path and its permissions")
    return f"{where}: {what}; {hint}"
