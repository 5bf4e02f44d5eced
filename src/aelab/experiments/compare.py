"""`aelab compare RUN RUN ...`: several finished runs side by side, written into a new folder:

    compare.csv, compare.md   one row per run: what it is (model, latent size, data, parameters)
                              and what it reached (test metrics, epochs, training time)
    loss.png                  the loss curves of every run overlaid (validation solid, train dashed)
    index.html                both on one page (opens without a server)
"""

from __future__ import annotations

import csv
import html
import io
from datetime import datetime
from pathlib import Path

from aelab import files, layout, runs
from aelab.errors import AelabError
from aelab.run import Run
from aelab.plots.figures import loss_overlay

COMPARE_CSV, COMPARE_MD = layout.COMPARE_CSV, layout.COMPARE_MD

FACTS = ("type", "architecture", "latent_dim", "dataset", "parameters", "epochs_run", "best_epoch", "train_seconds")
TEST_METRICS = ("loss", "reconstruction_loss", "kl", "mse", "bce", "l1", "nll", "pixel_accuracy")


def run_row(run: Path, name: str) -> dict:
    """What one run is and what it reached (Run.summary, as serve lists it and index.html heads
    with); AelabError when `run` is not a finished run folder or its numbers are damaged."""
    folder = Run.open(run)
    if not folder.has(runs.METRICS) or not folder.has(runs.MODEL):
        raise AelabError(f"{run} is not a finished aelab run (no {runs.METRICS} or {runs.MODEL}); "
                         "give run folders written by aelab train")
    found = folder.summary(strict=True)
    test = found["metrics"].get("test", {})
    row = {"run": name, **{k: found[k] for k in ("type", "architecture", "latent_dim", "dataset")},
           "parameters": sum(p.numel() for p in folder.model().parameters()),
           **{k: found[k] for k in ("epochs_run", "best_epoch", "train_seconds")}}
    row.update({f"test_{k}": test[k] for k in TEST_METRICS if test.get(k) is not None})
    return row


def collect(paths: list[str | Path]) -> tuple[list[dict], dict[str, list[dict]]]:
    """(one row per run, each run's history by name); AelabError before anything is written."""
    if len(paths) < 2:
        raise AelabError("aelab compare needs two or more run folders, e.g. aelab compare runs/a runs/b")
    paths = [Path(p) for p in paths]
    names = _names(paths)
    rows = [run_row(p, n) for p, n in zip(paths, names)]
    histories = {n: Run.open(p).history for p, n in zip(paths, names)}
    return rows, histories


def write_comparison(rows: list[dict], histories: dict[str, list[dict]], out: Path) -> list[Path]:
    """compare.csv, compare.md, loss.png and index.html in the (new, empty) folder `out`."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    files.write_text(out / COMPARE_CSV, table.getvalue())
    files.write_text(out / COMPARE_MD, markdown_table(rows, columns) + "\n")
    loss_overlay(histories, out / layout.LOSS)
    files.write_text(out / layout.INDEX, _page(rows, columns))
    return [out / n for n in (COMPARE_CSV, COMPARE_MD, layout.LOSS, layout.INDEX)]


def new_folder(root: str | Path = layout.COMPARISONS_ROOT) -> Path:
    return runs.new_run_dir(root, None, layout.COMPARISON.format(time=f"{datetime.now():%Y%m%d-%H%M%S}"))


def _names(paths: list[Path]) -> list[str]:
    """Each run's folder name, or its path where two names are the same."""
    short = [p.name for p in paths]
    return [s if short.count(s) == 1 else str(p) for s, p in zip(short, paths)]


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool) and value >= 10_000:
        return f"{value:,}"
    return str(value)


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def _page(rows: list[dict], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(row.get(c)))}</td>" for c in columns) + "</tr>"
                   for row in rows)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>aelab compare</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.85em; display: block; overflow-x: auto; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }}
th {{ background: #f3f3f3; }}
img {{ max-width: 100%; }}
.note {{ color: #666; font-size: 0.9em; }}
</style></head>
<body>
<h1>{len(rows)} runs compared</h1>
<p class=note>written {datetime.now():%Y-%m-%d %H:%M}</p>
<table><tr>{head}</tr>{body}</table>
<figure><img src="{layout.LOSS}" alt="loss per epoch of each run"><figcaption>The loss per epoch of each run:
validation solid, train dashed.</figcaption></figure>
</body></html>
"""
