"""`aelab generate | interpolate | traverse | animate | morph | arithmetic | denoise | latent | report`:
look at a trained run. Each writes into the run folder unless --out is given, and prints the path."""

from __future__ import annotations

import math
import re

from aelab.errors import AelabError
from aelab.vocabulary import (
    ANIMATION_PATHS, INTERPOLATION_METHODS, LATENT_MAP_METHODS, PRINCIPAL_ABOVE, SAMPLER_CHOICES,
    TRAVERSAL_DIRECTIONS as DIRECTIONS,
)

# Modules that load torch, scikit-learn or the data are imported inside the handlers, so that
# `aelab --help` and `--version` start in well under a second.

REF_HELP = "a test-set index (12, #12, -1) or a label (6, a; a label means a typical image of it)"


def add_commands(sub) -> None:
    def command(name, help_text, handler, out_help="the output file (default: in the run folder)"):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("run", metavar="RUN", help="a run folder written by aelab train")
        p.add_argument("--out", help=out_help)
        p.set_defaults(handler=handler)
        return p

    p = command("generate", "a grid of new images, drawn by the run's sampler (--sampler to choose another)",
                _generate)
    p.add_argument("-n", type=int, default=64, help="how many images (default 64)")
    p.add_argument("--temperature", type=float, default=1.0, help="spread of the draws (default 1.0)")
    p.add_argument("--nearest", action="store_true",
                   help="show each sample's nearest training image and distance (memorisation check)")
    p.add_argument("--seed", type=int, help="random seed (default: the run's)")
    p.add_argument("--sampler", choices=SAMPLER_CHOICES, default="auto",
                   help="where codes come from: the prior, a Gaussian or a Gaussian mixture fitted to the "
                        "training codes, or a flow, a second-stage VAE or a diffusion model learned on them "
                        "(the run's stored one, else fitted now and stored; default auto: the run's "
                        "model.sampler; its auto is the prior, else the Gaussian)")
    p.add_argument("--label", help="a conditional model (cvae): the class to draw (default: a grid, one row "
                   "per label)")

    p = command("interpolate", "decoded images between two test images, the originals at the ends", _interpolate)
    p.add_argument("--from", dest="a", required=True, help=REF_HELP)
    p.add_argument("--to", dest="b", required=True, help=REF_HELP)
    p.add_argument("--steps", type=int, default=10, help="decoded images, both ends included (default 10)")
    p.add_argument("--method", choices=INTERPOLATION_METHODS, default="linear",
                   help="straight line, or spherical (slerp: keeps a VAE's codes at a typical norm); default linear")

    p = command("traverse", "decoded grid over two latent dimensions, and one row per dimension "
                "(traversal.png, traversal_rows.png)", _traverse,
                "the grid's file; the rows go beside it as <name>_rows.png")
    p.add_argument("--dims", default="0,1", help="the two dimensions of the grid (default 0,1)")
    p.add_argument("--range", dest="span", help="values from,to for every axis (default: -3,3 for a VAE, "
                   "the prior's +-3 sigma; for an AE, each axis's own 2-98%% range of the training codes)")
    # Let "--range -3,3" read -3,3 as a value, not as an option (argparse knows only "-3").
    p._negative_number_matcher = re.compile(r"^-\.?\d[\d.,]*$")
    p.add_argument("--steps", type=int, default=15, help="images per row (default 15)")
    p.add_argument("--around", help="fix the other dimensions at this image's code: " + REF_HELP)
    p.add_argument("--directions", choices=DIRECTIONS, default="auto",
                   help="the latent axes, or the principal directions of the training codes (default auto: "
                        f"the axes up to {PRINCIPAL_ABOVE} latent dimensions, principal directions above)")

    p = command("animate", "a GIF walking a path through latent space beside the latent map", _animate)
    p.add_argument("--path", choices=ANIMATION_PATHS, default="sine",
                   help="tour visits the class centroids in turn (default sine)")
    p.add_argument("--frames", type=int, default=120, help="frames of the GIF (default 120)")
    p.add_argument("--fps", type=float, default=20, help="frames per second (default 20)")
    p.add_argument("--seed", type=int, help="seed of the random walk (default: the run's)")

    p = command("morph", "a GIF morphing one test image into another", _morph)
    p.add_argument("--from", dest="a", required=True, help=REF_HELP)
    p.add_argument("--to", dest="b", required=True, help=REF_HELP)
    p.add_argument("--frames", type=int, default=40, help="frames of the GIF (default 40)")
    p.add_argument("--fps", type=float, default=12, help="frames per second (default 12)")
    p.add_argument("--method", choices=INTERPOLATION_METHODS, default="linear",
                   help="straight line, or spherical (slerp); default linear")

    p = command("arithmetic", 'decode latent arithmetic, e.g. "#3 - 6 + 0" (labels stand for class means)',
                _arithmetic)
    p.add_argument("expression", help="terms joined by + and -: #INDEX, LABEL, label:NAME, 0.5*TERM")

    p = command("denoise", "rows noisy / denoised / clean with per-image scores", _denoise)
    p.add_argument("--noise", default="gaussian:0.3", help="gaussian:STD, salt_pepper:P or bitflip:P")
    p.add_argument("-n", type=int, default=10, help="how many test images (default 10)")
    p.add_argument("--seed", type=int, help="seed of the image choice and the noise (default: the run's)")

    p = command("latent", "the latent map of the test set (PCA or t-SNE above 2-D) over decoded thumbnails",
                _latent)
    p.add_argument("--method", choices=LATENT_MAP_METHODS, default="auto",
                   help="how codes above 2-D are projected: pca (decodable), tsne; auto: as they are up to "
                        "2-D, else pca (default auto)")
    p.add_argument("--no-thumbnails", action="store_true", help="only the scatter plot")

    p = sub.add_parser("report", help="draw every figure again and write index.html in the run folder",
                       description="Draw every figure of a run again (explorations included) and write "
                                   "index.html, which opens in a browser without a server.")
    p.add_argument("run", metavar="RUN", help="a run folder written by aelab train")
    p.add_argument("--no-animations", action="store_true", help="skip the GIFs (faster)")
    p.set_defaults(handler=_report)


def _ctx(args, command: str | None = None):
    """The run's Context; `command` names a command that decodes codes without a label, which a
    conditional model (a CVAE) cannot serve: it says so in one line."""
    from aelab.explore.context import open_run

    ctx = open_run(args.run)
    if command and ctx.conditional:
        raise AelabError(f"aelab {command} does not apply to a '{ctx.model.config.type}': it decodes codes "
                         "without a label, and a conditional model decodes only with one; try aelab generate "
                         f"{args.run} --label L")
    return ctx


def _pair(text: str, option: str, kind=float) -> tuple:
    try:
        values = tuple(kind(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not all(math.isfinite(v) for v in values):  # nan, inf, 1e400
        values = ()
    if len(values) != 2:
        raise AelabError(f"{option} {text}: expected two comma-separated numbers, e.g. {option} "
                         + ("0,1" if kind is int else "-3,3"))
    return values


def _generate(args) -> int:
    from aelab.explore.generate import generate

    _, path = generate(_ctx(args), args.n, args.temperature, args.nearest, args.out, args.seed, args.sampler,
                       args.label)
    print(path)
    return 0


def _interpolate(args) -> int:
    from aelab.explore.interpolate import interpolate

    _, path = interpolate(_ctx(args), args.a, args.b, args.steps, args.method, args.out)
    print(path)
    return 0


def _traverse(args) -> int:
    from aelab.explore.traverse import traverse

    dims = _pair(args.dims, "--dims", int)
    span = None if args.span is None else _pair(args.span, "--range")
    for path in traverse(_ctx(args, "traverse"), dims, span, args.steps, args.around, args.out,
                         directions=args.directions):
        print(path)
    return 0


def _animate(args) -> int:
    from aelab.explore.animate import animate

    print(animate(_ctx(args, "animate"), args.path, args.frames, args.fps, args.out, args.seed))
    return 0


def _morph(args) -> int:
    from aelab.explore.animate import morph

    print(morph(_ctx(args, "morph"), args.a, args.b, args.frames, args.fps, args.method, args.out))
    return 0


def _arithmetic(args) -> int:
    from aelab.explore.arithmetic import arithmetic

    _, path = arithmetic(_ctx(args, "arithmetic"), args.expression, args.out)
    print(path)
    return 0


def _denoise(args) -> int:
    from aelab.explore.denoise import denoise

    _, path = denoise(_ctx(args, "denoise"), args.noise, args.n, args.out, args.seed)
    print(path)
    return 0


def _latent(args) -> int:
    from aelab.explore.latent_map import latent_map

    ctx = _ctx(args)  # a CVAE's map has no decoded thumbnails: they would need a label
    print(latent_map(ctx, args.out, args.method, thumbnails=not args.no_thumbnails and not ctx.conditional))
    return 0


def _report(args) -> int:
    from aelab.explore.report import regenerate

    print(regenerate(args.run, animations=not args.no_animations))
    return 0
