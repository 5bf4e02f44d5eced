"""`aelab compare RUN RUN ...`: a table and overlaid loss curves of several runs, also as HTML."""

from __future__ import annotations

import argparse


def add_commands(sub) -> None:
    p = sub.add_parser("compare", help="compare runs: a table of what each reached and their loss curves",
                       description="Compare two or more runs: writes compare.csv, compare.md, loss.png "
                                   "(the loss curves overlaid) and index.html into a new folder.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders written by aelab train")
    p.add_argument("--out", help="the folder to write (new or empty; default: comparisons/compare-<time>)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from aelab import runs
    from aelab.experiments.compare import collect, markdown_table, new_folder, write_comparison

    rows, histories = collect(args.runs)  # every run checked before anything is written
    out = runs.claim_dir(args.out) if args.out else new_folder()
    write_comparison(rows, histories, out)
    print(markdown_table(rows, list(dict.fromkeys(k for row in rows for k in row))))
    print(out)
    runs.release(out, remove_lock=True)  # a finished comparison, not a run in progress
    return 0
