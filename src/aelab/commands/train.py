"""`aelab train`: run a config (the default one with no arguments) into a new run folder."""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

from aelab.errors import AelabError, StoppedBySignal
from aelab.layout import RUNS_ROOT

# aelab modules that load torch, pydantic or scikit-learn are imported inside the handlers, so that
# `aelab --help` and `--version` start in well under a second.

log = logging.getLogger("aelab")


def add_commands(sub) -> None:
    p = sub.add_parser("train", help="train a model from a config file (default: a 2-D VAE on digits)",
                       description="Train a model. With no config, a VAE with a 2-D latent space on "
                                   "scikit-learn's digits.")
    p.add_argument("--config", "-c", help="a JSON (or YAML) config file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set training.epochs=5 (repeatable)")
    p.add_argument("--out", help="the run folder to create (default: runs/<name>-<time>)")
    p.add_argument("--runs-dir", default=RUNS_ROOT, help="where new run folders go (default: runs)")
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
        code = _run(args, distributed)
    except BaseException:
        distributed.teardown(finished=False)
        raise
    distributed.teardown()
    return code


def _config(path: str | None, overrides: list[str]):
    """The config to train; a sweep file (one with a 'sweep' section) gives its first trial, and
    says which and how to run the others."""
    from aelab.config import load_config, read_config_file, set_dotted, validate_config
    from aelab.experiments.sweep import read_sweep_spec

    if path is None or "sweep" not in read_config_file(path):
        return load_config(path, overrides)

    spec = read_sweep_spec(path)
    base, grid, folds = spec.base, spec.grid, spec.folds
    first = {**(spec.variants[0].settings if spec.variants else {}),
             **{key: values[0] for key, values in grid.items()}}
    for key, value in first.items():
        set_dotted(base, key, value)
    validate_config(base, source=str(path))  # the file's own mistakes, named as the file's
    config = load_config(None, overrides, base=base)
    given = {item.partition("=")[0].strip() for item in overrides}
    chosen = ", ".join(f"{k}={json.dumps(v)}" for k, v in first.items() if k not in given) or "the base config"
    trials = math.prod(len(v) for v in grid.values()) * folds * max(1, len(spec.variants))
    log.warning("%s is a sweep of %d trials; training one: %s (pick another with --set KEY=VALUE; "
                "run them all with: aelab sweep %s)", path, trials, chosen, path)
    return config


def _run(args: argparse.Namespace, distributed) -> int:
    from aelab import runs
    from aelab.config import load_config, read_config_file
    from aelab.run import Run

    if args.resume:
        if args.config or args.out or args.name:
            raise AelabError("--resume continues a run with its own config; drop --config, --out and --name")
        run_dir = Run.check_resumable(args.resume)
        changed = [o for o in args.overrides if not o.strip().startswith("training.")]
        if changed:  # checked before anything is read or written: the run stays resumable
            raise AelabError(f"--resume keeps the run's data and model; only training.* settings can change "
                             f"(e.g. --set training.epochs=200), not {changed[0].partition('=')[0]}")
        config = load_config(None, args.overrides, base=read_config_file(run_dir / runs.CONFIG))
        return _train(args, distributed, config, run_dir)  # its factories run only with --trust-code
    from aelab import trust

    config = _config(args.config, args.overrides)
    with trust.allowing(config.model.encoder, config.model.decoder):  # the user's own config
        return _train(args, distributed, config, None)


def _train(args: argparse.Namespace, distributed, config, run_dir: Path | None) -> int:
    from aelab.experiments.train_run import train_run
    from aelab.run import Run
    from aelab.models.registry import model_class
    from aelab.train.schedules import check_model_type

    # An unknown model type, or schedules it cannot take, stop here, before any folder is made.
    check_model_type(config.training, model_class(config.model.type), config.model.type)
    from aelab.models.samplers import check_options

    check_options(config.model)  # so do misspelt sampler settings (model.sampler_options)
    from aelab.models.autoencoder import parse_options

    parse_options(model_class(config.model.type), config.model, before_data=True)  # and the type's model.options
    model_class(config.model.type).check_config(config.model)  # and a latent space the type cannot have
    # Under torchrun every rank gets here; rank 0 alone makes or changes the run folder.
    context = distributed.setup(config.training.device) if distributed else None
    main = context is None or context.is_main
    if not main:
        log.setLevel(logging.WARNING)
    run = None  # rank 0's hold on the run folder
    if main:
        run = (Run.resume(run_dir) if args.resume  # refused while another process trains in it
               else Run.claim(args.out) if args.out else Run.create(args.runs_dir, config, args.name))
        run_dir = run.path
    if context is not None:
        run_dir = Path(distributed.share(str(run_dir) if main else None, context))
        log.info("%d processes (%s), global batch %d", context.world_size, context.backend,
                 config.training.batch_size)
    log.info("run folder: %s", run_dir)
    try:
        metrics = train_run(config, run or run_dir, resume=bool(args.resume), progress=not args.no_progress,
                            figures=not args.no_figures, context=context)
    except BaseException as e:
        if not main:
            raise
        # Nothing trained yet (no checkpoint): a new run leaves nothing behind (Run.fail_cleanup);
        # a folder the user made stays, empty.
        undone = run.fail_cleanup()
        if isinstance(e, KeyboardInterrupt) and undone:
            raise StoppedBySignal("interrupted before the first checkpoint; nothing was saved") from None
        if isinstance(e, KeyboardInterrupt):
            raise StoppedBySignal(f"interrupted; the checkpoint is saved: continue with aelab train --resume {run_dir}") from None
        raise
    finally:
        if main:
            run.release()
    if not main:
        return 0
    test = metrics["test"]
    shown = {k: round(v, 4) for k, v in test.items() if k in ("loss", "reconstruction_loss", "kl", "mse", "psnr", "pixel_accuracy", "max_wrong_pixels")}
    log.info("test: %s", json.dumps(shown))
    log.info("%d epochs (best %d) in %.1f s, %.0f samples/s", metrics["epochs_run"], metrics["best_epoch"],
             metrics["train_seconds"], metrics["samples_per_second"])
    print(run_dir)
    return 0

