"""`aelab datasets`: the dataset names `data.dataset` accepts, and whether each loads offline now."""

from __future__ import annotations

import argparse

from aelab.errors import AelabError

# Modules that load torch, scikit-learn or the data are imported inside the handlers, so that
# `aelab --help` and `--version` start in well under a second.


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
    width = max(len(name) for name in LOADERS)
    print(f"{'NAME':<{width}}  OFFLINE  DESCRIPTION")
    for name, (_, description) in LOADERS.items():
        ready = "yes" if available(name, args.path) else "no"
        print(f"{name:<{width}}  {ready:<7}  {description}")
        print(f"{'':<{width}}           {where(name, args.path)}")
    print(f"\ndownloads and caches go to {download.cache_root()} (set AELAB_DATA_DIR to change; "
          f"AELAB_OFFLINE=1 never downloads)")
    return 0
