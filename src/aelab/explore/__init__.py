"""Looking at what a trained model learned: generation, interpolation, traversals, latent maps,
latent-path GIFs, morphs, latent arithmetic, denoising, and a run's index.html.

    from aelab import explore
    ctx = explore.open_run("runs/digits-vae-...")        # or explore.from_estimator(vae, X, y)
    explore.interpolate(ctx, "6", "0", steps=10)          # writes into the run folder
    explore.animate(ctx, "sine", frames=120, out="walk.gif")

Every function takes a Context (or a run folder path) first and returns what it computed and/or
the path of the figure it wrote.
"""

from aelab.explore.animate import animate, morph
from aelab.explore.arithmetic import arithmetic
from aelab.explore.context import Context, as_context, from_estimator, open_run
from aelab.explore.denoise import denoise
from aelab.explore.generate import generate, nearest, sample_codes
from aelab.explore.interpolate import interpolate, interpolation
from aelab.explore.latent_map import latent_map
from aelab.explore.latent_paths import slerp
from aelab.explore.report import regenerate as report, write_report
from aelab.explore.traverse import traverse

__all__ = [
    "Context", "open_run", "from_estimator", "as_context",
    "generate", "sample_codes", "nearest", "interpolate", "interpolation", "traverse", "animate", "morph",
    "arithmetic", "denoise", "latent_map", "report", "write_report", "slerp",
]
