"""The model protocol, and the plain autoencoder that is its simplest case.

A model owns
- its networks, injected: `encoder` (images (B, C, H, W) -> (B, encoder_outputs)) and `decoder`
  (codes (B, latent_dim) -> pre-activation images (B, C, H, W)); `from_config` builds aelab's MLP or
  conv networks, a config's factory (`model.encoder: "pkg.module:function"`) or takes modules given;
- its objective: `objective(x)` returns the named loss terms of a batch, `loss` their weighted total;
- its prior: `prior(n, generator)` draws codes to decode, or None when the model has none (an AE).

A new model type subclasses this (or VAE), overrides what differs, and gets one line in
models/registry.py; docs/extending.md walks through it.
"""

from __future__ import annotations

import difflib
import math
from typing import ClassVar, NamedTuple

import torch
from pydantic import BaseModel, ValidationError
from torch import nn

from aelab.config import ModelConfig
from aelab.errors import AelabError
from aelab.data.noise import corrupt
from aelab.models.adversarial import Adversary
from aelab.models.layers import activation
from aelab.models.losses import reconstruction_loss
from aelab.models.ms_ssim import window_for
from aelab.models.networks import build_networks


class ForwardOutput(NamedTuple):
    logits: torch.Tensor  # (B, C, H, W) decoder output before the output activation
    mean: torch.Tensor  # (B, latent_dim) the code (AE) or the posterior mean (VAE)
    logvar: torch.Tensor | None  # (B, latent_dim) posterior log-variance; None for AE/DAE
    z: torch.Tensor  # (B, latent_dim) the code that was decoded
    # (B,) log q(z|x) at z where the posterior is not the diagonal Gaussian of mean and logvar (a
    # flow posterior: that Gaussian pushed through invertible steps); None: that Gaussian's
    log_q: torch.Tensor | None = None


class Autoencoder(nn.Module):
    """model.type 'ae': encode to a code, decode it back; the loss is the reconstruction loss."""

    variational: ClassVar[bool] = False  # has a posterior q(z|x) and a prior to sample from
    posterior_density: ClassVar[bool] = False  # draws of q(z|x) with their exact density (models/vae.py says what for)
    encoder_head: ClassVar[str] = "the code"  # what the encoder outputs, in the model summary
    needs_labels: ClassVar[bool] = False  # conditional models: the trainer passes each batch's labels
    # The type's own settings (model.options in a config), as a pydantic model; None: it has none.
    Options: ClassVar[type[BaseModel] | None] = None

    def __init__(self, config: ModelConfig, input_shape: tuple[int, int, int], encoder: nn.Module,
                 decoder: nn.Module):
        super().__init__()
        self.config = config
        self.options = parse_options(type(self), config)
        self.input_shape = tuple(int(s) for s in input_shape)  # (C, H, W)
        self.encoder, self.decoder = encoder, decoder
        self.output_activation = activation(config.output_activation)
        if config.reconstruction_loss == "ms_ssim_l1":
            window_for(*self.input_shape[1:])  # too small an image: one line now, not in the first step
        # model.adversarial_weight > 0: the patch discriminator; None (nothing built) when 0.
        self.adversary = Adversary(self.input_shape) if config.adversarial_weight > 0 else None
        self.check_networks()

    @classmethod
    def encoder_outputs(cls, latent_dim: int) -> int:
        """Features the encoder must output per image: the code itself."""
        return latent_dim

    @classmethod
    def from_config(cls, config: ModelConfig, input_shape, encoder: nn.Module | None = None,
                    decoder: nn.Module | None = None) -> "Autoencoder":
        """The model a config describes; `encoder`/`decoder` replace the networks it would build."""
        input_dim = math.prod(input_shape)
        if config.latent_dim >= input_dim and encoder is None:
            raise AelabError(f"model.latent_dim {config.latent_dim} is not smaller than the input "
                             f"({input_dim} values per image, n_features = {input_dim}); an autoencoder "
                             f"compresses: choose latent_dim < {input_dim}")
        built_encoder, built_decoder = build_networks(config, tuple(input_shape), cls.encoder_outputs(config.latent_dim),
                                                      need_encoder=encoder is None, need_decoder=decoder is None)
        return cls(config, input_shape, built_encoder if encoder is None else encoder,
                   built_decoder if decoder is None else decoder)

    @classmethod
    def derived_latent_dim(cls, config: ModelConfig, input_shape) -> int | None:
        """The code size this type's networks imply for images of `input_shape`, or None: the
        config's latent_dim is the model's. A type whose code follows from its network (a grid
        VQ-VAE: the encoder's last feature map) derives it, and says in one line when a latent_dim
        the user set contradicts it; registry.complete_options writes it into the config."""
        return None

    @classmethod
    def check_config(cls, config: ModelConfig) -> None:
        """AelabError when the model section cannot make this type whatever the data, e.g. a code
        size the type's latent space cannot have; called before a run's folder is made."""

    @classmethod
    def options_from_data(cls, data) -> dict:
        """model.options this type derives from its training data (an ImageData), e.g. the number
        of classes (CVAE) or the training set's size (beta-TC-VAE). Called once before the model is
        built (registry.complete_options); an option the config sets is never replaced, and the
        completed config is what config.json stores, so a run reloads and resumes the same."""
        return {}

    @classmethod
    def check_options(cls, options: dict, data) -> None:
        """AelabError when model.options (completed) cannot serve the training data, e.g. fewer
        classes than the labels name (CVAE); called with options_from_data, before building."""

    def init_from_data(self, train: torch.Tensor, generator: torch.Generator) -> None:
        """Data-dependent initialisation, e.g. a VampPrior's pseudo-inputs set to training images.
        The trainer calls it once, before the first step of a new run (a resumed run's weights come
        from its checkpoint); `train` (N, C, H, W) as stored (uint8 or float), on the model's device;
        every draw from `generator`."""

    # ------------------------------------------------------------------------------ mapping
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(code or posterior mean, posterior log-variance or None)."""
        return self.encoder(x), None

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent codes (B, latent_dim) -> images (B, C, H, W) in the data's range."""
        return self.output_activation(self.decoder(z))

    def forward(self, x: torch.Tensor, sample: bool = True,
                generator: torch.Generator | None = None) -> ForwardOutput:
        mean, logvar = self.encode(x)
        return ForwardOutput(self.decoder(mean), mean, logvar, mean)

    # ---------------------------------------------------------------------------- objective
    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """What the encoder sees during training: x, or x corrupted by model.noise (a DAE, or any
        model given a noise: denoising); the target stays x."""
        return x if self.config.noise is None else corrupt(x, self.config.noise, generator)

    def objective(self, x: torch.Tensor, generator: torch.Generator | None = None,
                  labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The training objective on a clean batch x (B, C, H, W) in [0, 1]: batch means of the
        named terms, `loss` being what is minimised. Every random draw comes from `generator`."""
        out = self(self.corrupt(x, generator), generator=generator)
        return self.adversarial(self.loss_terms(out, x), out, x)

    def loss_terms(self, out: ForwardOutput, target: torch.Tensor) -> dict[str, torch.Tensor]:
        recon = reconstruction_loss(self, out, target).mean()
        return {"loss": recon, "reconstruction_loss": recon}

    # -------------------------------------------------------------- the adversarial term
    def adversarial(self, terms: dict[str, torch.Tensor], out: ForwardOutput,
                    target: torch.Tensor) -> dict[str, torch.Tensor]:
        """`terms` with model.adversarial_weight * adversarial_loss added to the loss, while training
        with the term switched on (models/adversarial.py); else `terms` as they are. A type that
        overrides `objective` calls this on its reconstruction to support the term."""
        if self.adversary is None or not self.adversary.active or not self.training:
            return terms
        adversarial = self.adversary.generator_loss(self.output_activation(out.logits), target).mean()
        return {**terms, "loss": terms["loss"] + self.config.adversarial_weight * adversarial,
                "adversarial_loss": adversarial}

    def own_loss(self, row: dict[str, float]) -> float:
        """An epoch's mean training terms `row` -> the loss as eval mode's objective counts it, which
        early stopping monitors when there is no validation set: without a game's terms (here the
        adversarial term; a type with a discriminator of its own says what its game adds)."""
        return row["loss"] - self.config.adversarial_weight * row.get("adversarial_loss", 0.0)

    def discriminator_parameters(self) -> list[nn.Parameter]:
        """What the trainer's second optimizer trains (and the first leaves alone); [] for none."""
        return [] if self.adversary is None else list(self.adversary.parameters())

    def start_discriminator(self, on: bool) -> None:
        """The trainer switches the second network's game on for an epoch (from
        training.adversarial_start_epoch) and off after it."""
        if self.adversary is not None:
            self.adversary.active = on

    def discriminator_objective(self) -> dict[str, torch.Tensor]:
        """The second network's named terms on the last training batch; it minimises
        `discriminator_loss`."""
        return self.adversary.discriminator_loss()

    # -------------------------------------------------------------------------------- prior
    def prior(self, n: int, generator: torch.Generator | None = None,
              temperature: float = 1.0) -> torch.Tensor | None:
        """n codes from the model's prior, or None: a plain AE has no prior (samplers then fit
        a distribution to the training codes)."""
        return None

    @property
    def prior_description(self) -> str:
        return "the prior N(0, I)"

    def prior_span(self) -> tuple[float, float] | None:
        """The range of each latent axis that traversals span, from the prior (a VAE: -3..3, its
        +-3 sigma, centred on 0); None when the codes have no set scale (an AE): traversals then use
        each axis's own range of the training codes."""
        return None

    # ------------------------------------------------------------------------------- checks
    @torch.no_grad()
    def check_networks(self) -> None:
        """One forward pass on two blank images: a network that does not fit says so in one line."""
        was_training = self.training
        self.eval()
        device = next(self.parameters(), torch.zeros(0)).device
        x = torch.zeros(2, *self.input_shape, device=device)
        want = self.encoder_outputs(self.config.latent_dim)
        try:
            h = self.encoder(x)
        except Exception as e:
            raise AelabError(f"the encoder fails on images of shape {self.input_shape}: "
                             f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
        if not isinstance(h, torch.Tensor) or tuple(h.shape) != (2, want):
            got = tuple(h.shape) if isinstance(h, torch.Tensor) else type(h).__name__
            raise AelabError(f"the encoder maps a batch of 2 images of shape {self.input_shape} to {got}; "
                             f"a '{self.config.type}' with latent_dim {self.config.latent_dim} needs (2, {want})")
        z = torch.zeros(2, self.config.latent_dim, device=device)
        try:
            y = self.decoder(z)
        except Exception as e:
            raise AelabError(f"the decoder fails on codes of shape (2, {self.config.latent_dim}): "
                             f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
        if not isinstance(y, torch.Tensor) or tuple(y.shape) != (2, *self.input_shape):
            got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise AelabError(f"the decoder maps codes of shape (2, {self.config.latent_dim}) to {got}; "
                             f"it must give images (2, {', '.join(map(str, self.input_shape))})")
        self.train(was_training)


def parse_options(cls: type, config: ModelConfig, before_data: bool = False) -> BaseModel | None:
    """model.options checked against the type's Options: one line naming the key when wrong.
    `before_data`: a check before the data is read, which lets options the data fills in be missing."""
    if cls.Options is None:
        if config.options:
            raise AelabError(f"model.options: a '{config.type}' has no options of its own; remove "
                             f"{', '.join(config.options)}")
        return None
    try:
        return cls.Options.model_validate(config.options)
    except ValidationError as e:
        err = e.errors()[0]
        if before_data and all(error["type"] == "missing" for error in e.errors()):
            return None
        key = ".".join(str(p) for p in ("model.options", *err["loc"]))
        names = [field.alias or name for name, field in cls.Options.model_fields.items()]
        close = difflib.get_close_matches(str(err["loc"][-1]), names, n=1) if err["type"] == "extra_forbidden" else []
        hint = f"did you mean 'model.options.{close[0]}'? " if close else ""
        msg = err["msg"].removeprefix("Value error, ")
        raise AelabError(f"{key}: {msg} ({hint}the options of a '{config.type}': {', '.join(names)})") from None
