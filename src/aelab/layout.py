"""Every file name of a run folder, in one place. Nothing here imports anything: the CLI reads
these names without loading torch.

    runs/<name>/
      config.json  model.safetensors  checkpoint.safetensors  metrics.json  history.csv
      reconstruction.png  latent_space.png  loss.png  latent_traversal.png  samples.png  interpolation.png
      snapshots/epoch_NNNN.png  training.gif   (training.snapshot_every)
      index.html  .aelab-lock (while a process works in it)
      and what the explore commands write by default (below)
"""

# written by `aelab train`
CONFIG = "config.json"
MODEL = "model.safetensors"
CHECKPOINT = "checkpoint.safetensors"
METRICS = "metrics.json"
HISTORY = "history.csv"
INDEX = "index.html"
LOCK = ".aelab-lock"  # held while a process trains in the folder (runs.claim_dir)
SNAPSHOTS = "snapshots"  # a folder of epoch_NNNN.png
TRAINING_GIF = "training.gif"
RECONSTRUCTION = "reconstruction.png"
LATENT_SPACE = "latent_space.png"
LOSS = "loss.png"
TRAVERSAL = "latent_traversal.png"
SAMPLES = "samples.png"
INTERPOLATION = "interpolation.png"
TRAINING_FIGURES = (RECONSTRUCTION, LATENT_SPACE, LOSS, TRAVERSAL, SAMPLES, INTERPOLATION)

# default names of what the explore commands write (`--out` chooses others)
GENERATED = "generated.png"
GENERATED_NEAREST = "generated_nearest.png"
TRAVERSE_GRID = "traversal.png"  # and traversal_rows.png beside it
ARITHMETIC = "arithmetic.png"
FACTOR_TRAVERSAL = "factor_traversal.png"  # aelab evaluate, datasets with known factors
