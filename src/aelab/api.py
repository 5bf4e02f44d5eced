"""The Python API, in scikit-learn's style (and seed 000's):

    vae = VAE(latent_dim=8, encoder_layers=[256, 128], activation="relu", optimizer="adam",
              learning_rate=1e-3, seed=42).fit(X, epochs=20, batch_size=16)
    Z = vae.transform(X)               # latent means
    X_hat = vae.inverse_transform(Z)   # decoded images, in X's layout
    vae.reconstruct(X), vae.sample(16), vae.score(X), vae.save("vae.safetensors")
    vae = aelab.load("vae.safetensors")   # or a run folder written by `aelab train`

Every estimator lists all its parameters in its constructor (everything a config can set that
makes sense in Python), so get_params / set_params / clone round-trip and GridSearchCV trains what
it says. The constructor only stores them; `fit` builds a Config (validated like a config file),
the model and a Trainer, and learns. `Estimator(model_type=...)` serves any registered model type.
The parameters are one table, aelab/estimator_params.py: each constructor, the config mapping and
the docstrings' Parameters sections are generated from it (that module says why and how).
"""

from __future__ import annotations

import copy
import math
import tempfile
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils.validation import check_array
from torch import nn

from aelab import estimator_params, layout, runs, stored_samplers, trust
from aelab.config import Config, validate_config
from aelab.data.dataset import from_array
from aelab.data.prepare import prepare_data
from aelab.data.splits import split
from aelab.errors import AelabError
from aelab.evaluate.metrics import objective
from aelab.explore.context import from_estimator
from aelab.explore.notebook import NotebookMixin
from aelab.explore.run_figures import reconstruction_picks
from aelab.models import inference, samplers
from aelab.run import Run
from aelab.train import checkpoint, trackers
from aelab.train.assemble import assemble, fit
from aelab.train.trainer import Trainer, pick_device

CODE_SAMPLE = 4096  # training images whose codes fit an AE's sampling distribution
NO_LABELS = "a '{type}' learns from labels: call fit(X, y)"
TRACKER_RUNS = layout.RUNS_ROOT  # mlflow=True / wandb=True from Python: runs/mlflow/mlflow.db, runs/wandb/


class NotFittedError(AelabError, SklearnNotFittedError):
    """Raised when a method that needs a fitted model is called before fit: scikit-learn's
    NotFittedError and aelab's one-line AelabError at once."""


def check_is_fitted(estimator, attribute: str = "model_") -> None:
    if not hasattr(estimator, attribute):
        raise NotFittedError(f"this {type(estimator).__name__} is not fitted yet; call fit(X) first")


_CUSTOM = "<python object>"  # stands for an nn.Module given in Python, in saved parameters


class _Autoencoder(NotebookMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """The parameters and methods every aelab estimator shares; subclasses fix the model type.
    In a notebook (explore/notebook.py): plot_loss(), plot_reconstructions(X), plot_samples(),
    plot_latent_map(X, y), plot_traversal(X) return Figures shown inline, and a fitted estimator
    shows itself as its metrics, loss curve and reconstructions."""

    _model_type = "ae"
    _own_params: tuple = ()  # estimator_params.Param rows only this estimator has
    _own_defaults: dict = {}  # the shared parameters' defaults it changes

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        estimator_params.install(cls)  # its __init__ and its docstring's Parameters section

    # --------------------------------------------------------------------------- configuring
    @property
    def model_type(self) -> str:
        return self._model_type

    def _config(self, **fit_params) -> Config:
        tree = estimator_params.to_config(self)
        tree["model"]["type"] = self.model_type
        tree["training"].update({k: v for k, v in fit_params.items() if v is not None})
        return validate_config(tree, source=type(self).__name__)

    def _networks(self) -> tuple[nn.Module | None, nn.Module | None]:
        """The modules given in Python, copied: fit never changes its parameters (scikit-learn's rule)."""
        for key in ("encoder", "decoder"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, (str, nn.Module)):
                raise AelabError(f"{type(self).__name__}({key}=...) takes a torch.nn.Module or an import path "
                                 f"'package.module:function'; got a {type(value).__name__}")
            wrong = {p.dtype for p in value.parameters() if p.is_floating_point() and p.dtype != torch.float32} \
                if isinstance(value, nn.Module) else set()
            if wrong:
                raise AelabError(f"{type(self).__name__}({key}=...) has {', '.join(map(str, wrong))} parameters; "
                                 f"aelab trains in float32 (it casts with training.precision): pass {key}.float()")
        return tuple(copy.deepcopy(m) if isinstance(m, nn.Module) else None for m in (self.encoder, self.decoder))

    # ------------------------------------------------------------------------------ learning
    def fit(self, X, y=None, epochs=None, batch_size=None, validation_split=None, patience=None, callbacks=None):
        """Learn from images X: (N, D), (N, H, W), (N, H, W, C) or (N, C, H, W); uint8 in
        [0, 255] or floats in [0, 1]. `y` (labels) is used only by conditional model types.
        `callbacks`: aelab.Callback objects or functions f(trainer, row), run during training
        (the hooks and what they may use: aelab/train/callbacks.py)."""
        config = self._config(epochs=epochs, batch_size=batch_size, validation_split=validation_split,
                              patience=patience)
        for loaded in ("run_folder_", "_run_context"):  # a model loaded from a run folder, fitted anew
            self.__dict__.pop(loaded, None)
        data = self._images(X, fitting=True, labels=y)
        encoder, decoder = self._networks()
        train, validation = split(data, config.training.validation_split, config.training.seed)
        # the steps `aelab train` takes: what the data decides (a CVAE's classes), then the model
        with trust.allowing(config.model.encoder, config.model.decoder):  # factories the caller named
            config, self.model_, kind = assemble(config, train, encoder, decoder, no_labels=NO_LABELS)
        options = None if kind == "prior" else samplers.options_for(kind, config.model)
        name = f"{config.model.type}-{datetime.now():%Y%m%d-%H%M%S}"  # the tracker runs' name
        active = trackers.from_config(config, Path(TRACKER_RUNS), name)
        trainer = Trainer(self.model_, config, pick_device(config.training.device), progress=self.verbose,
                          callbacks=[*(callbacks or []), *active])
        try:
            self._learn(trainer, config, data, train, validation, kind, options)
        except BaseException as e:
            trackers.fail(active, interrupted=isinstance(e, KeyboardInterrupt))
            raise
        if active:  # the fitted model as the trackers' model.safetensors, as a run folder's
            with tempfile.TemporaryDirectory() as folder:
                numbers = {"epochs_run": self.n_epochs_, "best_epoch": trainer.state.best_epoch,
                           "stopped_early": trainer.state.stopped_early}
                trackers.finish(active, numbers, [self.save(Path(folder) / runs.MODEL)])
        return self

    def _learn(self, trainer, config, data, train, validation, kind, options) -> None:
        state = fit(trainer, train, validation)
        self.model_.eval()
        self.config_, self.history_, self.n_epochs_ = config, state.history, state.epoch
        # a few images the notebook page (and plot_reconstructions() without X) reconstructs: held-out ones if any
        held_out = validation is not None and len(validation) > 0
        kept = validation if held_out else data
        self.examples_ = kept.subset(reconstruction_picks(len(kept), config.training.seed))
        self.examples_from_ = "validation" if held_out else "training"
        self.sampler_ = None
        if kind != "prior":
            # A sampler fitted to the codes of at most CODE_SAMPLE evenly spaced images: a fixed cost
            # however large X is, and plenty for a mean and a covariance, a mixture or a small network.
            every = -(-len(data) // CODE_SAMPLE)
            labels = data.labels[::every] if self.model_.needs_labels else None
            codes = inference.encode(self.model_, data.images[::every], labels=labels)
            self.sampler_ = samplers.fit(kind, codes, options, config.training.seed, progress=self.verbose)

    # ----------------------------------------------------------------------------- mapping
    def transform(self, X) -> np.ndarray:
        """Images -> latent codes (N, latent_dim); for VAEs the posterior means."""
        check_is_fitted(self, "model_")
        return inference.encode(self.model_, self._images(X).images)

    def inverse_transform(self, Z) -> np.ndarray:
        """Latent codes (N, latent_dim) -> images, in the layout X had at fit time."""
        check_is_fitted(self, "model_")
        k = self.model_.config.latent_dim
        Z = _checked(Z, "Z", ensure_2d=True)
        if Z.shape[1] != k:
            raise AelabError(f"Z must have shape (N, {k}) for this model's {k}-D latent space; got {Z.shape}")
        return self._layout_back(inference.decode(self.model_, Z.astype(np.float32)))

    def reconstruct(self, X) -> np.ndarray:
        return self.inverse_transform(self.transform(X))

    def sample(self, n: int = 16, seed: int | None = None, temperature: float = 1.0, label=None) -> np.ndarray:
        """n new images, as `aelab generate` and the run's samples.png draw them: decoded draws from
        the `sampler` given at construction (auto: the prior, or for a model without one (AE, DAE) a
        Gaussian fitted to the training codes; gmm: a Gaussian mixture fitted to them). `label`:
        the class a conditional model (a CVAE) draws, as an index."""
        check_is_fitted(self, "model_")
        z, _ = samplers.draw(self.model_, n, self.seed if seed is None else seed, temperature,
                             fitted=self.sampler_)
        if label is not None and not self.model_.needs_labels:
            raise AelabError(f"label={label!r}: only a conditional model (a 'cvae') draws a given class; "
                             f"this is a '{self.model_.config.type}'")
        labels = None if label is None else np.full(n, label)
        return self._layout_back(inference.decode(self.model_, z, labels=labels))

    def score(self, X, y=None) -> float:
        """Mean ELBO per image (VAE family) or negative mean reconstruction loss (AE, DAE):
        higher is better, as scikit-learn expects."""
        check_is_fitted(self, "model_")
        data = self._images(X).tensor(next(self.model_.parameters()).device)
        return -objective(self.model_, data, seed=self.seed + 1)["loss"]

    def explorer(self, X, y=None):
        """A Context for the functions of aelab.explore, on images X (labels y optional):
        `explore.interpolate(vae.explorer(X, y), "6", "0", out="i.png")`."""
        check_is_fitted(self, "model_")
        return from_estimator(self, X, y)

    @property
    def _n_features_out(self) -> int:
        return self.model_.config.latent_dim

    # ------------------------------------------------------------------------------ saving
    def save(self, path: str | Path) -> Path:
        """Write the weights, the config and the parameters to one .safetensors file (no pickle).
        A folder (existing, or a path ending in '/') gets model.safetensors inside it."""
        check_is_fitted(self, "model_")
        path = Path(path)
        if path.is_dir() or str(path).endswith(("/", "\\")):
            path = path / runs.MODEL
        elif path.suffix != ".safetensors":
            path = path.with_name(path.name + ".safetensors")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise AelabError(f"save({str(path)!r}): {_file_on_the_way(path)} is a file, not a folder; "
                             "save to a path whose folders are folders") from None
        params = {k: (_CUSTOM if isinstance(v, nn.Module) else _listed(v)) for k, v in self.get_params().items()}
        info = {"estimator": type(self).__name__, "params": params, "layout": self.layout_}
        if self.sampler_ is not None:
            info["sampler"] = samplers.metadata(self.sampler_, self.config_.training.seed,
                                                samplers.weights_fingerprint(self.model_))
        runs.save_model(path, self.model_.cpu(), self.config_, info, samplers.to_tensors(self.sampler_))
        return path

    # ----------------------------------------------------------------------------- helpers
    def _fitted(self):
        check_is_fitted(self, "model_")
        return self.model_

    def _range_checked(self) -> bool:
        # BCE and a sigmoid output need pixels in [0, 1]; an identity/tanh/... output trained with
        # MSE or L1 can model any real values (standardised features, say).
        return self.reconstruction_loss == "bce" or self.output_activation in ("auto", "sigmoid")

    def _images(self, X, fitting: bool = False, labels=None):
        X = _checked(X, "X", ensure_2d=True)
        if fitting:
            self.layout_ = list(X.shape[1:])
            self.n_features_in_ = math.prod(X.shape[1:])
        else:
            check_is_fitted(self, "model_")
            if tuple(X.shape[1:]) != tuple(self.layout_):
                n = math.prod(X.shape[1:])
                raise AelabError(f"X has {n} features, but {type(self).__name__} is expecting "
                                 f"{self.n_features_in_} features as input (images of shape "
                                 f"{tuple(self.layout_)}; got {tuple(X.shape[1:])})")
        try:
            return from_array(X, labels, check_range=self._range_checked())
        except ValueError as e:
            raise AelabError(str(e)) from None

    def _layout_back(self, images: np.ndarray) -> np.ndarray:
        """(N, C, H, W) back to the layout of the X given to fit."""
        layout = tuple(self.layout_)
        if len(layout) == 3 and layout[-1] in (1, 3) and layout[0] not in (1, 3):
            return images.transpose(0, 2, 3, 1).reshape(len(images), *layout)
        return images.reshape(len(images), *layout)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = ["float32"]  # networks compute in float32
        return tags


estimator_params.install(_Autoencoder)


def _checked(X, name: str, ensure_2d: bool) -> np.ndarray:
    """An array of finite numbers with at least one row, or one AelabError line saying what is not."""
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    try:
        X = check_array(X, allow_nd=True, ensure_2d=ensure_2d, dtype="numeric", ensure_min_features=1,
                        input_name=name)
    except ValueError as e:
        text = " ".join(str(e).split())
        if "NaN" in text or "infinity" in text:
            text = f"{name} contains NaN or infinity; aelab needs finite pixel values (replace or drop those images)"
        raise AelabError(text) from None
    return X


def _file_on_the_way(path: Path) -> Path:
    """The first of `path`'s parent folders that exists as something other than a folder."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return path.parent


def _listed(value):
    return list(value) if isinstance(value, tuple) else value


class AE(_Autoencoder):
    """A plain autoencoder."""
    _model_type = "ae"


class VAE(_Autoencoder):
    """A variational autoencoder (Kingma & Welling): ELBO = reconstruction + KL."""
    _model_type = "vae"


class DAE(_Autoencoder):
    """A denoising autoencoder: trained to reconstruct clean images from corrupted ones."""
    _model_type = "dae"
    _own_defaults = {"noise": "gaussian:0.3"}


class BetaVAE(_Autoencoder):
    """A beta-VAE: the KL term weighted by `beta` (beta > 1: more disentangled, blurrier)."""
    _model_type = "beta_vae"
    _own_params = (estimator_params.BETA_VAE_BETA,)


class Estimator(_Autoencoder):
    """Any registered model type, a plug-in's included: `Estimator(model_type="my_vae",
    options={...})`; `beta`, `noise` and `latent_dim` as in the config (None: the type's default;
    a latent_dim of 2, or the size a type derives from its networks, such as a 'vqvae_grid')."""

    model_type = None  # a parameter here, not the read-only property of the fixed types
    _own_params = (estimator_params.MODEL_TYPE, estimator_params.OPTIONS, estimator_params.BETA)
    _own_defaults = {"latent_dim": None}


ESTIMATORS = {"ae": AE, "dae": DAE, "vae": VAE, "beta_vae": BetaVAE}


def params_from_config(config: Config) -> dict:
    """The estimator parameters that rebuild the model of `config` (a run folder's, or a file's);
    each estimator keeps those it has."""
    return estimator_params.from_config(config)


def load(path: str | Path, encoder: nn.Module | None = None, decoder: nn.Module | None = None,
         trust_code: bool = False) -> _Autoencoder:
    """A model saved with `.save()` or a run folder written by `aelab train` -> a fitted estimator.
    A model fitted with networks given as Python objects needs them again (`encoder=`, `decoder=`):
    only their weights were saved, never their code. A model whose networks come from factories
    (import paths in its config) is built only if their modules are already imported, or with
    `trust_code=True` (importing a module runs its code: only for files you trust)."""
    if trust_code:
        with trust.policy(everything=True):
            return load(path, encoder, decoder)
    file = Path(path) / runs.MODEL if Path(path).is_dir() else Path(path)
    _, meta = checkpoint.read(file, "model file") if file.is_file() else ({}, {})
    saved = meta.get("params", {})
    for key, given in (("encoder", encoder), ("decoder", decoder)):
        if saved.get(key) == _CUSTOM and given is None:
            raise AelabError(f"{file} was fitted with a custom {key} given as a Python object; its code was "
                             f"not saved: pass it again, aelab.load(path, {key}=...)")
    folder = Run.open(path) if Path(path).is_dir() else None  # a run folder, or a model file
    copies = {"encoder": copy.deepcopy(encoder), "decoder": copy.deepcopy(decoder)}
    model, config, meta, extra = (folder.load(**copies) if folder is not None
                                  else runs.load_model(path, with_extra=True, **copies))
    params = params_from_config(config)
    params.update({k: v for k, v in saved.items() if v != _CUSTOM})
    params.update({k: v for k, v in (("encoder", encoder), ("decoder", decoder)) if v is not None})
    cls = ESTIMATORS.get(config.model.type, Estimator)
    estimator = cls(**{k: v for k, v in params.items() if k in cls._get_param_names()})
    estimator.model_, estimator.config_ = model, config
    estimator.layout_ = meta.get("layout", list(model.input_shape))
    estimator.n_features_in_ = math.prod(estimator.layout_)
    estimator.sampler_ = _stored_sampler(Path(path), model, config, meta, extra)
    if folder is not None:  # a run folder: its figures, metrics and history show in a notebook
        estimator.run_folder_ = folder.path
        if folder.has(runs.HISTORY):
            estimator.history_ = folder.history
    return estimator


def _stored_sampler(path: Path, model, config: Config, meta: dict, extra: dict):
    """The sampler an estimator draws from: the one saved in its model file, or a run folder's
    stored one; else (a run folder without one) fitted to the run's training codes."""
    kind, seed = samplers.resolve(model), config.training.seed
    if kind == "prior":
        return None
    saved = meta.get("sampler")
    if saved is None and "code_mean" in meta:  # a file saved before samplers were tensors
        return samplers.FittedGaussian(np.asarray(meta["code_mean"]), np.asarray(meta["code_cov"]))
    fitted = samplers.from_tensors(extra, saved)
    if getattr(fitted, "kind", None) == kind and (saved is None or samplers.problem(
            saved, kind, samplers.options_for(kind, config.model), seed, samplers.weights_fingerprint(model)) is None):
        return fitted
    if path.is_dir():
        found = stored_samplers.stored(path, model, kind, seed)
        if found is not None:
            return found
    images = prepare_data(config)[0].images  # a run folder: fitted to its training codes
    return samplers.fit(kind, inference.encode(model, images), samplers.options_for(kind, config.model), seed)
