"""`aelab anomalies RUN`: score images by reconstruction error (or negative ELBO), flag those above
a threshold chosen on normal training images, and measure the detection against the labels."""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import numpy as np

from aelab.commands.evaluate import data_overrides
from aelab import layout
from aelab.errors import AelabError
from aelab.vocabulary import ANOMALY_SCORES

# aelab modules that load torch are imported inside the handler: `aelab --help` starts fast.


def add_commands(sub) -> None:
    p = sub.add_parser("anomalies", help="detect anomalies by reconstruction error: scores, threshold, AUROC, figures",
                       description="Score the run's test images (or --data) by reconstruction error. The "
                                   "threshold is a quantile of the scores of the run's training images, "
                                   "which are normal by construction. Train with data.exclude_labels to "
                                   "hold classes out: they are the anomalies by default.")
    p.add_argument("run", help="a run folder written by aelab train")
    p.add_argument("--data", action="append", default=[], help=argparse.SUPPRESS)  # older spelling: KEY=VALUE
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="data.KEY=VALUE",
                   help="score other data (images of the model's shape): override the run's data section, "
                        "e.g. --data test_split=0.5; the threshold still comes from the run's own training "
                        "images, and the numbers go into metrics.json under 'anomalies[KEY=VALUE]'")
    p.add_argument("--normal-labels", help="comma-separated labels that are normal (default: all but the "
                                           "run's data.exclude_labels); the rest are anomalies")
    p.add_argument("--score", choices=ANOMALY_SCORES, default="reconstruction",
                   help="the model's reconstruction loss (default; BCE counted above its floor, the "
                        "pixels' entropy), squared error, or negative ELBO (VAE family)")
    p.add_argument("--quantile", type=float, default=0.95,
                   help="threshold = this quantile of the training images' scores (default 0.95: ~5%% "
                        "of normal images flagged)")
    p.add_argument("--threshold", type=float, help="a fixed threshold instead of --quantile")
    p.add_argument("--top", type=int, default=10, help="how many of the most anomalous images to show (>= 1)")
    p.add_argument("--out", help="output folder (default: RUN/anomalies, RUN/anomalies-2, ...)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from aelab.evaluate.run_evaluation import run_config
    from aelab.run import Run

    if not 0 < args.quantile < 1:
        raise AelabError(f"--quantile {args.quantile}: give a number between 0 and 1, e.g. 0.95")
    if args.top < 1:
        raise AelabError(f"--top {args.top}: show at least 1 image, e.g. --top 10")
    run_dir = Path(args.run)
    args.data = data_overrides(args)
    config = run_config(run_dir, args.data)  # says so when RUN is not a run folder
    with Run.hold(run_dir):  # its metrics.json gains the results: not while a training works there
        return _detect(args, run_dir, config)


def _detect(args: argparse.Namespace, run_dir: Path, config) -> int:
    from aelab import files, runs
    from aelab.plots import anomaly_figures as figs
    from aelab.evaluate.anomalies import anomaly_scores, detection_metrics, error_maps, threshold_at
    from aelab.evaluate.run_evaluation import merge_metrics, model_data, run_config

    model, _, _ = runs.load_model(run_dir)
    if model.needs_labels:  # an anomaly's class is unknown, and a CVAE reconstructs only with one
        raise AelabError(f"aelab anomalies does not apply to a '{model.config.type}': it reconstructs an image "
                         "only with its label, and an anomaly's label is what is unknown")
    parts = model_data(model, config, args.data)
    test = parts["test"]
    # The threshold comes from the run's own training images (normal by construction), whatever --data scores.
    train = (model_data(model, run_config(run_dir)) if args.data else parts)["train"]
    device = next(model.parameters()).device
    seed = config.training.seed + 1
    scores = anomaly_scores(model, test.tensor(device), args.score, seed)
    threshold = args.threshold if args.threshold is not None else \
        threshold_at(anomaly_scores(model, train.tensor(device), args.score, seed), args.quantile)
    is_anomaly = anomaly_truth(test, args.normal_labels, config.data.exclude_labels)
    out = runs.claim_dir(args.out) if args.out else runs.new_run_dir(run_dir, config, layout.ANOMALIES)

    table = io.StringIO(newline="")
    writer = csv.writer(table)
    writer.writerow(["index", "label", "score", "flagged"] + (["anomaly"] if is_anomaly is not None else []))
    for i, s in enumerate(scores):
        truth = [int(is_anomaly[i])] if is_anomaly is not None else []
        writer.writerow([i, test.label_text(i), f"{s:.6g}", int(s > threshold)] + truth)
    files.write_text(out / layout.ANOMALY_SCORES, table.getvalue())
    summary = {"score": args.score, "threshold_from": "fixed" if args.threshold is not None else
               f"quantile {args.quantile} of {len(train)} training images"}
    if is_anomaly is not None:
        summary.update(detection_metrics(scores, is_anomaly, threshold))
        if "auroc" in summary:
            figs.roc_curve_figure(scores, is_anomaly, summary["auroc"], threshold, out / layout.ANOMALY_ROC)
    else:
        summary.update({"threshold": threshold, "n_images": len(scores), "flagged": int((scores > threshold).sum())})
    figs.score_histogram(scores, is_anomaly, threshold, out / layout.ANOMALY_HISTOGRAM, args.score)
    top = np.argsort(-scores, kind="stable")[:args.top]
    recon, errors = error_maps(model, test.images[top])
    captions = [f"{test.label_text(i)} {scores[i]:.3g}" for i in top]
    figs.most_anomalous(test.subset(top).floats(), recon, errors, captions, out / layout.MOST_ANOMALOUS)
    runs.write_json(out / layout.ANOMALY_SUMMARY, summary)
    key = "anomalies" + (f"[{','.join(args.data)}]" if args.data else "")  # as evaluate_run names other data
    merge_metrics(run_dir, {key: {k: v for k, v in summary.items() if not isinstance(v, str)}})
    print(json.dumps(summary, indent=2))
    print(out)
    runs.release(out)
    return 0


def anomaly_truth(data, normal_labels: str | None, excluded: list[str]) -> np.ndarray | None:
    """Which images are anomalous: not among the normal labels (default: the held-out classes)."""
    if data.labels is None:
        if normal_labels:
            raise AelabError("--normal-labels needs labelled data; this data has no labels")
        return None
    known = data.label_names or [str(i) for i in range(int(data.labels.max()) + 1)]
    if normal_labels:
        normal = [s.strip() for s in normal_labels.split(",") if s.strip()]
    elif excluded:
        normal = [k for k in known if k not in excluded]
    else:
        return None  # nothing says which images are anomalous
    unknown = [n for n in normal if n not in known]
    if unknown:
        raise AelabError(f"--normal-labels: {unknown} are not labels of this data; its labels are {known}")
    return ~np.isin(data.labels, [known.index(n) for n in normal])
