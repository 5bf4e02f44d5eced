"""What a Jupyter notebook shows of a fitted estimator: its figures as matplotlib Figures (displayed
inline, see plots/canvas.py) and, as the value of a cell, an HTML summary: its metrics, its loss
curve and its reconstructions, the images inlined as base64 PNG (no file beside the notebook).

Every figure is the run folder's own, drawn by the same function (explore/run_figures.py,
latent_map.py): `vae.plot_reconstructions(X)` is reconstruction.png for X. Without X a figure
looks at the run's test set (a model loaded from a run folder) or, for the reconstructions, at
the few images fit() kept for this page (`examples_`).
"""

from __future__ import annotations

import base64
import html
from dataclasses import replace
from pathlib import Path

import numpy as np

from aelab.data.dataset import ImageData
from aelab.errors import AelabError
from aelab.explore import run_figures
from aelab.explore.context import Context, from_estimator, open_run
from aelab.explore.generate import drawing as draw_samples
from aelab.explore.latent_map import drawing as draw_latent_map
from aelab.explore.report import metrics_table
from aelab.layout import LOSS, RECONSTRUCTION
from aelab.models import samplers
from aelab.plots.canvas import Figure, png_bytes
from aelab.run import Run

NOT_METRICS = ("epoch", "seconds", "learning_rate", "beta")  # history columns that are not losses


class NotebookMixin:
    """The estimator's figures and HTML page (the estimator keeps model_, history_, examples_ and,
    loaded from a run folder, run_folder_)."""

    # ------------------------------------------------------------------------------ figures
    def plot_loss(self) -> Figure:
        """The loss per epoch (loss.png of a run): train and validation, a VAE's two terms."""
        history = getattr(self, "history_", None)
        if not history:
            self._fitted()
            raise AelabError(f"{type(self).__name__}.plot_loss(): this model has no training history (it was "
                             "loaded from a model file); fit it, or load its run folder")
        return run_figures.loss(history)

    def plot_reconstructions(self, X=None, y=None) -> Figure:
        """Ten images (of X; without X: the run's test images, or the ones fit() kept) above their
        reconstructions (reconstruction.png of a run)."""
        return run_figures.reconstruction(self._context(X, y, "plot_reconstructions", examples=True))

    def plot_samples(self, n: int = 64, seed: int | None = None) -> Figure:
        """n new images from the model's sampler (samples.png of a run, for n = 64)."""
        samplers.check_request(n, 1.0)  # the Python wording, before the CLI's "-n" limits
        # sampling looks at no image (a run folder's data is not even loaded): a blank one stands for them
        nothing = ImageData(np.zeros((1, *self._fitted().input_shape), np.float32))
        ctx = self._use_sampler(Context(self.model_, nothing, nothing, None, self.seed))
        return draw_samples(ctx, n, seed=ctx.seed if seed is None else seed)[1]

    def plot_latent_map(self, X=None, y=None, method: str = "auto") -> Figure:
        """The codes of X on a 2-D map coloured by label, over images decoded at grid points
        (`aelab latent`; a conditional model decodes only with a label: no images behind);
        method: 'auto', 'pca' or 'tsne'."""
        ctx = self._context(X, y, "plot_latent_map")
        return draw_latent_map(ctx, method, thumbnails=not ctx.conditional)[0]

    def plot_traversal(self, X=None, y=None) -> Figure:
        """Images decoded on a grid over two latent directions (latent_traversal.png of a run)."""
        ctx = self._context(X, y, "plot_traversal")
        if ctx.conditional:
            raise AelabError(f"plot_traversal(): a '{ctx.model.config.type}' decodes only with a label, so it has "
                             "no traversal (its run folder has none either); plot_samples() shows every label")
        return run_figures.traversal(ctx)

    def _context(self, X, y, method: str, examples: bool = False) -> Context:
        """What a figure looks at: X; else the run folder's test set; else (`examples`) the
        images fit() kept."""
        model = self._fitted()
        if X is not None:
            return from_estimator(self, X, y)
        folder = getattr(self, "run_folder_", None)
        if folder is not None:
            if getattr(self, "_run_context", None) is None:  # the run's data, loaded once; this model
                self._run_context = replace(open_run(folder), model=model)
                self._use_sampler(self._run_context)
            return self._run_context
        kept = getattr(self, "examples_", None)
        if examples and kept is not None:
            return self._use_sampler(Context(model, kept, kept, None, self.seed))
        raise AelabError(f"{type(self).__name__}.{method}() needs images: pass X, e.g. {method}(X, y)")

    def _use_sampler(self, ctx: Context) -> Context:
        if self.sampler_ is not None:
            ctx.use_sampler(self.sampler_)
        return ctx

    # --------------------------------------------------------------------------------- page
    @property
    def _repr_html_(self):
        if not hasattr(self, "model_"):  # unfitted: scikit-learn's diagram of the parameters (a property too)
            return super()._repr_html_
        return lambda: page(self)

    def _repr_mimebundle_(self, **kwargs):
        if not hasattr(self, "model_"):
            return super()._repr_mimebundle_(**kwargs)
        return {"text/plain": repr(self), "text/html": page(self)}


def page(estimator) -> str:
    """The HTML of a fitted estimator: heading, metrics table, loss curve, reconstructions."""
    model, folder = estimator.model_, getattr(estimator, "run_folder_", None)
    history = getattr(estimator, "history_", None) or []
    kind = model.config.type.replace("_", "-").upper()
    where = f"run folder {folder.name}" if folder is not None else "fitted in Python"
    heading = f"{kind}, latent size {model.config.latent_dim} ({where})"
    parts = [f"<h3>{html.escape(heading)}</h3>", f"<p><code>{html.escape(repr(estimator))}</code></p>"]
    metrics = (Run(folder).metrics if folder is not None else {}) or from_history(history)
    parts.append(metrics_table(metrics, heading="<h4>Metrics</h4>"))
    loss = _png(folder, LOSS) or (png_bytes(run_figures.loss(history)) if history else None)
    if loss is not None:
        parts.append(_figure(loss, "The loss per epoch."))
    shown = _png(folder, RECONSTRUCTION)
    if shown is not None:
        parts.append(_figure(shown, "Test images (top) and their reconstructions (bottom)."))
    elif folder is not None or getattr(estimator, "examples_", None) is not None:
        what = "test" if folder is not None else getattr(estimator, "examples_from_", "training")
        parts.append(_figure(png_bytes(estimator.plot_reconstructions()),
                             f"{what.capitalize()} images (top) and their reconstructions (bottom)."))
    return f'<div class="aelab-run">{"".join(parts)}</div>'


def from_history(history: list[dict]) -> dict:
    """The last epoch's losses as a metrics.json-like table: train and validation rows."""
    if not history:
        return {}
    last = history[-1]
    train = {k: v for k, v in last.items() if not k.startswith("val_") and k not in NOT_METRICS}
    validation = {k.removeprefix("val_"): v for k, v in last.items() if k.startswith("val_")}
    return {"train": train, **({"validation": validation} if validation else {}), "epochs_run": int(last["epoch"])}


def _png(folder: Path | None, name: str) -> bytes | None:
    """A run folder's own figure (a regular file, not a link out of the folder), or None."""
    path = None if folder is None else folder / name
    if path is None or path.is_symlink() or not path.is_file():
        return None
    return path.read_bytes()


def _figure(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure style="margin: 0.5em 0"><img src="data:image/png;base64,{data}" '
            f'alt="{html.escape(caption, quote=True)}" style="max-width: 100%">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")
