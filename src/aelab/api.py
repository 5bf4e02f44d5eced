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

from aelab import layout, runs, stored_samplers, trust
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
from aelab.models.registry import build_model, complete_options
from aelab.train import checkpoint, trackers
from aelab.train.schedules import resolve_steps
from aelab.train.trainer import Trainer, pick_device

CODE_SAMPLE = 4096  # training images whose codes fit an AE's sampling distribution
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

    def __init__(self, latent_dim=2, architecture="mlp", encoder_layers=None, decoder_layers=None,
                       encoder_topology=None, decoder_topology=None, n_layers=None,
                       conv_channels=(8, 16, 32), conv_dense=64, kernel_size=3,
                       stage_channels=(32, 64, 128, 256), residual_blocks=0, normalization="batch",
                       latent_channels=None, sampler="auto", gmm_components=10, sampler_options=None, encoder=None, decoder=None, activation="relu",
                       output_activation="auto", init="auto",
                       reconstruction_loss="bce", noise=None, optimizer="adam", learning_rate=1e-3,
                       beta1=0.9, beta2=0.999, epsilon=1e-8, momentum=0.9, weight_decay=0.0,
                       kl_annealing="none", kl_annealing_epochs=10, free_bits=0.0, lr_schedule="constant",
                       lr_patience=5, gradient_clip=None, epochs=100, steps=None, warmup_steps=0, batch_size=64, validation_split=0.0,
                       patience=None, min_delta=0.0, seed=42, device="auto", precision="auto", threads=None,
                       verbose=False, mlflow=False, wandb=False):
        self.latent_dim = latent_dim
        self.architecture = architecture
        self.encoder_layers = encoder_layers  # None: [256, 128] unless topology or n_layers is given
        self.decoder_layers = decoder_layers
        self.encoder_topology = encoder_topology
        self.decoder_topology = decoder_topology
        self.n_layers = n_layers
        self.conv_channels = conv_channels
        self.conv_dense = conv_dense
        self.kernel_size = kernel_size
        self.stage_channels = stage_channels  # architecture "image_conv": one stride-2 stage per width
        self.residual_blocks = residual_blocks
        self.normalization = normalization
        self.latent_channels = latent_channels  # image_conv: a code of that many values per position (a grid)
        self.sampler = sampler  # where sample() draws codes: "auto", "prior", "gaussian", "gmm", "flow", ...
        self.gmm_components = gmm_components
        self.sampler_options = sampler_options  # learned samplers' settings: {"flow": {"transforms": 6}}
        self.encoder = encoder  # an nn.Module, or a factory's import path "package.module:function"
        self.decoder = decoder
        self.activation = activation
        self.output_activation = output_activation
        self.init = init
        self.reconstruction_loss = reconstruction_loss
        self.noise = noise  # corrupts training inputs: 'gaussian:STD', 'salt_pepper:P', 'bitflip:P'
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.kl_annealing = kl_annealing  # VAE family: the KL weight rises from 0 ("linear", "cyclical")
        self.kl_annealing_epochs = kl_annealing_epochs
        self.free_bits = free_bits
        self.lr_schedule = lr_schedule
        self.lr_patience = lr_patience
        self.gradient_clip = gradient_clip
        self.epochs = epochs
        self.steps = steps  # a budget in optimizer steps instead of epochs (None: epochs)
        self.warmup_steps = warmup_steps  # the learning rate rises linearly over that many steps
        self.batch_size = batch_size
        self.validation_split = validation_split
        self.patience = patience
        self.min_delta = min_delta
        self.seed = seed
        self.device = device
        self.precision = precision
        self.threads = threads
        self.verbose = verbose
        # Experiment trackers, as training.mlflow / training.wandb: a tracking URI or True (a SQLite store
        # in runs/mlflow/); True or a folder for W&B's offline files (default runs/wandb/).
        self.mlflow = mlflow
        self.wandb = wandb

    # --------------------------------------------------------------------------- configuring
    @property
    def model_type(self) -> str:
        return self._model_type

    def _model_section(self) -> dict:
        model = {"type": self.model_type, "architecture": self.architecture,
                 "activation": self.activation, "output_activation": self.output_activation, "init": self.init,
                 "reconstruction_loss": self.reconstruction_loss, "conv_channels": _listed(self.conv_channels),
                 "conv_dense": self.conv_dense, "kernel_size": self.kernel_size,
                 "stage_channels": _listed(self.stage_channels), "residual_blocks": _listed(self.residual_blocks),
                 "normalization": self.normalization, "sampler": self.sampler,
                 "gmm_components": self.gmm_components, "sampler_options": dict(self.sampler_options or {})}
        for key in ("latent_dim", "latent_channels", "encoder_layers", "decoder_layers", "encoder_topology",
                    "decoder_topology"):
            if getattr(self, key) is not None:
                model[key] = _listed(getattr(self, key))
        if self.n_layers is not None:
            model["n_layers"] = self.n_layers
        for key in ("encoder", "decoder"):
            if isinstance(getattr(self, key), str):
                model[key] = getattr(self, key)
        if self.noise is not None:
            model["noise"] = self.noise
        return model

    def _config(self, **fit_params) -> Config:
        optimizer = {"type": self.optimizer, "beta1": self.beta1, "beta2": self.beta2, "epsilon": self.epsilon,
                     "momentum": self.momentum, "weight_decay": self.weight_decay}
        training = {"learning_rate": self.learning_rate, "optimizer": optimizer, "epochs": self.epochs,
                    "batch_size": self.batch_size, "validation_split": self.validation_split,
                    "patience": self.patience, "min_delta": self.min_delta, "seed": self.seed,
                    "device": self.device, "precision": self.precision, "threads": self.threads,
                    "kl_annealing": self.kl_annealing, "kl_annealing_epochs": self.kl_annealing_epochs,
                    "free_bits": self.free_bits, "lr_schedule": self.lr_schedule, "lr_patience": self.lr_patience,
                    "gradient_clip": self.gradient_clip, "steps": self.steps, "warmup_steps": self.warmup_steps,
                    "mlflow": self.mlflow, "wandb": self.wandb}
        training.update({k: v for k, v in fit_params.items() if v is not None})
        return validate_config({"model": self._model_section(), "training": training}, source=type(self).__name__)

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
        config = resolve_steps(complete_options(config, train), len(train))  # e.g. a CVAE's classes
        samplers.check_options(config.model)  # a misspelt sampler setting is said before training
        with trust.allowing(config.model.encoder, config.model.decoder):  # factories the caller named
            self.model_ = build_model(config.model, data.shape, encoder, decoder, seed=config.training.seed)
        kind = samplers.resolve(self.model_)
        options = None if kind == "prior" else samplers.options_for(kind, config.model)
        if self.model_.needs_labels and data.labels is None:
            raise AelabError(f"a '{config.model.type}' learns from labels: call fit(X, y)")
        labels = (lambda d: None if d is None or not self.model_.needs_labels else torch.from_numpy(d.labels))
        name = f"{config.model.type}-{datetime.now():%Y%m%d-%H%M%S}"  # the tracker runs' name
        active = trackers.from_config(config, Path(TRACKER_RUNS), name)
        trainer = Trainer(self.model_, config, pick_device(config.training.device), progress=self.verbose,
                          callbacks=[*(callbacks or []), *active])
        try:
            self._learn(trainer, config, data, train, validation, labels, kind, options)
        except BaseException as e:
            trackers.fail(active, interrupted=isinstance(e, KeyboardInterrupt))
            raise
        if active:  # the fitted model as the trackers' model.safetensors, as a run folder's
            with tempfile.TemporaryDirectory() as folder:
                numbers = {"epochs_run": self.n_epochs_, "best_epoch": trainer.state.best_epoch,
                           "stopped_early": trainer.state.stopped_early}
                trackers.finish(active, numbers, [self.save(Path(folder) / runs.MODEL)])
        return self

    def _learn(self, trainer, config, data, train, validation, labels, kind, options) -> None:
        state = trainer.fit(train.tensor(), None if validation is None else validation.tensor(),
                            labels=labels(train), validation_labels=labels(validation))
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
    """A denoising autoencoder: trained to reconstruct clean images from corrupted ones.
    `noise`: 'gaussian:STD', 'salt_pepper:P' or 'bitflip:P' (binary data)."""
    _model_type = "dae"

    def __init__(self, noise="gaussian:0.3", latent_dim=2, architecture="mlp", encoder_layers=None,
                       decoder_layers=None, encoder_topology=None, decoder_topology=None, n_layers=None,
                       conv_channels=(8, 16, 32), conv_dense=64, kernel_size=3,
                       stage_channels=(32, 64, 128, 256), residual_blocks=0, normalization="batch",
                       latent_channels=None, sampler="auto", gmm_components=10, sampler_options=None, encoder=None, decoder=None, activation="relu",
                       output_activation="auto", init="auto",
                       reconstruction_loss="bce", optimizer="adam", learning_rate=1e-3, beta1=0.9,
                       beta2=0.999, epsilon=1e-8, momentum=0.9, weight_decay=0.0, kl_annealing="none",
                       kl_annealing_epochs=10, free_bits=0.0, lr_schedule="constant", lr_patience=5,
                       gradient_clip=None, epochs=100, steps=None, warmup_steps=0, batch_size=64, validation_split=0.0, patience=None,
                       min_delta=0.0, seed=42, device="auto", precision="auto", threads=None, verbose=False,
                       mlflow=False, wandb=False):
        super().__init__(
            latent_dim=latent_dim, architecture=architecture, encoder_layers=encoder_layers,
            decoder_layers=decoder_layers, encoder_topology=encoder_topology,
            decoder_topology=decoder_topology, n_layers=n_layers, conv_channels=conv_channels,
            conv_dense=conv_dense, kernel_size=kernel_size, stage_channels=stage_channels,
            residual_blocks=residual_blocks, normalization=normalization, latent_channels=latent_channels, sampler=sampler,
            gmm_components=gmm_components, sampler_options=sampler_options, encoder=encoder, decoder=decoder,
            activation=activation, output_activation=output_activation, init=init,
            reconstruction_loss=reconstruction_loss, noise=noise, optimizer=optimizer,
            learning_rate=learning_rate, beta1=beta1, beta2=beta2, epsilon=epsilon, momentum=momentum,
            weight_decay=weight_decay, kl_annealing=kl_annealing, kl_annealing_epochs=kl_annealing_epochs,
            free_bits=free_bits, lr_schedule=lr_schedule, lr_patience=lr_patience,
            gradient_clip=gradient_clip, epochs=epochs, steps=steps, warmup_steps=warmup_steps, batch_size=batch_size,
            validation_split=validation_split, patience=patience, min_delta=min_delta, seed=seed,
            device=device, precision=precision, threads=threads, verbose=verbose, mlflow=mlflow, wandb=wandb)


class BetaVAE(_Autoencoder):
    """A beta-VAE: the KL term weighted by `beta` (beta > 1: more disentangled, blurrier)."""
    _model_type = "beta_vae"

    def __init__(self, beta=4.0, latent_dim=2, architecture="mlp", encoder_layers=None, decoder_layers=None,
                       encoder_topology=None, decoder_topology=None, n_layers=None,
                       conv_channels=(8, 16, 32), conv_dense=64, kernel_size=3,
                       stage_channels=(32, 64, 128, 256), residual_blocks=0, normalization="batch",
                       latent_channels=None, sampler="auto", gmm_components=10, sampler_options=None, encoder=None, decoder=None, activation="relu",
                       output_activation="auto", init="auto",
                       reconstruction_loss="bce", noise=None, optimizer="adam", learning_rate=1e-3,
                       beta1=0.9, beta2=0.999, epsilon=1e-8, momentum=0.9, weight_decay=0.0,
                       kl_annealing="none", kl_annealing_epochs=10, free_bits=0.0, lr_schedule="constant",
                       lr_patience=5, gradient_clip=None, epochs=100, steps=None, warmup_steps=0, batch_size=64, validation_split=0.0,
                       patience=None, min_delta=0.0, seed=42, device="auto", precision="auto", threads=None,
                       verbose=False, mlflow=False, wandb=False):
        super().__init__(
            latent_dim=latent_dim, architecture=architecture, encoder_layers=encoder_layers,
            decoder_layers=decoder_layers, encoder_topology=encoder_topology,
            decoder_topology=decoder_topology, n_layers=n_layers, conv_channels=conv_channels,
            conv_dense=conv_dense, kernel_size=kernel_size, stage_channels=stage_channels,
            residual_blocks=residual_blocks, normalization=normalization, latent_channels=latent_channels, sampler=sampler,
            gmm_components=gmm_components, sampler_options=sampler_options, encoder=encoder, decoder=decoder,
            activation=activation, output_activation=output_activation, init=init,
            reconstruction_loss=reconstruction_loss, noise=noise, optimizer=optimizer,
            learning_rate=learning_rate, beta1=beta1, beta2=beta2, epsilon=epsilon, momentum=momentum,
            weight_decay=weight_decay, kl_annealing=kl_annealing, kl_annealing_epochs=kl_annealing_epochs,
            free_bits=free_bits, lr_schedule=lr_schedule, lr_patience=lr_patience,
            gradient_clip=gradient_clip, epochs=epochs, steps=steps, warmup_steps=warmup_steps, batch_size=batch_size,
            validation_split=validation_split, patience=patience, min_delta=min_delta, seed=seed,
            device=device, precision=precision, threads=threads, verbose=verbose, mlflow=mlflow, wandb=wandb)
        self.beta = beta

    def _model_section(self) -> dict:
        return {**super()._model_section(), "beta": self.beta}


class Estimator(_Autoencoder):
    """Any registered model type, a plug-in's included: `Estimator(model_type="my_vae",
    options={...})`; `beta`, `noise` and `latent_dim` as in the config (None: the type's default;
    a latent_dim of 2, or the size a type derives from its networks, such as a 'vqvae_grid')."""

    model_type = None  # a parameter here, not the read-only property of the fixed types

    def __init__(self, model_type="vae", options=None, beta=None, noise=None, latent_dim=None,
                       architecture="mlp", encoder_layers=None, decoder_layers=None, encoder_topology=None,
                       decoder_topology=None, n_layers=None, conv_channels=(8, 16, 32), conv_dense=64,
                       kernel_size=3, stage_channels=(32, 64, 128, 256), residual_blocks=0,
                       normalization="batch", latent_channels=None, sampler="auto", gmm_components=10, sampler_options=None, encoder=None, decoder=None,
                       activation="relu", output_activation="auto", init="auto", reconstruction_loss="bce", optimizer="adam",
                       learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8, momentum=0.9,
                       weight_decay=0.0, kl_annealing="none", kl_annealing_epochs=10, free_bits=0.0,
                       lr_schedule="constant", lr_patience=5, gradient_clip=None, epochs=100, steps=None, warmup_steps=0, batch_size=64,
                       validation_split=0.0, patience=None, min_delta=0.0, seed=42, device="auto",
                       precision="auto", threads=None, verbose=False, mlflow=False, wandb=False):
        super().__init__(
            latent_dim=latent_dim, architecture=architecture, encoder_layers=encoder_layers,
            decoder_layers=decoder_layers, encoder_topology=encoder_topology,
            decoder_topology=decoder_topology, n_layers=n_layers, conv_channels=conv_channels,
            conv_dense=conv_dense, kernel_size=kernel_size, stage_channels=stage_channels,
            residual_blocks=residual_blocks, normalization=normalization, latent_channels=latent_channels, sampler=sampler,
            gmm_components=gmm_components, sampler_options=sampler_options, encoder=encoder, decoder=decoder,
            activation=activation, output_activation=output_activation, init=init,
            reconstruction_loss=reconstruction_loss, noise=noise, optimizer=optimizer,
            learning_rate=learning_rate, beta1=beta1, beta2=beta2, epsilon=epsilon, momentum=momentum,
            weight_decay=weight_decay, kl_annealing=kl_annealing, kl_annealing_epochs=kl_annealing_epochs,
            free_bits=free_bits, lr_schedule=lr_schedule, lr_patience=lr_patience,
            gradient_clip=gradient_clip, epochs=epochs, steps=steps, warmup_steps=warmup_steps, batch_size=batch_size,
            validation_split=validation_split, patience=patience, min_delta=min_delta, seed=seed,
            device=device, precision=precision, threads=threads, verbose=verbose, mlflow=mlflow, wandb=wandb)
        self.model_type = model_type
        self.options = options
        self.beta = beta

    def _model_section(self) -> dict:
        model = super()._model_section()
        extra = {"beta": self.beta, "options": self.options}
        return {**model, **{k: v for k, v in extra.items() if v is not None}}


ESTIMATORS = {"ae": AE, "dae": DAE, "vae": VAE, "beta_vae": BetaVAE}


def params_from_config(config: Config) -> dict:
    """The estimator parameters that rebuild the model of `config` (a run folder's, or a file's)."""
    m, t = config.model, config.training
    params = dict(
        latent_dim=m.latent_dim, architecture=m.architecture, n_layers=m.n_layers,
        encoder_topology=m.encoder_topology, decoder_topology=m.decoder_topology,
        conv_channels=list(m.conv_channels), conv_dense=m.conv_dense, kernel_size=m.kernel_size,
        encoder=m.encoder, decoder=m.decoder, activation=m.activation, output_activation=m.output_activation,
        init=m.init, reconstruction_loss=m.reconstruction_loss, optimizer=t.optimizer.type,
        learning_rate=t.learning_rate, beta1=t.optimizer.beta1, beta2=t.optimizer.beta2,
        epsilon=t.optimizer.epsilon, momentum=t.optimizer.momentum, weight_decay=t.optimizer.weight_decay,
        epochs=t.epochs, batch_size=t.batch_size, validation_split=t.validation_split, patience=t.patience,
        min_delta=t.min_delta, seed=t.seed, device=t.device, precision=t.precision, threads=t.threads,
        stage_channels=list(m.stage_channels), residual_blocks=_listed(m.residual_blocks), normalization=m.normalization,
        sampler=m.sampler, gmm_components=m.gmm_components, sampler_options=dict(m.sampler_options) or None,
        kl_annealing=t.kl_annealing, kl_annealing_epochs=t.kl_annealing_epochs, free_bits=t.free_bits,
        lr_schedule=t.lr_schedule, lr_patience=t.lr_patience, gradient_clip=t.gradient_clip,
        mlflow=t.mlflow, wandb=t.wandb)
    if m.architecture == "mlp" and not m.n_layers and not m.encoder_topology:
        params["encoder_layers"] = _layers(m.encoder_layers, m.activation)
        params["decoder_layers"] = _layers(m.decoder_layers, m.activation)
    noise = None
    if m.noise is not None:
        noise = f"{m.noise.type}:{getattr(m.noise, 'std', None) or getattr(m.noise, 'p')}"
    params["noise"] = noise
    if m.type == "beta_vae":
        params["beta"] = m.beta
    elif m.type not in ESTIMATORS:
        params.update(model_type=m.type, options=dict(m.options) or None, beta=m.beta)
    return params


def _layers(layers, activation: str):
    """Config layers -> the estimator's form: widths, or {units, activation} where one differs."""
    if not layers:
        return None
    if all(l.activation in (None, activation) for l in layers):
        return [l.units for l in layers]
    return [l.model_dump() for l in layers]


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
    model, config, meta, extra = runs.load_model(path, encoder=copy.deepcopy(encoder),
                                                 decoder=copy.deepcopy(decoder), with_extra=True)
    params = params_from_config(config)
    params.update({k: v for k, v in saved.items() if v != _CUSTOM})
    params.update({k: v for k, v in (("encoder", encoder), ("decoder", decoder)) if v is not None})
    cls = ESTIMATORS.get(config.model.type, Estimator)
    estimator = cls(**{k: v for k, v in params.items() if k in cls._get_param_names()})
    estimator.model_, estimator.config_ = model, config
    estimator.layout_ = meta.get("layout", list(model.input_shape))
    estimator.n_features_in_ = math.prod(estimator.layout_)
    estimator.sampler_ = _stored_sampler(Path(path), model, config, meta, extra)
    if Path(path).is_dir():  # a run folder: its figures, metrics and history show in a notebook
        estimator.run_folder_ = Path(path)
        if (Path(path) / runs.HISTORY).is_file():
            estimator.history_ = runs.read_history(Path(path) / runs.HISTORY)
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
