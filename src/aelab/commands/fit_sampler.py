"""`aelab fit-sampler RUN --sampler NAME`: fit (or fit again) a sampler of a finished run's codes
without training the model again, and store it in the run folder (sampler_<kind>.safetensors);
`aelab generate RUN --sampler NAME` and `aelab serve` then draw from it."""

from __future__ import annotations

import argparse

from aelab.vocabulary import STORED_SAMPLERS


def add_commands(sub) -> None:
    help_text = "fit a sampler to a trained run's codes (a flow, a second-stage VAE, a diffusion model, ...) and store it"
    p = sub.add_parser("fit-sampler", help=help_text, description=help_text + ". Its settings come from the "
                       "run's model.sampler_options; a stored one is replaced.")
    p.add_argument("run", metavar="RUN", help="a run folder written by aelab train")
    p.add_argument("--sampler", required=True, choices=STORED_SAMPLERS,
                   help="which sampler: flow, two_stage, diffusion (learned, up to ~2 minutes), gaussian, gmm")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from aelab import stored_samplers
    from aelab.explore.context import open_run
    from aelab.run import Run

    ctx = open_run(args.run)
    with Run.hold(ctx.folder):  # not while a training (--resume) works in the folder
        codes = ctx.train_codes
        fitted = stored_samplers.fit(ctx.model, args.sampler, codes, ctx.seed, progress=not args.no_progress)
        path = stored_samplers.save(ctx.folder, fitted, ctx.model, ctx.seed)
    print(f"{path} ({fitted.description}, fitted to {len(codes)} codes in {fitted.fit_seconds:.1f} s)")
    return 0
