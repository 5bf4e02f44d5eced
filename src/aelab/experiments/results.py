"""A finished sweep's summaries: results.csv (one row per trial), results.md (mean ± std over
folds for each combination) and the comparison figures."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from aelab import files
from aelab.layout import RESULTS_CSV, RESULTS_MD
from aelab.experiments.figures import write_sweep_figures
from aelab.experiments.kfold import format_mean_std
from aelab.run import Run

# Reported when present, in this order; all on the test split (the held-out fold under CV).
METRICS = ("loss", "reconstruction_loss", "kl", "mse", "bce", "l1", "pixel_accuracy",
           "images_with_over_one_wrong_pixel", "knn_accuracy", "silhouette", "active_units", "nll", "elbo",
           "denoising_pixel_accuracy", "denoising_noisy_pixel_accuracy", "denoising_images_with_over_one_wrong_pixel",
           "denoising_mse", "denoising_noisy_mse", "mig", "factor_vae_score", "sap", "dci_disentanglement",
           "dci_completeness", "dci_informativeness", "frechet_distance", "frechet_distance_real", "frechet_ratio",
           "nearest_training_rms", "nearest_training_rms_real", "classifier_accuracy")
RUN_FIELDS = ("epochs_run", "best_epoch", "train_seconds")
# results.md keeps to these (results.csv has every metric above).
SUMMARY = ("loss", "kl", "mse", "pixel_accuracy", "images_with_over_one_wrong_pixel", "knn_accuracy",
           "silhouette", "active_units", "nll", "elbo", "frechet_distance", "frechet_ratio", "mig", "factor_vae_score", "sap",
           "dci_disentanglement", "denoising_pixel_accuracy", "denoising_noisy_pixel_accuracy", "denoising_mse",
           "epochs_run", "train_seconds")


def trial_row(trial) -> dict:
    metrics = Run.open(trial.run).metrics
    row = {"trial": trial.name, "fold": "" if trial.fold is None else trial.fold}
    if trial.variant is not None:
        row["variant"] = trial.variant
    row.update({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in trial.settings.items()})
    row.update({k: metrics["test"][k] for k in METRICS if metrics["test"].get(k) is not None})
    row.update({k: metrics[k] for k in RUN_FIELDS if k in metrics})
    row["run"] = str(trial.run.relative_to(trial.run.parent.parent))
    return row


def write_results(out: Path, trials: list, grid: dict, folds: int) -> list[dict]:
    rows = [trial_row(t) for t in trials]
    columns = list(dict.fromkeys(k for row in rows for k in row))
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    files.write_text(out / RESULTS_CSV, table.getvalue())  # whole or absent: a full disk keeps the old one
    keys = (["variant"] if any("variant" in r for r in rows) else []) + list(grid)
    files.write_text(out / RESULTS_MD, summary_markdown(rows, keys, folds))
    write_sweep_figures(out, rows, trials, grid)
    return rows


def summary_markdown(rows: list[dict], keys: list[str], folds: int) -> str:
    """One line per combination: its settings, then mean ± std over folds of each metric."""
    metrics = [m for m in SUMMARY if any(m in r for r in rows)]
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["trial"], []).append(row)
    names = [k.split(".")[-1] for k in keys]
    lines = [f"Test-set metrics, {'mean ± std over ' + str(folds) + ' folds (test = the held-out fold)' if folds > 1 else 'one run each'}.", ""]
    lines.append("| " + " | ".join(names + metrics) + " |")
    lines.append("|" + "---|" * (len(names) + len(metrics)))
    for group in groups.values():
        settings = [str(group[0].get(k, "")) for k in keys]
        cells = [format_mean_std([r.get(m, math.nan) for r in group]) for m in metrics]
        lines.append("| " + " | ".join(settings + cells) + " |")
    return "\n".join(lines) + "\n"
