"""The `aelab` command. Each module in COMMANDS adds its sub-commands with `add_commands(sub)`;
a handler takes the parsed arguments and returns an exit code. Bad input of any kind ends in one
line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from aelab.errors import AelabError

COMMANDS = [
    "aelab.commands.train",
    "aelab.commands.datasets",
    "aelab.commands.explore",
    "aelab.commands.sweep",
    "aelab.commands.evaluate",
    "aelab.commands.anomalies",
    "aelab.commands.serve",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + error
        raise AelabError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aelab", description="Train, compare and explore autoencoders on image data.")
    parser.add_argument("--version", action="version", version=f"aelab {_version()}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(name).add_commands(sub)
    return parser


def _version() -> str:
    from aelab import __version__

    return __version__


def _setup_logging(quiet: bool) -> None:
    log = logging.getLogger("aelab")
    # Replace, not add: main() may run many times in one process (tests, notebooks), each time
    # with the sys.stderr of that moment.
    for handler in [h for h in log.handlers if getattr(h, "_aelab_cli", False)]:
        log.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("aelab: %(message)s"))
    handler._aelab_cli = True
    log.addHandler(handler)
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    logging.captureWarnings(True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv or ["train"])  # no arguments: the default run
        _setup_logging(args.quiet)
        if args.command is None:
            parser.print_help()
            return 2
        return int(args.handler(args) or 0)
    except AelabError as e:
        print(f"aelab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aelab: interrupted", file=sys.stderr)
        return 130
