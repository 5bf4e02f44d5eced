"""`aelab sweep CONFIG --grid KEY=V1,V2 ... [--folds K] [--jobs N | --cluster ADDRESS]`: every
combination, k-fold, resumable, summarised in results.csv, results.md and figures."""

from __future__ import annotations

import argparse
import copy
from datetime import datetime
from pathlib import Path

from aelab import layout
from aelab.errors import AelabError, StoppedBySignal

# aelab modules that load torch or pydantic are imported inside the handler: `aelab --help` starts fast.


def add_commands(sub) -> None:
    p = sub.add_parser("sweep", help="train every combination of a grid of settings (with k-fold CV) and compare",
                       description="Run a grid of configurations, each fold a normal run folder under one "
                                   "sweep folder. Running the same command again with the same --out skips "
                                   "finished trials. The config file may hold the grid itself in a 'sweep' "
                                   "section: {\"sweep\": {\"grid\": {\"model.type\": [\"ae\", \"vae\"]}, \"folds\": 5}} "
                                   "(and \"cluster\": a Dask scheduler's address; \"variants\": named sets of settings crossed "
                                   "with the grid, e.g. one per model type; \"evaluate\": {\"nll_samples\": K, "
                                   "\"fd_samples\": N} adds the importance-sampled NLL and the Fréchet distance "
                                   "of N samples to every trial's test metrics).")
    p.add_argument("config", help="the base config (JSON or YAML), optionally with a 'sweep' section")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="a swept setting, e.g. --grid model.latent_dim=2,8,16 (repeatable; "
                        "JSON lists keep commas: --grid 'model.encoder_topology=[[35,50,2],[35,50,12]]')")
    p.add_argument("--folds", type=int, help="k-fold cross-validation on the training set (default: the "
                                             "file's sweep.folds, or 1: no CV, test on the test set)")
    p.add_argument("--jobs", type=int, default=1, help="trials run in parallel processes; each gets "
                                                       "cores // jobs torch threads (default 1)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="run the trials on the Dask cluster whose scheduler is at ADDRESS, e.g. "
                        "tcp://10.0.0.5:8786 (default: the file's sweep.cluster, or this machine); "
                        "needs pip install 'aelab[cluster]' and the sweep folder on a filesystem every "
                        "worker sees at the same path")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a base config value, e.g. --set training.epochs=5")
    p.add_argument("--out", help="the sweep folder (default: sweeps/<name>-<time>); an existing sweep "
                                 "folder of the same sweep is resumed")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from aelab.config import load_config, parse_value, set_dotted
    from aelab.experiments.sweep import parse_grid, read_sweep_spec, run_sweep

    spec = read_sweep_spec(args.config)
    base, grid = spec.base, spec.grid
    grid.update(parse_grid(args.grid))
    clash = sorted({k for v in spec.variants for k in v.settings} & set(grid))
    if clash:
        raise AelabError(f"--grid {clash[0]}: the file's sweep.variants set it; sweep it in one place only")
    folds = args.folds if args.folds is not None else spec.folds
    if folds < 1:
        raise AelabError(f"--folds {folds}: give 1 (no cross-validation) or more")
    if args.jobs < 1:
        raise AelabError(f"--jobs {args.jobs}: give 1 or more")
    cluster = args.cluster.strip() if args.cluster is not None else spec.cluster
    if args.cluster is not None and not cluster:
        raise AelabError("--cluster needs a Dask scheduler's address, e.g. --cluster tcp://10.0.0.5:8786")
    if cluster and args.jobs > 1:
        raise AelabError(f"--jobs {args.jobs} and a cluster ({cluster}): the cluster's workers decide how many "
                         "trials run at once (dask worker --nthreads); drop --jobs")
    base = copy.deepcopy(base)
    for item in args.overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise AelabError(f"--set {item!r}: expected KEY=VALUE, e.g. --set training.epochs=5")
        set_dotted(base, key.strip(), parse_value(value))
    config = load_config(None, [], base=base)  # fails early on a bad base config
    out = Path(args.out) if args.out else Path(layout.SWEEPS_ROOT) / (
        f"{config.name or Path(args.config).stem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}")
    try:
        rows = run_sweep(base, grid, folds, out, jobs=args.jobs, cluster=cluster, variants=spec.variants,
                         evaluation=spec.evaluation)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: exit 130, as a shell says
        raise StoppedBySignal(f"interrupted; run the same command with --out {out} to finish the sweep "
                              "(finished trials are kept)") from None
    print((out / layout.RESULTS_MD).read_text())
    print(out)
    return 0 if rows else 1
