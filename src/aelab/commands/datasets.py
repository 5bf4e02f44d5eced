"""`aelab datasets`: the dataset names `data.dataset` accepts, and whether each loads offline now."""

from __future__ import annotations

import argparse

from aelab.errors import AelabError

# Modules that load torch, scikit-learn or the data are imported inside the handlers, so that
# `aelab --help` and `--version` start in well under a second.


HEADER = ("NAME", "OFFLINE", "WHERE", "WHAT")


def add_commands(sub) -> None:
    p = sub.add_parser("datasets", help="list the datasets and where each is found on this machine",
                       description="List the names data.dataset accepts, what they are, and whether "
                                   "each can be loaded offline now (and from where).")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="data.path=DIR",
                   help="also check this folder, as the config's data.path would be: --set data.path=DIR")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from aelab.data import download
    from aelab.data.registry import LOADERS, available, where

    path = None
    for item in args.overrides:
        key, _, value = item.partition("=")
        if key != "data.path" or not value:
            raise AelabError(f"--set {item}: aelab datasets takes only --set data.path=DIR")
        path = value
    args.path = path
    rows = [(name, "yes" if available(name, args.path) else "no", where(name, args.path), description)
            for name, (_, description) in LOADERS.items()]
    widths = [max(len(row[i]) for row in rows + [HEADER]) for i in range(3)]
    for row in [HEADER, *rows]:  # one line per dataset: where it is found, then what it is
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[3])
    print(f"\ndownloads and caches go to {download.cache_root()} (set AELAB_DATA_DIR to change; "
          f"AELAB_OFFLINE=1 never downloads)")
    return 0
