"""index.html of a run folder: the config, the metrics table, and every figure and GIF in the folder
with a one-line caption. Relative paths only, no scripts: it opens from disk with no server.

`write_report(run)` only describes what is there (the end of `aelab train` calls it);
`regenerate(run)` (`aelab report`) first draws every figure again, explorations included.
"""

from __future__ import annotations

import fnmatch
import html
import json
import logging
import os
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from aelab.explore.animate import animate, morph
from aelab.explore.context import open_run
from aelab.explore.denoise import denoise
from aelab.explore.generate import generate
from aelab.explore.latent_map import latent_map
from aelab.explore.run_figures import pick_pair, write_all
from aelab.explore.snapshots import training_gif
from aelab.explore.traverse import traverse
from aelab.layout import (
    INDEX, INTERPOLATION, LATENT_SPACE, LOSS, RECONSTRUCTION, SAMPLES, TRAINING_GIF, TRAVERSAL,
)
from aelab.models.summary import format_summary
from aelab import files, runs
from aelab.run import Run

log = logging.getLogger("aelab")

# Shown in this order; other images in the folder follow with a caption made from their name.
CAPTIONS = [
    (RECONSTRUCTION, "Test images (top) and their reconstructions (bottom)."),
    (LOSS, "The loss per epoch on the training and validation sets (VAEs: its two terms too), and the "
           "validation BCE, MSE and L1 per epoch."),
    (TRAINING_GIF, "Reconstructions of fixed test images as training went on (training.snapshot_every)."),
    (LATENT_SPACE, "Where the test images land in latent space, coloured by label."),
    ("latent_map_tsne*.png", "The t-SNE map of the test codes (aelab latent --method tsne); t-SNE has no "
                             "inverse, so nothing is decoded behind the points."),
    ("latent_map*.png", "The latent map of the test set, over images decoded at grid points unless drawn "
                        "with --no-thumbnails (aelab latent)."),
    (TRAVERSAL, "Images decoded on a grid over the first two latent dimensions."),
    ("traversal[.-]*png", "Images decoded on a grid over two latent dimensions (aelab traverse)."),
    ("traversal_rows*.png", "One latent dimension varied at a time, the others fixed (aelab traverse)."),
    (SAMPLES, "New images decoded from random latent points."),
    ("generated[.-]*png", "New images decoded from random latent points (aelab generate)."),
    ("generated_nearest*.png", "Samples beside their nearest training image: generation or memorisation?"),
    (INTERPOLATION, "Decoded images on the straight line between the codes of two test images."),
    ("interpolate*.png", "An interpolation between two test images (aelab interpolate)."),
    ("morph*.gif", "One test image morphing into another through latent space (aelab morph)."),
    ("path*.gif", "Decoded images along a path through the latent map (aelab animate)."),
    ("arithmetic*.png", "Latent arithmetic: operands, decoded result, nearest test image (aelab arithmetic)."),
    ("denoise*.png", "Corrupted test images, their reconstructions and the clean images (aelab denoise)."),
]


def caption(name: str) -> str:
    for pattern, text in CAPTIONS:
        if fnmatch.fnmatch(name, pattern):
            return text
    return Path(name).stem.replace("_", " ").capitalize() + "."


def _order(name: str) -> tuple[int, str]:
    rank = next((k for k, (pattern, _) in enumerate(CAPTIONS) if fnmatch.fnmatch(name, pattern)), len(CAPTIONS))
    return rank, name


def write_report(run: str | Path) -> Path:
    """Write run/index.html describing what the folder holds now."""
    folder = Run.open(run)
    run = folder.path
    config = runs.read_json(run / runs.CONFIG) if folder.has(runs.CONFIG) else {}  # shown as it is
    metrics = folder.metrics
    pictures = sorted((p.name for p in run.iterdir() if p.suffix.lower() in (".png", ".gif") and p.is_file()),
                      key=_order)
    found = folder.summary()  # what serve lists and compare tabulates
    heading = f"{run.name}: {str(found['type'] or '?').replace('_', '-').upper()} on {found['dataset'] or '?'}"
    parts = [f"<h1>{html.escape(heading)}</h1>",
             f"<p class=note>latent size {found['latent_dim'] or '?'}, {found['architecture'] or '?'} "
             f"architecture; page written {datetime.now():%Y-%m-%d %H:%M}</p>",
             metrics_table(metrics), "<h2>Figures</h2>"]
    for name in pictures:
        shown = os.fsencode(name).decode("utf-8", "backslashreplace")
        text = html.escape(caption(shown))
        # the link is the name's bytes percent-encoded: any name works, UTF-8 or not (a picture
        # copied from another system); the name shown replaces bytes that are not UTF-8 by \xNN
        src = html.escape(quote(os.fsencode(name)), quote=True)
        parts.append(f'<figure><a href="{src}"><img src="{src}" alt="{text}" loading="lazy"></a>'
                     f"<figcaption><b>{html.escape(shown)}</b>: {text}</figcaption></figure>")
    if not pictures:
        parts.append("<p>No figures yet: run <code>aelab report RUN</code>.</p>")
    parts.append(_model_summary(folder))
    parts.append("<h2>Config</h2><pre>" + html.escape(json.dumps(config, indent=2)) + "</pre>")
    page = _PAGE.format(title=html.escape(heading), body="\n".join(parts))
    return files.write_text(run / INDEX, page)


def metrics_table(metrics: dict, heading: str = "<h2>Metrics</h2>") -> str:
    """metrics.json as an HTML table, a row per split; every name and value escaped."""
    splits = [s for s in ("train", "validation", "test") if isinstance(metrics.get(s), dict)]
    if not splits:
        return "<p>No metrics yet.</p>"
    columns = list(dict.fromkeys(k for s in splits for k in metrics[s]))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = "".join(f"<tr><th>{s}</th>" + "".join(f"<td>{_fmt(metrics[s].get(c))}</td>" for c in columns) + "</tr>"
                   for s in splits)
    facts = {k: v for k, v in metrics.items() if k not in splits and not isinstance(v, (dict, list))}
    extra = ", ".join(f"{html.escape(k)} {_fmt(v)}" for k, v in facts.items())
    return (f"{heading}<table><tr><th>split</th>{head}</tr>{rows}</table>"
            f"<p class=note>{extra}</p>")


def _model_summary(run: Run) -> str:
    """The layer table of `aelab summary`, when the folder holds a model."""
    if not run.has(runs.MODEL):
        return ""
    return "<h2>Model</h2><pre>" + html.escape(format_summary(run.model())) + "</pre>"


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def regenerate(run: str | Path, animations: bool = True) -> Path:
    """`aelab report`: draw every figure of the run again (the training figures and the
    explorations) and write index.html."""
    ctx = open_run(run)
    run = Path(run)
    history = Run.open(run).history
    if history:
        write_all(ctx, history)
    training_gif(run)
    if ctx.conditional:  # a CVAE decodes only with a label: its samples grid and its latent map
        generate(ctx, 8, replace=True)
        latent_map(ctx, thumbnails=False, replace=True)
        log.info("figures of %s drawn again (a cvae: no traversal, denoising or animations)", run)
        return write_report(run)
    generate(ctx, 32, with_nearest=True, replace=True)
    traverse(ctx, replace=True)
    latent_map(ctx, replace=True)
    noise = ctx.model.config.noise
    if noise is not None:
        level = getattr(noise, "std", None) or getattr(noise, "p")
        spec = f"{noise.type}:{level}"
    else:
        spec = "bitflip:0.05" if ctx.binary else "gaussian:0.3"
    denoise(ctx, spec, n=min(10, len(ctx.test)), replace=True)
    if animations:
        animate(ctx, "sine", frames=60, fps=15, replace=True)
        if len(ctx.class_means()) >= 2:
            animate(ctx, "tour", frames=90, fps=15, replace=True)
        a, b = pick_pair(ctx.test)
        morph(ctx, f"#{a}", f"#{b}", frames=30, replace=True)
    log.info("figures of %s drawn again", run)
    return write_report(run)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }}
h1 {{ font-size: 1.5em; margin-bottom: 0.2em; }}
.note {{ color: #666; font-size: 0.9em; }}
table {{ border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; display: block; overflow-x: auto; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }}
th {{ background: #f3f3f3; }}
figure {{ margin: 1.5em 0; padding: 0.5em; border: 1px solid #e3e3e3; border-radius: 6px; }}
figure img {{ max-width: 100%; height: auto; display: block; margin: 0 auto; }}
figcaption {{ margin-top: 0.4em; font-size: 0.9em; color: #444; }}
pre {{ background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: 0.8em; }}
</style></head>
<body>
{body}
</body></html>
"""
