"""A/B of the training hot path between two source trees, robust to a busy machine: one thread,
CPU seconds (not wall time) of Trainer.fit on the same synthetic uint8 data, trees interleaved.

    python bench/ab_hot_path.py /work/main/src src --reps 3

Prints one line per measurement and the median CPU seconds per tree; the training losses must be
equal (same seed, same result), so a refactoring that changes the numbers shows up here too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

CHILD = r'''
import json, sys, time, torch
torch.set_num_threads(1)
from aelab.config import load_config
from aelab.train.trainer import Trainer
try:
    from aelab.models import build_model
    build = lambda c, s: build_model(c.model, s, seed=c.training.seed)
except ImportError:  # trees from before the model registry
    from aelab.train.pipeline import build
common = ["training.batch_size=128", "training.validation_split=0", "training.patience=null", "training.threads=1"]
over = {"vae": ["model.encoder_layers=[400]", "model.latent_dim=20", "training.epochs=2"],
        "conv": ["model.type=ae", "model.architecture=conv", "model.activation=tanh",
                 "model.reconstruction_loss=mse", "training.epochs=1"]}[sys.argv[1]]
config = load_config(None, over + common)
x = (torch.rand(6000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
trainer = Trainer(build(config, (1, 28, 28)), config, "cpu", progress=False)
started = time.process_time()
trainer.fit(x)
print(json.dumps({"cpu_seconds": round(time.process_time() - started, 3), "loss": trainer.state.history[-1]["loss"]}))
'''


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("trees", nargs=2, help="two src folders (each holding the aelab package)")
    p.add_argument("--reps", type=int, default=3)
    a = p.parse_args()
    print(f"# load average before: {harness.load_average()}")
    for model in ("vae", "conv"):
        ways = {tree: (lambda env={**os.environ, "PYTHONPATH": os.path.abspath(tree)}:
                       harness.fresh([sys.executable, "-c", CHILD, model], env)) for tree in a.trees}
        results = harness.interleave(ways, a.reps,
                                     report=lambda rep, tree, r: print(f"{model} {tree}: {json.dumps(r)}"))
        medians = {t: harness.median(harness.column(rs, "cpu_seconds")) for t, rs in results.items()}
        first, second = a.trees
        print(f"## {model}: median CPU s {medians[first]:.3f} ({first}) vs {medians[second]:.3f} ({second}); "
              f"ratio {medians[second] / medians[first]:.2f}")


if __name__ == "__main__":
    main()
