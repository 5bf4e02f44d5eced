"""`aelab summary RUN`: the model's layers, output shapes and parameter counts."""

from __future__ import annotations

import argparse


def add_commands(sub) -> None:
    p = sub.add_parser("summary", help="the model's layers with output shapes and parameter counts",
                       description="Print a run's model layer by layer (output shape per image, "
                                   "parameters), like Keras' summary().")
    p.add_argument("run", metavar="RUN", help="a run folder written by aelab train, or a model .safetensors")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from aelab import runs
    from aelab.models.summary import format_summary

    model, _, _ = runs.load_model(args.run)
    print(format_summary(model))
    return 0
