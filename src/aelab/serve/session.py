"""One trained run opened for the browser: everything the explorer computes, through the same
run-folder and explore functions as the CLI (one code path per picture).

This is the only module of `aelab.serve` that reaches into the rest of aelab's model side; the web
layer (app.py) sees plain arrays, numbers and text. A session only reads its run folder.
"""

from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from aelab.errors import AelabError
from aelab.evaluate.anomalies import anomaly_scores
from aelab.explore import open_run, refs
from aelab.explore.generate import sample_codes
from aelab.explore.latent_map import extent, project
from aelab.explore.latent_paths import path_at
from aelab.explore.nearest_images import nearest_training
from aelab.explore.uploads import image_as_trained
from aelab import stored_samplers
from aelab.models.samplers import has_prior, resolve
from aelab.vocabulary import FITTED_SAMPLERS, INTERPOLATION_METHODS as PATH_METHODS, LEARNED_SAMPLERS

MAP_POINTS = 3000  # points sent to the browser's map: enough to see the structure, light to draw
NEAREST = 5  # training images shown beside an uploaded one
ANOMALY_QUANTILE = 0.95  # as `aelab anomalies`' default threshold


class Session:
    """A run folder's model and data, with locks so the web server's threads take turns."""

    def __init__(self, folder: Path, threads: int | None = None):
        self.ctx = open_run(folder)
        # Never writes into the run: the Gaussian and the mixture are fitted here in seconds, the
        # learned samplers only drawn from when the run has them stored (aelab fit-sampler).
        self.ctx.store_samplers = self.ctx.learn_samplers = False
        if threads:  # after open_run, which applies the run's training.threads
            torch.set_num_threads(threads)
        self.data_config = self.ctx.run.config.data
        self.lock = threading.RLock()  # lazily computed codes and maps are built once
        self._maps: dict[str, dict] = {}

    # ------------------------------------------------------------------------------ description

    def info(self) -> dict:
        ctx = self.ctx
        c, h, w = ctx.model.input_shape
        with self.lock:
            codes = ctx.test_codes
        lo, hi = np.percentile(codes, 0.5, axis=0), np.percentile(codes, 99.5, axis=0)
        pad = 0.1 * np.maximum(hi - lo, 1e-3)
        lo, hi = lo - pad, hi + pad
        span = ctx.model.prior_span()
        if span is not None:  # the prior's +-3 sigma is always reachable
            lo, hi = np.minimum(lo, span[0]), np.maximum(hi, span[1])
        labels = ctx.test.labels
        return {
            "kind": ctx.kind, "type": ctx.model.config.type, "architecture": ctx.model.config.architecture,
            "latent_dim": ctx.latent_dim, "shape": [c, h, w], "variational": bool(ctx.model.variational),
            "test_size": len(ctx.test), "train_size": len(ctx.train), "data": ctx.test.name,
            "labelled": labels is not None, "label_names": self.label_names(),
            "binary": ctx.binary, "dark_background": self._dark_background(),
            "slider_lo": lo.round(3).tolist(), "slider_hi": hi.round(3).tolist(),
            "conditional": ctx.conditional, "labels": self.labels,
            "samplers": self.samplers, "sampler": self.default_sampler,
            "samplers_to_fit": [k for k in LEARNED_SAMPLERS if k not in self.samplers],
            "fit_sampler_command": f"aelab fit-sampler {ctx.folder} --sampler NAME",
            "interpolation_methods": list(PATH_METHODS),
        }

    def label_names(self) -> list[str]:
        labels = self.ctx.test.labels
        if labels is None:
            return []
        return [self.ctx.label_name(int(c)) for c in range(int(labels.max()) + 1)]

    @cached_property
    def labels(self) -> list[str]:
        """The labels a conditional model decodes with (the label picker's choices); [] otherwise."""
        if not self.ctx.conditional:
            return []
        return self.ctx.test.label_names or [str(i) for i in range(self.ctx.model.options.n_classes)]

    def label_array(self, label: str | None, n: int) -> np.ndarray | None:
        """The class index of `label`, n times, for a conditional model; None for the others."""
        if not self.ctx.conditional:
            if label is not None:
                raise AelabError(f"label '{label}': only a conditional model (a CVAE) decodes with a label; "
                                 f"this run is a '{self.ctx.model.config.type}': leave label out")
            return None
        if label is None:
            raise AelabError(f"this '{self.ctx.model.config.type}' decodes a code with a label: give label, "
                             f"one of {', '.join(self.labels)}")
        if label not in self.labels:
            raise AelabError(f"label '{label}' is not a label of this run; its labels: {', '.join(self.labels)}")
        return np.full(n, self.labels.index(label))

    def _dark_background(self) -> bool:
        """Whether the images' borders are dark (digits: white ink on black), for the drawing pad."""
        x = self.ctx.train.images[:500]
        border = np.concatenate([x[..., 0, :].ravel(), x[..., -1, :].ravel(), x[..., :, 0].ravel(), x[..., :, -1].ravel()])
        top = 255.0 if x.dtype == np.uint8 else 1.0
        return bool(border.mean() < top / 2)

    # --------------------------------------------------------------------------------- the map

    def latent_map(self, method: str) -> dict:
        with self.lock:
            if method not in self._maps:
                self._maps[method] = self._build_map(method)
            return self._maps[method]

    def _build_map(self, method: str) -> dict:
        ctx = self.ctx
        codes = ctx.test_codes
        shown = np.arange(len(codes))
        if len(codes) > MAP_POINTS:
            shown = np.sort(np.random.default_rng(ctx.seed).choice(len(codes), MAP_POINTS, replace=False))
        points, plane, kept = project(codes[shown], method, ctx.seed)
        shown = shown[kept]
        lo, hi = extent(points)
        labels = ctx.test.labels
        return {"points": np.round(points.astype(np.float64), 4).tolist(), "index": shown.tolist(),
                "labels": None if labels is None else labels[shown].tolist(),
                "axes": list(plane.axes), "note": plane.note.strip(" ()"), "invertible": plane.invertible,
                "lo": np.round(lo.astype(np.float64), 4).tolist(), "hi": np.round(hi.astype(np.float64), 4).tolist(), "_plane": plane}

    def plane(self, method: str = "auto"):
        return self.latent_map(method)["_plane"]

    # ------------------------------------------------------------------------------- decoding

    def decode(self, codes: np.ndarray, label: str | None = None) -> np.ndarray:
        """(N, latent_dim) -> (N, C, H, W) images in [0, 1]; a conditional model's with `label`."""
        labels = self.label_array(label, len(codes))
        with self.lock:
            return self.ctx.decode(codes, labels)

    def codes_at(self, points: np.ndarray, method: str = "auto") -> np.ndarray:
        plane = self.plane(method)
        if not plane.invertible:
            raise AelabError("a t-SNE map cannot be decoded point by point; decode test images by index instead")
        return plane.to_latent(points)

    def map_points(self, codes: np.ndarray, method: str = "auto") -> np.ndarray | None:
        plane = self.plane(method)
        return plane.to_map(codes) if plane.invertible else None

    def test_codes(self, index: np.ndarray) -> np.ndarray:
        self.check_indices(index)
        with self.lock:
            return self.ctx.test_codes[index]

    def test_images(self, index: np.ndarray) -> np.ndarray:
        self.check_indices(index)
        return self.ctx.test_images(index)

    def check_indices(self, index: np.ndarray) -> None:
        n = len(self.ctx.test)
        bad = index[(index < 0) | (index >= n)]
        if len(bad):
            raise AelabError(f"test index {int(bad[0])} is out of range: the test set has {n} images (0..{n - 1})")

    def resolve(self, text: str) -> int:
        """A reference as the CLI takes it ('12', '#12', a label) -> a test image index."""
        with self.lock:
            return refs.image_index(self.ctx, refs.parse_ref(self.ctx, text))

    def describe(self, index: int) -> str:
        return refs.describe(self.ctx, index)

    # ------------------------------------------------------------------------ interpolation

    def interpolation(self, a: int, b: int, t: np.ndarray, method: str) -> np.ndarray:
        """Codes at fractions t of the way from test image a's code to b's (as `aelab interpolate`)."""
        if method not in PATH_METHODS:
            raise AelabError(f"unknown interpolation method '{method}'; use {' or '.join(PATH_METHODS)}")
        za, zb = self.test_codes(np.array([a, b]))
        return path_at(za, zb, t, method)

    # ------------------------------------------------------------------------------ sampling

    @cached_property
    def samplers(self) -> list[str]:
        """`aelab generate --sampler`'s choices that serve offers for this model: its prior when it
        has one, the Gaussian and the Gaussian mixture fitted to its training codes (seconds), and
        the learned samplers the run has stored (`aelab fit-sampler`), still valid for its weights."""
        ctx = self.ctx
        learned = [k for k in LEARNED_SAMPLERS
                   if stored_samplers.stored(ctx.folder, ctx.model, k, ctx.seed, quiet=True) is not None]
        return (["prior"] if has_prior(ctx.model) else []) + list(FITTED_SAMPLERS) + learned

    @cached_property
    def default_sampler(self) -> str:
        """The run's model.sampler, or when serve cannot draw from it (a learned sampler not stored)
        the prior or the Gaussian."""
        kind = resolve(self.ctx.model)
        return kind if kind in self.samplers else self.samplers[0]

    def sample(self, n: int, temperature: float, seed: int, sampler: str = "auto") -> tuple[np.ndarray, str]:
        """Codes drawn as `aelab generate --sampler` draws them (the same function)."""
        if sampler == "auto":
            sampler = self.default_sampler
        if sampler not in self.samplers:
            if sampler in LEARNED_SAMPLERS:
                raise AelabError(f"sampler '{sampler}': this run has no stored {sampler} sampler (aelab serve never "
                                 f"writes into a run); fit it with: aelab fit-sampler {self.ctx.folder} --sampler {sampler}")
            raise AelabError(f"sampler '{sampler}': this {self.ctx.kind} has no prior; use gaussian or gmm "
                             "(fitted to its training codes)")
        with self.lock:
            return sample_codes(self.ctx, n, temperature, seed, sampler)

    # -------------------------------------------------------------------------- an uploaded image

    def preprocess(self, data: bytes) -> np.ndarray:
        """Image file bytes -> (1, C, H, W) float in [0, 1], as the run's training images were made."""
        return image_as_trained(data, self.ctx.model.input_shape, self.data_config)

    def analyse(self, image: np.ndarray, label: str | None = None) -> dict:
        """An image (1, C, H, W) -> its code, reconstruction, nearest training images and anomaly
        score; a conditional model's encoded and decoded with `label`."""
        labels = self.label_array(label, 1)
        with self.lock:
            code = self.ctx.encode(image, labels)
            reconstruction = self.ctx.decode(code, labels)
            score = float(anomaly_scores(self.ctx.model, torch.from_numpy(image), labels=labels)[0])
            train_scores = self._train_scores
            near, distance = nearest_training(self.ctx, image, NEAREST)
        return {"code": code, "reconstruction": reconstruction, "score": score,
                "threshold": float(np.quantile(train_scores, ANOMALY_QUANTILE)),
                "percentile": float((train_scores < score).mean() * 100),
                "nearest": near, "distance": distance}

    @cached_property
    def _train_scores(self) -> np.ndarray:
        train = self.ctx.train
        return anomaly_scores(self.ctx.model, train.tensor(), labels=train.labels if self.ctx.conditional else None)
