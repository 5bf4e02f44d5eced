"""`aelab export RUN --format onnx`: the run's encoder and decoder as ONNX files, with export.json
beside them (opset, input and output names and shapes, what the encoder's outputs mean).

Written into RUN/export/ (RUN/export-2/, ... when taken) or into --out, a new or empty folder.
Every file is written whole (temporary file, fsync, rename) and published without replacing
anything: an existing file is never overwritten."""

from __future__ import annotations

import json
from pathlib import Path

from aelab import __version__
from aelab.errors import AelabError
from aelab.layout import EXPORT, EXPORT_GRAPH, EXPORT_INFO, numbered
from aelab.vocabulary import EXPORT_FORMATS


def add_commands(sub) -> None:
    p = sub.add_parser("export", help="write the run's encoder and decoder as ONNX files (RUN/export/)",
                       description="Write a run's encoder and decoder as ONNX graphs (dynamic batch "
                                   "dimension) and export.json, which names their inputs and outputs. "
                                   'Needs the onnx extra: pip install "aelab[onnx]".')
    p.add_argument("run", metavar="RUN", help="a run folder written by aelab train")
    p.add_argument("--format", choices=EXPORT_FORMATS, default="onnx", help="the file format (default onnx)")
    p.add_argument("--out", help="a new or empty folder for the files (default: RUN/export, or export-2, ... "
                                 "when taken)")
    p.set_defaults(handler=run)


def run(args) -> int:
    from aelab import files, runs
    from aelab.models.export import OPSET, TOLERANCE, CHECK_IMAGES, check_installed, describe_outputs, export_onnx

    check_installed()  # before loading anything: the one line on what to install comes first
    model, config, _ = runs.load_model(args.run)
    graphs = export_onnx(model, seed=config.training.seed)
    folder = _folder(Path(args.run), args.out)
    info = {
        "format": "onnx", "opset": OPSET, "aelab_version": __version__, "model_type": config.model.type,
        "input_shape": list(model.input_shape), "latent_dim": config.model.latent_dim,
        "images": "float32 (batch, channels, height, width), pixels in [0, 1] as aelab trains on them",
        "encoder_outputs": describe_outputs(model),
        "checked": f"onnxruntime against PyTorch on {CHECK_IMAGES} random inputs, tolerance {TOLERANCE:g}",
    }
    if model.needs_labels:
        info["labels"] = (f"float32 (batch, {model.options.n_classes}): one-hot class weights (or a mix "
                          "between classes), given to the encoder and the decoder")
    for graph in graphs:
        path = folder / EXPORT_GRAPH.format(part=graph.name)
        with files.atomic_write(path, overwrite=False) as tmp:
            tmp.write_bytes(graph.onnx)
        info[graph.name] = {"file": path.name, "inputs": graph.inputs, "outputs": graph.outputs,
                            "max_abs_difference": graph.max_difference}
    files.write_text(folder / EXPORT_INFO, json.dumps(info, indent=2) + "\n", overwrite=False)
    print(f"{folder}: {', '.join(EXPORT_GRAPH.format(part=g.name) for g in graphs)} (ONNX opset {OPSET}), "
          f"{EXPORT_INFO}")
    return 0


def _folder(run: Path, out: str | None) -> Path:
    """A new folder for the files: RUN/export (numbered when taken), or --out, new or empty."""
    from aelab import files

    if out is None:
        for n in range(1, 1000):
            folder = files.inside(run, numbered(EXPORT, n), "export folder")  # a link out of the run is refused
            if (run / numbered(EXPORT, n)).is_symlink():
                raise AelabError(f"{run / numbered(EXPORT, n)} is a symbolic link; aelab never writes through "
                                 "a link: remove it or give --out")
            try:
                folder.mkdir()  # exclusive: of two exports at once, each gets its own folder
                return folder
            except FileExistsError:
                continue
        raise AelabError(f"{run} holds 999 export folders; remove some or give --out")
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise AelabError(f"--out {folder} is a file; give a new or empty folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise AelabError(f"--out {folder} is not empty; give a new or empty folder (aelab never overwrites files)")
    files.make_folder(folder)
    return folder
