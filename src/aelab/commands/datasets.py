"""`aelab datasets`: the dataset names `data.dataset` accepts, and whether each loads offline now;
`aelab datasets faces --set data.path=DIR [--preview]`: find the faces in a folder of photos, report what was
kept and rejected, and draw a grid of the crops (the same for `folder`: what training would see)."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from aelab.errors import AelabError
from aelab.layout import DATASET_PREVIEW
from aelab.vocabulary import FOLDER_DATASETS

PREVIEW_MAX = 100  # crops drawn in a preview grid

# Modules that load torch, scikit-learn or the data are imported inside the handlers, so that
# `aelab --help` and `--version` start in well under a second.


WIDTH = 100  # characters of a line of the list


def add_commands(sub) -> None:
    p = sub.add_parser("datasets", help="list the datasets and where each is found on this machine",
                       description="List the names data.dataset accepts, what they are, and whether "
                                   "each can be loaded offline now (and from where). With a name "
                                   "(faces or folder) and --set data.path=DIR: load that folder as "
                                   "training would, report what it gave, and with --preview draw a grid.")
    p.add_argument("name", nargs="?", choices=FOLDER_DATASETS,
                   help="load this folder dataset now (needs --set data.path=DIR)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="data.path=DIR",
                   help="the folder, as the config's data.path would be: --set data.path=DIR "
                        "(without a name: also check it)")
    p.add_argument("--preview", action="store_true", help="write a grid of the images (first 100)")
    p.add_argument("--out", help="where --preview writes its PNG (default: <name>-preview.png here)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    args.path = None
    for item in args.overrides:
        key, _, value = item.partition("=")
        if key != "data.path" or not value:
            raise AelabError(f"--set {item}: aelab datasets takes only --set data.path=DIR")
        args.path = value
    if args.name:
        return _load(args)
    from aelab.data import download
    from aelab.data.registry import dataset_specs

    # One line per dataset (name, whether it loads offline, what it is), where it is found on the
    # next, indented: no line wider than WIDTH, whatever the paths. No torch: the specs answer alone.
    specs = dataset_specs()
    found = [spec.available(args.path) for spec in specs]
    name_width = max(len("NAME"), *(len(spec.name) for spec in specs))
    column_width = max(len("OFFLINE"), *(len(f.column) for f in found))
    indent = " " * (name_width + 2 + column_width + 2)
    print(f"{'NAME'.ljust(name_width)}  {'OFFLINE'.ljust(column_width)}  WHAT / where")
    for spec, availability in zip(specs, found):
        head = f"{spec.name.ljust(name_width)}  {availability.column.ljust(column_width)}  "
        print(textwrap.fill(spec.description, WIDTH, initial_indent=head, subsequent_indent=indent))
        print(textwrap.fill(availability.where, WIDTH, initial_indent=indent, subsequent_indent=indent,
                            break_on_hyphens=False, break_long_words=False))
    print(textwrap.fill(f"\ndownloads and caches go to {download.cache_root()} (set AELAB_DATA_DIR to change; "
                        "AELAB_OFFLINE=1 never downloads)", WIDTH, replace_whitespace=False))
    return 0


def _load(args: argparse.Namespace) -> int:
    from aelab.config import load_config
    from aelab.data.registry import dataset_spec

    if not args.path:
        raise AelabError(f"aelab datasets {args.name} needs --set data.path=DIR, the folder of "
                         f"{'photos' if args.name == 'faces' else 'images'}")
    out = Path(args.out or DATASET_PREVIEW.format(folder=Path(args.path).name, name=args.name))
    if args.preview and out.suffix.lower() != ".png":
        raise AelabError(f"--out {out}: the preview is a PNG; give a path ending in .png")
    config = load_config(None, [f"data.dataset={args.name}"], base={"data": {"path": args.path}}).data
    data, _ = dataset_spec(args.name).load(config)
    print(f"{len(data)} images of {data.shape[1]}x{data.shape[2]}, {data.shape[0]} channel(s)")
    if args.name == "faces":
        from aelab.data.faces import crops_folder, read_report

        report = read_report(args.path)
        print(f"{report['photos']} photos gave {report['crops']} face crops, in {crops_folder(Path(args.path))}")
        print(f"{report['candidates_rejected']} candidate boxes failed the face check (no eye inside, "
              "no second detector agreeing)")
        for key, what in (("only_rejected_candidates", "only rejected candidates"),
                          ("no_face", "no face found"), ("unreadable", "not readable as images")):
            if report[key]:
                print(f"{len(report[key])} photos with {what}: {', '.join(report[key])}")
    if args.preview:
        from aelab.plots.figures import image_grid

        shown = data.images[:PREVIEW_MAX].astype("float32")
        shown = shown / 255.0 if data.images.dtype.kind == "u" else shown
        image_grid(shown, out, f"{args.path}: {min(len(data), PREVIEW_MAX)} of {len(data)} {args.name}")
        print(out)
    return 0
