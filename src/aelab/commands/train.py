"""`aelab train`: run a config (the default one with no arguments) into a new run folder."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path

from aelab import runs
from aelab.config import load_config, read_config_file
from aelab.errors import AelabError

log = logging.getLogger("aelab")


def add_commands(sub) -> None:
    p = sub.add_parser("train", help="train a model from a config file (default: a 2-D VAE on digits)",
                       description="Train a model. With no config, a VAE with a 2-D latent space on "
                                   "scikit-learn's digits.")
    p.add_argument("--config", "-c", help="a JSON (or YAML) config file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set training.epochs=5 (repeatable)")
    p.add_argument("--out", help="the run folder to create (default: runs/<name>-<time>)")
    p.add_argument("--runs-dir", default="runs", help="where new run folders go (default: runs)")
    p.add_argument("--name", help="the run folder's name under --runs-dir")
    p.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel training across the processes torchrun starts (automatic under "
                        "torchrun): torchrun --nproc-per-node N -m aelab train ...")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from aelab.train import distributed

    if not (args.distributed or distributed.launched_by_torchrun()):
        return _run(args, None)
    distributed.launcher_environment()  # a clear error before anything else if it is incomplete
    try:
        return _run(args, distributed)
    finally:
        distributed.teardown()


def _run(args: argparse.Namespace, distributed) -> int:
    from aelab.train.pipeline import train_run

    if args.resume:
        run_dir = Path(args.resume)
        if args.config or args.out or args.name:
            raise AelabError("--resume continues a run with its own config; drop --config, --out and --name")
        if not (run_dir / runs.CHECKPOINT).is_file():
            raise AelabError(f"{run_dir} has no {runs.CHECKPOINT} to resume from; is it an aelab run folder?")
        config = load_config(None, args.overrides, base=read_config_file(run_dir / runs.CONFIG))
    else:
        config = load_config(args.config, args.overrides)
    # Under torchrun every rank gets here; rank 0 alone makes or changes the run folder.
    context = distributed.setup(config.training.device) if distributed else None
    main = context is None or context.is_main
    if not main:
        log.setLevel(logging.WARNING)
    if main and args.resume and args.overrides:
        runs.write_json(run_dir / runs.CONFIG, config.to_dict())
    if main and not args.resume:
        run_dir = runs.claim_dir(args.out) if args.out else runs.new_run_dir(args.runs_dir, config, args.name)
    if context is not None:
        run_dir = Path(distributed.share(str(run_dir) if main else None, context))
        log.info("%d processes (%s), global batch %d", context.world_size, context.backend,
                 config.training.batch_size)
    log.info("run folder: %s", run_dir)
    try:
        metrics = train_run(config, run_dir, resume=bool(args.resume), progress=not args.no_progress,
                            figures=not args.no_figures, context=context)
    except BaseException as e:
        if not main:
            raise
        if not (run_dir / runs.CHECKPOINT).is_file():
            # Nothing trained yet: leave no half-made run folder behind (it was ours, fresh).
            shutil.rmtree(run_dir, ignore_errors=True)
            if isinstance(e, KeyboardInterrupt):
                raise AelabError("interrupted before the first epoch ended; nothing was saved") from None
        elif isinstance(e, KeyboardInterrupt):
            raise AelabError(f"interrupted; continue with: aelab train --resume {run_dir}") from None
        raise
    if not main:
        return 0
    test = metrics["test"]
    shown = {k: round(v, 4) for k, v in test.items() if k in ("loss", "reconstruction_loss", "kl", "mse", "psnr", "pixel_accuracy", "max_wrong_pixels")}
    log.info("test: %s", json.dumps(shown))
    log.info("%d epochs (best %d) in %.1f s, %.0f samples/s", metrics["epochs_run"], metrics["best_epoch"],
             metrics["train_seconds"], metrics["samples_per_second"])
    print(run_dir)
    return 0
