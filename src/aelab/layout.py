"""Every file name of a run folder, in one place. Nothing here imports anything: the CLI reads
these names without loading torch.

    runs/<name>/
      config.json  model.safetensors  checkpoint.safetensors  metrics.json  history.csv
      reconstruction.png  latent_space.png  loss.png  latent_traversal.png  samples.png  interpolation.png
      snapshots/epoch_NNNN.png  training.gif   (training.snapshot_every)
      sampler_<kind>.safetensors   (a sampler fitted to the codes: model.sampler, aelab fit-sampler)
      index.html  .aelab-lock (while a process works in it)
      tracking.json  wandb/   (training.mlflow, training.wandb: the tracker runs, W&B's offline files)
      export/encoder.onnx  export/decoder.onnx  export/export.json   (aelab export)
      tensorboard/   (training.tensorboard)
      anomalies/scores.csv  summary.json  scores.png  roc.png  most_anomalous.png   (aelab anomalies)
      and what the explore commands write by default (below)

    sweeps/<name>/     (aelab sweep)
      sweep.json  results.csv  results.md  tracking.json  .aelab-lock
      sweep_<param>.png  sweep_tradeoff.png  sweep_reconstructions.png  sweep_samples.png
      runs/<trial>/   (each a run folder as above)   logs/<trial>.log   mlflow/ (training.mlflow: true)

    comparisons/compare-<time>/   (aelab compare)
      compare.csv  compare.md  loss.png  index.html
"""

# where the commands put new folders by default, under the current folder
RUNS_ROOT = "runs"  # aelab train --runs-dir; aelab serve's default; the API's trackers (mlflow, wandb)
SWEEPS_ROOT = "sweeps"  # aelab sweep without --out: sweeps/<name>-<time>
COMPARISONS_ROOT = "comparisons"  # aelab compare without --out: comparisons/compare-<time>
COMPARISON = "compare-{time}"

# written by `aelab train`
CONFIG = "config.json"
MODEL = "model.safetensors"
CHECKPOINT = "checkpoint.safetensors"
METRICS = "metrics.json"
HISTORY = "history.csv"
INDEX = "index.html"
TRACKING = "tracking.json"  # the MLflow / W&B runs this run logs to (training.mlflow, training.wandb)
LOCK = ".aelab-lock"  # held while a process trains in the folder (runs.claim_dir)
SNAPSHOTS = "snapshots"  # a folder of epoch_NNNN.png
TRAINING_GIF = "training.gif"
RECONSTRUCTION = "reconstruction.png"
LATENT_SPACE = "latent_space.png"
LOSS = "loss.png"
TRAVERSAL = "latent_traversal.png"
SAMPLES = "samples.png"
INTERPOLATION = "interpolation.png"
SAMPLER_FILE = "sampler_{kind}.safetensors"  # kind: gaussian, gmm, flow, two_stage, diffusion
TRAINING_FIGURES = (RECONSTRUCTION, LATENT_SPACE, LOSS, TRAVERSAL, SAMPLES, INTERPOLATION)
SNAPSHOT = "epoch_{epoch:04d}.png"  # in SNAPSHOTS, one per training.snapshot_every epochs
TENSORBOARD = "tensorboard"  # training.tensorboard: the event files
WANDB = "wandb"  # training.wandb: W&B makes RUN/wandb/ itself (its `dir` is the run folder)
MLFLOW = "mlflow"  # training.mlflow true/"auto": <runs folder>/mlflow/, the SQLite store

# `aelab anomalies`: a new folder in the run (anomalies-2, ... when taken)
ANOMALIES = "anomalies"
ANOMALY_SCORES = "scores.csv"  # one row per image: index, label, score, flagged
ANOMALY_SUMMARY = "summary.json"  # the threshold and the detection's numbers (also in metrics.json)
ANOMALY_HISTOGRAM = "scores.png"  # normal and anomalous images' scores, and the threshold
ANOMALY_ROC = "roc.png"  # only when the test images hold both kinds
MOST_ANOMALOUS = "most_anomalous.png"

# `aelab sweep`: one folder per sweep
SWEEP_SPEC = "sweep.json"  # what was asked: the base config, the grid, the folds
SWEEP_RUNS = "runs"  # a run folder per trial
SWEEP_LOGS = "logs"  # <trial>.log: what each trial run in a child process wrote
TRIAL_LOG = "{trial}.log"
RESULTS_CSV = "results.csv"  # one row per trial
RESULTS_MD = "results.md"  # mean ± std over folds per combination
SWEEP_METRICS = "sweep_{param}.png"  # each metric against the one swept parameter
SWEEP_TRADEOFF = "sweep_tradeoff.png"  # data with known factors: MIG against reconstruction
SWEEP_RECONSTRUCTIONS = "sweep_reconstructions.png"
SWEEP_SAMPLES = "sweep_samples.png"

# `aelab compare`: a new folder of tables, the loss curves overlaid (LOSS) and a page (INDEX)
COMPARE_CSV = "compare.csv"
COMPARE_MD = "compare.md"

# `aelab datasets NAME --preview`: written in the current folder unless --out
DATASET_PREVIEW = "{folder}-{name}-preview.png"

# default names of what the explore commands write (`--out` chooses others): named after what
# they show; when the name is taken, "-2", "-3", ... before the extension (numbered()), so a
# second exploration never replaces the first. `aelab report` redraws its own set in place.
GENERATED = "generated.png"
GENERATED_NEAREST = "generated_nearest.png"
TRAVERSE_GRID = "traversal.png"
TRAVERSE_ROWS = "traversal_rows.png"  # beside the grid, with the same number
ARITHMETIC = "arithmetic_{expression}.png"  # the expression's slug()
INTERPOLATE = "interpolate_{a}_{b}_{method}.png"
PATH_GIF = "path_{path}_{frames}frames.gif"  # path: line, sine, ..., custom
MORPH_GIF = "morph_{a}_{b}_{method}_{frames}frames.gif"
DENOISE = "denoise_{noise}.png"
LATENT_MAP = "latent_map_{method}.png"  # method: what was drawn (2d, pca, tsne)
FACTOR_TRAVERSAL = "factor_traversal.png"  # aelab evaluate, datasets with known factors

# `aelab export`: a folder of graphs and what they take and give; a taken folder name gets -2, -3, ...
EXPORT = "export"
EXPORT_INFO = "export.json"  # opset, input/output names and shapes, what the encoder's outputs mean
EXPORT_GRAPH = "{part}.onnx"  # part: encoder, decoder

SLUG_LENGTH = 60


def slug(text: str) -> str:
    """A short, file-name safe form of what a user typed: "#3 - Trouser + Bag" -> "3_minus_Trouser_plus_Bag"."""
    words = {"+": " plus ", "-": " minus ", "*": " x "}
    spaced = "".join(words.get(ch, ch if ch.isalnum() or ch == "." else " ") for ch in text)
    return "_".join(spaced.split())[:SLUG_LENGTH].strip("_.") or "empty"


def numbered(name: str, n: int) -> str:
    """The n-th free variant of a file name: "a.png", "a-2.png", "a-3.png", ..."""
    if n <= 1:
        return name
    stem, dot, ext = name.rpartition(".")
    return f"{stem}-{n}.{ext}" if dot else f"{name}-{n}"
