"""The Python API, in scikit-learn's style (and seed 000's):

    vae = VAE(latent_dim=8, encoder_layers=[256, 128], activation="relu", optimizer="adam",
              learning_rate=1e-3, seed=42).fit(X, epochs=20, batch_size=16)
    Z = vae.transform(X)               # latent means
    X_hat = vae.inverse_transform(Z)   # decoded images, in X's layout
    vae.reconstruct(X), vae.sample(16), vae.score(X), vae.save("vae.safetensors")
    vae = aelab.load("vae.safetensors")   # or a run folder written by `aelab train`

The constructor only stores parameters; `fit` builds a Config (validated like a config file),
the model and a Trainer, and learns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from aelab import runs
from aelab.config import Config, validate_config
from aelab.data.dataset import from_array
from aelab.data.splits import split
from aelab.errors import AelabError
from aelab.evaluate.metrics import objective
from aelab.models import inference
from aelab.train.pipeline import build
from aelab.train.trainer import Trainer, pick_device


CODE_SAMPLE = 4096  # training images whose codes fit an AE's sampling distribution


class _Estimator(TransformerMixin, BaseEstimator):
    _type = "ae"

    def __init__(self, latent_dim=2, encoder_layers=(256, 128), decoder_layers=None, activation="relu",
                 architecture="mlp", reconstruction_loss="bce", output_activation="auto", init="auto",
                 optimizer="adam", learning_rate=1e-3, epochs=100, batch_size=64, validation_split=0.0,
                 patience=None, seed=42, device="auto", verbose=False):
        self.latent_dim = latent_dim
        self.encoder_layers = encoder_layers
        self.decoder_layers = decoder_layers
        self.activation = activation
        self.architecture = architecture
        self.reconstruction_loss = reconstruction_loss
        self.output_activation = output_activation
        self.init = init
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_split = validation_split
        self.patience = patience
        self.seed = seed
        self.device = device
        self.verbose = verbose

    # --------------------------------------------------------------------------- configuring
    def _model_section(self) -> dict:
        model = {"type": self._type, "latent_dim": self.latent_dim, "activation": self.activation,
                 "architecture": self.architecture, "reconstruction_loss": self.reconstruction_loss,
                 "output_activation": self.output_activation, "init": self.init}
        if self.architecture == "mlp":
            model["encoder_layers"] = list(self.encoder_layers)
            if self.decoder_layers is not None:
                model["decoder_layers"] = list(self.decoder_layers)
        return model

    def _config(self, **fit_params) -> Config:
        training = {"learning_rate": self.learning_rate, "optimizer": self.optimizer, "epochs": self.epochs,
                    "batch_size": self.batch_size, "validation_split": self.validation_split,
                    "patience": self.patience, "seed": self.seed, "device": self.device}
        training.update({k: v for k, v in fit_params.items() if v is not None})
        return validate_config({"model": self._model_section(), "training": training}, source=type(self).__name__)

    # ------------------------------------------------------------------------------ learning
    def fit(self, X, y=None, epochs=None, batch_size=None, validation_split=None, patience=None):
        """Learn from images X: (N, D), (N, H, W), (N, H, W, C) or (N, C, H, W); uint8 in
        [0, 255] or floats in [0, 1]. `y` is ignored (autoencoders learn without labels)."""
        config = self._config(epochs=epochs, batch_size=batch_size, validation_split=validation_split,
                              patience=patience)
        data = self._images(X, fitting=True)
        train, validation = split(data, config.training.validation_split, config.training.seed)
        self.model_ = build(config, data.shape)
        trainer = Trainer(self.model_, config, pick_device(config.training.device), progress=self.verbose)
        state = trainer.fit(train.tensor(), None if validation is None else validation.tensor())
        self.model_.eval()
        self.config_, self.history_, self.n_epochs_ = config, state.history, state.epoch
        self._fit_code_distribution(data.images)
        return self

    def _fit_code_distribution(self, images) -> None:
        # For sampling from a model without a prior (AE, DAE): a Gaussian fitted to the codes of at
        # most CODE_SAMPLE evenly spaced images (a fixed cost however large X is; plenty for a mean
        # and a covariance). The VAE family samples from its prior N(0, I).
        k = self.model_.config.latent_dim
        if self.model_.variational:
            self.code_mean_, self.code_cov_ = np.zeros(k, np.float32), np.eye(k, dtype=np.float32)
            return
        codes = inference.encode(self.model_, images[::-(-len(images) // CODE_SAMPLE)])
        self.code_mean_ = codes.mean(0)
        self.code_cov_ = np.cov(codes, rowvar=False).reshape(codes.shape[1], codes.shape[1])

    # ----------------------------------------------------------------------------- mapping
    def transform(self, X) -> np.ndarray:
        """Images -> latent codes (N, latent_dim); for VAEs the posterior means."""
        return inference.encode(self._fitted(), self._images(X).images)

    def inverse_transform(self, Z) -> np.ndarray:
        """Latent codes (N, latent_dim) -> images, in the layout X had at fit time."""
        Z = np.asarray(Z, dtype=np.float32)
        if Z.ndim != 2 or Z.shape[1] != self._fitted().config.latent_dim:
            raise AelabError(f"Z must have shape (N, {self.model_.config.latent_dim}); got {Z.shape}")
        return self._layout_back(inference.decode(self.model_, Z))

    def reconstruct(self, X) -> np.ndarray:
        return self.inverse_transform(self.transform(X))

    def sample(self, n: int = 16, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        """n new images: decoded draws from the prior N(0, I) (VAE family) or, for AE/DAE, from a
        Gaussian fitted to the training codes."""
        rng = np.random.default_rng(self.seed if seed is None else seed)
        k = self._fitted().config.latent_dim
        if self.model_.variational:
            z = temperature * rng.standard_normal((n, k))
        else:
            z = rng.multivariate_normal(self.code_mean_, self.code_cov_ * temperature**2, n)
        return self.inverse_transform(z)

    def score(self, X, y=None) -> float:
        """Mean ELBO per image (VAE family) or negative mean reconstruction loss (AE, DAE):
        higher is better, as scikit-learn expects."""
        data = self._images(X).tensor(next(self._fitted().parameters()).device)
        return -objective(self.model_, data, seed=self.seed + 1)["loss"]

    def explorer(self, X, y=None):
        """A Context for the functions of aelab.explore, on images X (labels y optional):
        `explore.interpolate(vae.explorer(X, y), "6", "0", out="i.png")`."""
        from aelab.explore.context import from_estimator

        return from_estimator(self, X, y)

    # ------------------------------------------------------------------------------ saving
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        if path.suffix != ".safetensors":
            path = path.with_suffix(".safetensors")
        path.parent.mkdir(parents=True, exist_ok=True)
        runs.save_model(path, self._fitted().cpu(), self.config_, {
            "estimator": type(self).__name__, "layout": self.layout_,
            "code_mean": self.code_mean_.tolist(), "code_cov": self.code_cov_.tolist()})
        return path

    # ----------------------------------------------------------------------------- helpers
    def _fitted(self):
        if not hasattr(self, "model_"):
            raise AelabError(f"this {type(self).__name__} is not fitted yet; call fit(X) first")
        return self.model_

    def _images(self, X, fitting: bool = False):
        shape = tuple(np.shape(X))
        try:
            data = from_array(X)
        except ValueError as e:
            raise AelabError(str(e)) from None
        if fitting:
            self.layout_ = list(shape[1:])
        elif data.shape != self._fitted().input_shape:
            raise AelabError(f"X has images of shape {shape[1:]}; this model was fitted on {tuple(self.layout_)}")
        return data

    def _layout_back(self, images: np.ndarray) -> np.ndarray:
        """(N, C, H, W) back to the layout of the X given to fit."""
        layout = tuple(self.layout_)
        if len(layout) == 3 and layout[-1] in (1, 3) and layout[0] not in (1, 3):
            return images.transpose(0, 2, 3, 1).reshape(len(images), *layout)
        return images.reshape(len(images), *layout)


class AE(_Estimator):
    """A plain autoencoder."""
    _type = "ae"


class DAE(_Estimator):
    """A denoising autoencoder: trained to reconstruct clean images from corrupted ones.
    `noise`: 'gaussian:STD', 'salt_pepper:P' or 'bitflip:P' (binary data)."""
    _type = "dae"

    def __init__(self, noise="gaussian:0.3", **params):
        super().__init__(**params)
        self.noise = noise

    def _model_section(self) -> dict:
        return {**super()._model_section(), "noise": self.noise}


class VAE(_Estimator):
    """A variational autoencoder (Kingma & Welling): ELBO = reconstruction + KL."""
    _type = "vae"


class BetaVAE(_Estimator):
    """A beta-VAE: the KL term weighted by `beta` (beta > 1: more disentangled, blurrier)."""
    _type = "beta_vae"

    def __init__(self, beta=4.0, **params):
        super().__init__(**params)
        self.beta = beta

    def _model_section(self) -> dict:
        return {**super()._model_section(), "beta": self.beta}


ESTIMATORS = {"ae": AE, "dae": DAE, "vae": VAE, "beta_vae": BetaVAE}


def load(path: str | Path) -> _Estimator:
    """A model saved with `.save()` or a run folder written by `aelab train` -> a fitted estimator."""
    model, config, meta = runs.load_model(path)
    m, t = config.model, config.training
    params = dict(latent_dim=m.latent_dim, activation=m.activation, architecture=m.architecture,
                  reconstruction_loss=m.reconstruction_loss, output_activation=m.output_activation,
                  init=m.init, optimizer=t.optimizer.type, learning_rate=t.learning_rate, epochs=t.epochs,
                  batch_size=t.batch_size, validation_split=t.validation_split, patience=t.patience,
                  seed=t.seed, device=t.device)
    if m.encoder_layers:
        params["encoder_layers"] = [l.units for l in m.encoder_layers]
    if m.type == "dae" and m.noise is not None:
        level = getattr(m.noise, "std", None) or getattr(m.noise, "p")
        params["noise"] = f"{m.noise.type}:{level}"
    if m.type == "beta_vae":
        params["beta"] = m.beta
    estimator = ESTIMATORS[m.type](**params)
    estimator.model_, estimator.config_ = model, config
    estimator.layout_ = meta.get("layout", list(model.input_shape))
    if "code_mean" in meta:
        estimator.code_mean_ = np.asarray(meta["code_mean"], np.float32)
        estimator.code_cov_ = np.asarray(meta["code_cov"], np.float32)
    else:
        estimator.code_mean_ = np.zeros(m.latent_dim, np.float32)
        estimator.code_cov_ = np.eye(m.latent_dim, dtype=np.float32)
    return estimator
