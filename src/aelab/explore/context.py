"""What every exploration needs: a trained model, the data it is looked at on, and where figures go.

A `Context` comes from a run folder (`open_run`, the data reloaded as the run's config says, so
test indices refer to that run's test set) or from a fitted estimator and an array
(`from_estimator`, for the Python API). Codes are computed once, on first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aelab import files, stored_samplers
from aelab.data.dataset import ImageData
from aelab.errors import AelabError
from aelab.layout import numbered
from aelab.vocabulary import LEARNED_SAMPLERS
from aelab.models.autoencoder import Autoencoder
from aelab.models.inference import decode, encode
from aelab.run import Run


@dataclass
class Context:
    model: Autoencoder
    test: ImageData  # the images indices and labels refer to
    train: ImageData  # the images the model learned from (AE code distribution, nearest images)
    folder: Path | None = None  # the run folder: default destination of figures
    seed: int = 42
    # Whether a sampler fitted here is stored in the run folder (aelab serve never writes: False)
    # and whether one that takes minutes to learn may be fitted here at all (False: only stored ones).
    store_samplers: bool = True
    learn_samplers: bool = True
    run: Run | None = None  # the run folder read (its config, metrics, history), when there is one
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def latent_dim(self) -> int:
        return self.model.config.latent_dim

    @property
    def kind(self) -> str:
        """'VAE', 'BETA-VAE', 'AE', 'DAE': for figure titles."""
        return self.model.config.type.replace("_", "-").upper()

    @property
    def binary(self) -> bool:
        return self._cached("binary", lambda: self.train.binary)

    def decode(self, z, labels=None) -> np.ndarray:
        """(N, latent_dim) codes -> (N, C, H, W) images in [0, 1]; `labels` (N,) class indices for
        a conditional model (a CVAE), which decodes nothing without them."""
        z = np.asarray(z, np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise AelabError(f"latent points must have shape (N, {self.latent_dim}) for this model; "
                             f"got {z.shape}")
        return decode(self.model, z, labels=labels)

    def encode(self, images, labels=None) -> np.ndarray:
        return encode(self.model, images, labels=labels)

    @property
    def conditional(self) -> bool:
        return self.model.needs_labels

    def fitted_sampler(self, kind: str, progress: bool = True):
        """The sampler `kind` fitted to the training codes, once per context: the run's stored one
        when it still fits the run, else fitted now (and stored in the run folder)."""
        def obtain():
            if not self.learn_samplers and kind in LEARNED_SAMPLERS:
                found = stored_samplers.stored(self.folder, self.model, kind, self.seed) if self.folder else None
                if found is None:
                    raise AelabError(f"the {kind} sampler of this run has not been fitted (or no longer fits "
                                     f"it); fit it with: aelab fit-sampler {self.folder} --sampler {kind}")
                return found
            return stored_samplers.obtain(self.folder, self.model, kind, lambda: self.train_codes, self.seed,
                                          write=self.store_samplers, progress=progress)
        return self._cached(f"sampler {kind}", obtain)

    def use_sampler(self, fitted) -> None:
        """Draw from `fitted` (a sampler just fitted, or an estimator's) for its kind."""
        self._cache[f"sampler {fitted.kind}"] = fitted

    @property
    def test_codes(self) -> np.ndarray:
        return self._cached("test_codes", lambda: self.encode(self.test.images, self._labels_of(self.test)))

    @property
    def train_codes(self) -> np.ndarray:
        return self._cached("train_codes", lambda: self.encode(self.train.images, self._labels_of(self.train)))

    def _labels_of(self, data: ImageData):
        return data.labels if self.conditional else None

    def label_index(self, label: str) -> int:
        """A label as the user writes it ('7', 'a') -> its class index."""
        names = self.test.label_names or [str(i) for i in range(self.model.options.n_classes)]
        if str(label) not in names:
            raise AelabError(f"--label {label}: not a label of this run's data; its labels: {', '.join(names)}")
        return names.index(str(label))

    def test_images(self, index) -> np.ndarray:
        """Test images as float (N, C, H, W) in [0, 1]."""
        return self.test.subset(np.atleast_1d(np.asarray(index))).floats()

    def class_means(self) -> dict[str, np.ndarray]:
        """Label name -> mean code of the test images with that label."""
        def compute():
            if self.test.labels is None:
                return {}
            return {self.label_name(c): self.test_codes[self.test.labels == c].mean(0)
                    for c in np.unique(self.test.labels)}
        return self._cached("class_means", compute)

    def label_name(self, label: int) -> str:
        names = self.test.label_names
        return names[label] if names else str(label)

    def out_path(self, out: str | Path | None, default_name: str, replace: bool = False) -> Path:
        """Where a figure goes: `out` (a file, or a folder for the default name) or the run folder.
        A name given with `out` must be new; a default name already taken gets "-2", "-3", ...
        `replace`: the run's own figures, redrawn in place by `aelab report`."""
        return self.out_paths(out, (default_name,), replace)[0]

    def out_paths(self, out: str | Path | None, default_names: tuple[str, ...], replace: bool = False) -> list[Path]:
        """out_path for a figure and the files written beside it (traversal.png, traversal_rows.png):
        default names share one number, so that all are new; a file given with `out` names the
        others after it (t.png, t_rows.png)."""
        first = default_names[0]
        suffix = Path(first).suffix
        if out is None:
            if self.folder is None:
                raise AelabError(f"no output path: give out='{first}' (there is no run folder "
                                 "to write into)")
            folder = self.folder
        else:
            out = Path(out)
            named = not out.is_dir() and bool(out.suffix)  # a file name, not a folder
            folder = out.parent if named else out
            if named and out.suffix.lower() != suffix:
                raise AelabError(f"--out {out}: this command writes a {suffix} file; use a name ending in {suffix}")
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise AelabError(f"--out {out}: cannot create the folder {folder} ({e.strerror}); give a "
                                 "writable folder or file name") from None
            if named:  # a file name the user chose: never replaced
                stem = Path(first).stem
                paths = [out] + [out.with_name(out.stem + Path(n).stem.removeprefix(stem) + Path(n).suffix)
                                 for n in default_names[1:]]
                return paths if replace else [files.new_file(not_existing(p)) for p in paths]
        if replace:
            return [folder / n for n in default_names]
        n = 1
        while any(_taken(folder / numbered(name, n)) for name in default_names):
            n += 1
        return [files.new_file(folder / numbered(name, n)) for name in default_names]

    def _cached(self, key, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]


def _taken(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def not_existing(path: Path) -> Path:
    """An --out file must be new: a figure of another run, or any file, is never overwritten."""
    if _taken(path):
        raise AelabError(f"--out {path} already exists; aelab never overwrites a file given with --out: "
                         "choose a new name or remove that file first")
    return path


def open_run(path: str | Path | Run) -> Context:
    """A run folder written by `aelab train` -> its model and its (re-loaded) train and test data."""
    run = path if isinstance(path, Run) else Run.open(path)
    config = run.config
    model = run.model()
    train, _, test = run.data()
    if train.shape != model.input_shape:
        raise AelabError(f"{run.path}: the data of its config has images of shape {train.shape} but the model "
                         f"expects {model.input_shape}; was config.json edited?")
    return Context(model, test, train, run.path, config.training.seed, run=run)


def from_estimator(estimator, X, y=None) -> Context:
    """A fitted aelab estimator and images X (with optional labels y) -> a Context on X.
    X serves as both the data to look at and the reference for nearest images."""
    model = estimator._fitted()
    data = estimator._images(X, labels=y)  # the checks transform() makes: NaN, range, the fitted layout
    ctx = Context(model, data, data, None, estimator.seed)
    if getattr(estimator, "sampler_", None) is not None:
        ctx.use_sampler(estimator.sampler_)
    return ctx


def as_context(source, X=None, y=None) -> Context:
    """A Context, a run folder path, or a fitted estimator (with X) -> a Context."""
    if isinstance(source, Context):
        return source
    if isinstance(source, (str, Path, Run)):
        return open_run(source)
    if hasattr(source, "model_"):
        if X is None:
            raise AelabError("exploring an estimator needs images: pass X (and optionally y)")
        return from_estimator(source, X, y)
    raise AelabError(f"cannot explore a {type(source).__name__}: give a run folder, a fitted estimator "
                     "with X, or a Context")
