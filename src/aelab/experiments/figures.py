"""A sweep's comparison figures:
- sweep_<param>.png: each metric against one swept parameter, one line per model type (means
  over folds and over the other swept parameters, with their standard deviation as error bars);
- sweep_reconstructions.png / sweep_samples.png: one row per configuration (fold 0), the same
  test images for every row;
- sweep_tradeoff.png, for data with known factors: MIG and reconstruction against each model
  type's one varying setting (e.g. β), and MIG against reconstruction, one line per model type.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from aelab import runs
from aelab.evaluate.run_evaluation import split_data
from aelab.explore.context import Context
from aelab.explore.generate import sample_codes
from aelab.layout import SWEEP_METRICS, SWEEP_RECONSTRUCTIONS, SWEEP_SAMPLES, SWEEP_TRADEOFF
from aelab.models.inference import decode, reconstruct
from aelab.plots.canvas import subplots
from aelab.plots.figures import save
from aelab.plots.images import cell_inches, lattice, show
from aelab.train.objective import RECONSTRUCTION_METRICS

PLOTTED = ("mse", "loss", "knn_accuracy", "silhouette", "pixel_accuracy", "denoising_pixel_accuracy",
           "active_units")


def write_sweep_figures(out: Path, rows: list[dict], trials: list, grid: dict, n_images: int = 10) -> list[Path]:
    swept = [k for k in grid if len(grid[k]) > 1]
    # One line per variant or model type; without either, one line per value of the only other swept key.
    lines = "variant" if any("variant" in r for r in rows) else "model.type" if "model.type" in swept else None
    paths = []
    for key in swept:
        if key == "model.type":
            continue
        others = [k for k in swept if k != key]
        paths.append(metric_plot(out, rows, key, lines or (others[0] if len(others) == 1 else None)))
    firsts = {t.name: t for t in trials if t.fold in (None, 0)}
    if firsts:
        paths += image_rows(out, list(firsts.values()), n_images)
    if any(r.get("mig") is not None for r in rows):
        paths.append(tradeoff_plot(out, rows, trials))
    return [p for p in paths if p is not None]


def tradeoff_plot(out: Path, rows: list[dict], trials: list) -> Path:
    """Disentanglement against reconstruction: MIG and the reconstruction loss against each model
    type's one varying numeric setting (β for beta_vae and beta_tcvae, whatever its key), and MIG
    against the reconstruction loss, one line per model type, means over folds."""
    recon = trials[0].config.model.reconstruction_loss  # "bce", "mse" or "l1": a test metric of that name
    recon = recon if recon in RECONSTRUCTION_METRICS else "reconstruction_loss"  # ms_ssim_l1: the loss itself
    by_name: dict[str, list[dict]] = {}
    for row in rows:
        by_name.setdefault(row["trial"], []).append(row)
    families: dict[str, list] = {}
    for trial in {t.name: t for t in trials}.values():
        families.setdefault(trial.config.model.type, []).append(trial)
    fig, axes = subplots(1, 3, figsize=(11, 3.5), squeeze=False)
    x_names, all_x = set(), []
    for family, members in families.items():
        key = _varying_key(members)
        x_names.add(key.split(".")[-1] if key else "setting")
        points = []
        for trial in members:
            got = [(r["mig"], r[recon]) for r in by_name[trial.name]
                   if r.get("mig") is not None and r.get(recon) is not None]
            if got:
                x = trial.settings[key] if key else len(points)
                points.append((x, *np.mean(got, axis=0), trial.name))
        points.sort(key=lambda p: p[0])
        xs, migs, recons = ([p[i] for p in points] for i in range(3))
        all_x += xs if key else []
        axes[0][0].plot(xs, migs, marker="o", label=family)
        axes[0][1].plot(xs, recons, marker="o", label=family)
        axes[0][2].plot(recons, migs, marker="o", label=family)
        for x, mig, rec, name in points:
            axes[0][2].annotate(f"{key.split('.')[-1]}={x:g}" if key else name, (rec, mig), fontsize=7,
                                textcoords="offset points", xytext=(4, 3))
    x_label = " / ".join(sorted(x_names))
    for ax, (xlabel, ylabel) in zip(axes[0], [(x_label, "MIG"), (x_label, f"test {recon}"), (f"test {recon}", "MIG")]):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    if all_x and min(all_x) > 0 and max(all_x) / min(all_x) >= 4:  # β = 1, 2, 4, 8: evenly spaced in log
        ticks = sorted(set(all_x))
        for ax in axes[0][:2]:
            ax.set_xscale("log", base=2)
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    axes[0][2].legend(title="model type", fontsize=8)
    fig.suptitle("Disentanglement (MIG, higher is better) against reconstruction (lower is better), test split",
                 fontsize=10)
    fig.tight_layout()
    path = out / SWEEP_TRADEOFF
    save(fig, path)  # temp + rename: whole or absent
    return path


def _varying_key(trials: list) -> str | None:
    """The one numeric setting whose value differs between these trials, or None."""
    keys = [k for k in trials[0].settings if k != "model.type"
            and all(isinstance(t.settings.get(k), (int, float)) and not isinstance(t.settings.get(k), bool)
                    for t in trials)
            and len({t.settings[k] for t in trials}) > 1]
    return keys[0] if len(keys) == 1 else None


def _text(value) -> str:
    return json.dumps(value) if isinstance(value, list) else str(value)


def metric_plot(out: Path, rows: list[dict], key: str, line_key: str | None) -> Path | None:
    fig = metric_figure(rows, key, line_key)
    if fig is None:
        return None
    path = out / SWEEP_METRICS.format(param=key.split(".")[-1])
    save(fig, path)  # temp + rename: whole or absent
    return path


def metric_figure(rows: list[dict], key: str, line_key: str | None):
    """Each test metric against the swept `key` (one line per value of `line_key`); None: no metric."""
    metrics = [m for m in PLOTTED if any(m in r for r in rows)]
    if not metrics:
        return None
    values = list(dict.fromkeys(_text(r[key]) for r in rows))
    numeric = all(_is_number(v) for v in values)
    xs = [float(v) for v in values] if numeric else list(range(len(values)))
    line_of = (lambda r: _text(r[line_key])) if line_key else (lambda r: "")
    types = list(dict.fromkeys(line_of(r) for r in rows))
    fig, axes = subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for kind in types:
            means, stds = [], []
            for v in values:
                got = [r[metric] for r in rows if _text(r[key]) == v and line_of(r) == kind
                       and r.get(metric) is not None and math.isfinite(r[metric])]
                means.append(np.mean(got) if got else np.nan)
                stds.append(np.std(got, ddof=1) if len(got) > 1 else 0.0)
            ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=kind or "all",
                        alpha=0.85)
        ax.set_title(metric.replace("_", " "))
        ax.set_xlabel(key.split(".")[-1])
        if not numeric:
            ax.set_xticks(xs, values, rotation=30, fontsize=7)
        else:
            _spread_scale(ax, xs)
            ax.set_xticks(xs, values)
        ax.grid(alpha=0.3)
    if line_key:
        axes[0][-1].legend(title=line_key.split(".")[-1], fontsize=8)
    fig.suptitle(f"test metrics vs {key} (mean ± std over folds"
                 f"{' and other swept values' if len({r['trial'] for r in rows}) > len(values) * len(types) else ''})", fontsize=10)
    fig.tight_layout()
    return fig


def _spread_scale(ax, xs: list[float]) -> None:
    """Values that double (β = 0, 0.5, 1, 2, 4, 8) crowd their low end on a linear axis, labels
    printed over each other: a log axis spaces them, symmetric-log when 0 is one of them."""
    positive = sorted(x for x in xs if x > 0)
    if len(positive) < 2 or min(xs) < 0 or positive[-1] / positive[0] < 4:
        return
    if min(xs) > 0:
        ax.set_xscale("log")
    else:  # linear from 0 up to the smallest positive value, logarithmic above it
        ax.set_xscale("symlog", linthresh=positive[0], linscale=0.5)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def image_rows(out: Path, trials: list, n: int) -> list[Path]:
    """Reconstructions of the same test images and samples, one row per configuration."""
    figures = image_row_figures(trials, n)
    return [save(fig, out / name) for name, fig in figures.items()]  # temp + rename: whole or absent


def image_row_figures(trials: list, n: int) -> dict:
    """{file name: figure} of image_rows (none when configurations disagree on the image shape)."""
    parts = split_data(trials[0].config)
    test = parts["test"]
    shown = np.linspace(0, len(test) - 1, min(n, len(test))).round().astype(int)
    originals = test.subset(shown).floats()
    labels = test.labels[shown] if test.labels is not None else None  # a conditional model's input
    recon_rows, sample_rows, names, sources = [originals], [], [], []
    for trial in trials:
        model, config, _ = runs.load_model(trial.run)
        if model.input_shape != tuple(originals.shape[1:]):
            return {}  # configurations disagree on the image shape: no common grid
        given = labels if model.needs_labels else None
        recon_rows.append(reconstruct(model, originals, labels=given))
        # The same draws as `aelab generate` (its model.sampler; a conditional model draws for
        # the labels of the test images shown above).
        z, source = sample_codes(Context(model, test, parts["train"], seed=0), len(originals))
        sample_rows.append(decode(model, z, labels=given))
        names.append(trial.name)
        sources.append(source)
    if len(set(sources)) == 1:  # the caption says what was drawn, for the models they are
        sample_title, sample_names = f"Samples from {sources[0]}, one row per configuration", names
    else:
        sample_title = "Samples, one row per configuration (under each name: what its codes were drawn from)"
        sample_names = [f"{name}\n{source}" for name, source in zip(names, sources)]
    return {SWEEP_RECONSTRUCTIONS: _rows_figure(recon_rows, ["original"] + names,
                                                "Reconstructions of the same test images, one row per configuration"),
            SWEEP_SAMPLES: _rows_figure(sample_rows, sample_names, sample_title)}


def _rows_figure(rows: list[np.ndarray], labels: list[str], title: str):
    size = cell_inches(rows[0].shape[1:], 0.6)
    n = max(len(r) for r in rows)
    fig, axes = subplots(len(rows), 1, figsize=(n * size + 2.8, len(rows) * size + 0.8), squeeze=False)
    for ax, images, label in zip(axes[:, 0], rows, labels):
        show(ax, lattice(images, n, gap=1)[0])
        ax.text(-0.01, 0.5, label, transform=ax.transAxes, ha="right", va="center", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.3, right=0.99, top=1 - 0.5 / (len(rows) * size + 0.8), bottom=0.01, hspace=0.08)
    return fig
