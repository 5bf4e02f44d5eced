"""The config: plain data, validated once at the door (file, CLI overrides or Python API).

The format follows seed 004's `config.json`: sections `data`, `model` and `training`. Nothing below
this module re-validates a config; it trusts what `Config` accepted.
"""

from __future__ import annotations

import copy
import difflib
import json
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aelab import limits, yaml12
from aelab.errors import AelabError
from aelab import vocabulary as names
from aelab.plugins import has_dataset, not_a_dataset
from aelab.vocabulary import DATASET_SPECS, LEARNED_SAMPLERS, RECONSTRUCTION_LOSSES, SAMPLER_CHOICES

# The choice lists are aelab/vocabulary.py's (the CLI and serve read them there, without pydantic).
Activation = Literal[names.ACTIVATIONS]  # type: ignore[valid-type]
OutputActivation = Literal[names.OUTPUT_ACTIVATIONS]  # type: ignore[valid-type]
ResizeMode = Literal[names.RESIZE_MODES]  # type: ignore[valid-type]
BinarizeMode = Literal[names.BINARIZE_MODES]  # type: ignore[valid-type]
PublishedSplit = Literal[names.PUBLISHED_SPLITS]  # type: ignore[valid-type]
Architecture = Literal[names.ARCHITECTURES]  # type: ignore[valid-type]
InitScheme = Literal[names.INIT_SCHEMES]  # type: ignore[valid-type]
Normalization = Literal[names.NORMALIZATIONS]  # type: ignore[valid-type]
Optimizer = Literal[names.OPTIMIZERS]  # type: ignore[valid-type]
Device = Literal[names.DEVICES]  # type: ignore[valid-type]
Precision = Literal[names.PRECISIONS]  # type: ignore[valid-type]
KLAnnealing = Literal[names.KL_ANNEALING]  # type: ignore[valid-type]
LRSchedule = Literal[names.LR_SCHEDULES]  # type: ignore[valid-type]
MS_SSIM_WEIGHT = 0.84  # alpha of Zhao, Gallo, Frosio & Kautz (2017): MS-SSIM's share of ms_ssim_l1


class _Section(BaseModel):
    # Unknown keys are errors (with a suggestion), never silently ignored; so are infinite and NaN
    # numbers, and true/false where a number belongs (pydantic would read true as 1).
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_numbers(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            for key, value in raw.items():
                field = cls.model_fields.get(key)
                values = value if isinstance(value, list) else [value]
                if field is not None and any(isinstance(v, bool) for v in values) and not _takes_bool(field.annotation):
                    raise ValueError(f"{key} expects a number, not true or false")
        return raw


def _takes_bool(annotation: Any) -> bool:
    if annotation is bool or isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_takes_bool(arg) for arg in typing.get_args(annotation))


# ---------------------------------------------------------------------------------------- data

class DataConfig(_Section):
    # Where the images come from: a built-in dataset or one added with aelab.register_dataset
    # (`aelab datasets` lists them and where each is found).
    dataset: str = Field("digits", json_schema_extra={"names": list(DATASET_SPECS)})
    path: Optional[str] = None  # a folder of images or photos, or the dataset's files
    # [H, W] or one number: images are sized to this (`resize`).
    input_size: Optional[tuple[Annotated[int, Field(gt=0), limits.checker("image_side")],
                               Annotated[int, Field(gt=0), limits.checker("image_side")]]] = None
    channels: Optional[Literal[1, 3]] = None  # 1 (grey) or 3 (RGB); unset: the data's own
    resize: ResizeMode = "pad"  # how an image of another shape is fitted to input_size
    background: tuple[Annotated[int, Field(ge=0, le=255)], Annotated[int, Field(ge=0, le=255)],
                      Annotated[int, Field(ge=0, le=255)]] = (255, 255, 255)  # behind transparent pixels
    face_margin: float = Field(0.25, ge=0, le=1)  # faces: crop box widened by this fraction per side
    # threshold: pixels at 0.5 once; dynamic: a fresh Bernoulli draw each epoch.
    binarize: BinarizeMode = "none"
    # The share held out for testing when the dataset has no test split.
    test_split: float = Field(0.2, ge=0.0, lt=0.9)
    # Datasets published as train + test (the MNIST family): "test" uses only the published test
    # files, split again by test_split (seed 002 trained on MNIST's 10k test images alone).
    published_split: PublishedSplit = "both"
    exclude_labels: list[str] = []  # labels left out of training (anomaly detection)
    # The first N training images (dsprites: N drawn from the grid, seeded).
    limit: Optional[Annotated[int, Field(gt=0)]] = None
    # dsprites only: a smaller factor grid. Per factor named (shape, scale, orientation, position_x,
    # position_y), how many of its published values to keep, evenly spaced from the first (e.g.
    # {"orientation": 1}: upright sprites only); the factors not named keep all their values.
    factor_values: dict[str, Annotated[int, Field(gt=0)]] = {}
    # Cross-validation: train on all but part `fold` of a seeded `folds`-way partition of the
    # training set and test on that part (the published test set is then not used).
    folds: Optional[Annotated[int, Field(ge=2)]] = None
    fold: Optional[Annotated[int, Field(ge=0)]] = None  # which part of the `folds` partition is the test set
    # Training-time augmentation (data/augment.py): random horizontal flips, shifts of up to N pixels.
    augment_flip: bool = False
    augment_shift: Annotated[int, Field(ge=0, le=16)] = 0  # shifts of up to N pixels, edges repeated

    @model_validator(mode="after")
    def _fold_in_range(self) -> "DataConfig":
        if self.factor_values and self.dataset != "dsprites":
            raise ValueError(f"data.factor_values picks values of dSprites' factors; data.dataset is "
                             f"'{self.dataset}': remove factor_values or use dataset dsprites")
        if (self.folds is None) != (self.fold is None):
            raise ValueError("data.folds and data.fold go together, e.g. folds 5 and fold 0..4")
        if self.folds is not None and self.fold >= self.folds:
            raise ValueError(f"data.fold {self.fold} is out of range for {self.folds} folds (0..{self.folds - 1})")
        return self

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, v: str) -> str:
        if not has_dataset(v):  # read at each validation: aelab.register_dataset adds names
            raise ValueError(not_a_dataset(v))
        return v

    @field_validator("input_size", mode="before")
    @classmethod
    def _square(cls, v: Any) -> Any:
        v = (v, v) if isinstance(v, int) and not isinstance(v, bool) else v
        if isinstance(v, (list, tuple)) and any(isinstance(x, (int, float)) and x <= 0 for x in v):
            raise ValueError("an image size is positive pixels, e.g. 28 or [64, 64]")
        return v

    @field_validator("exclude_labels", mode="before")
    @classmethod
    def _labels_as_text(cls, v: Any) -> Any:
        return [str(x) for x in v] if isinstance(v, (list, tuple)) else v


# --------------------------------------------------------------------------------------- model

MAX_WIDTH = 1 << 20  # units of one layer: far above any model that trains on a machine


class Layer(_Section):
    units: Annotated[int, Field(gt=0, le=MAX_WIDTH)]  # the layer's width
    activation: Optional[Activation] = None  # None: the model's `activation`


class GaussianNoise(_Section):
    type: Literal["gaussian"] = "gaussian"
    std: float = Field(0.3, gt=0)


class SaltPepperNoise(_Section):
    type: Literal["salt_pepper"] = "salt_pepper"
    p: float = Field(0.1, gt=0, le=1)


class BitflipNoise(_Section):
    type: Literal["bitflip"] = "bitflip"
    p: float = Field(0.1, gt=0, le=1)


Noise = Annotated[Union[GaussianNoise, SaltPepperNoise, BitflipNoise], Field(discriminator="type")]


def parse_noise(text: str) -> dict:
    """'gaussian:0.3', 'salt_pepper:0.1', 'bitflip:0.05' -> the noise section as a dict."""
    kind, _, level = text.partition(":")
    kind = kind.strip().replace("-", "_")
    key = {"gaussian": "std", "salt_pepper": "p", "bitflip": "p"}.get(kind)
    if key is None:
        raise ValueError(f"unknown noise {kind!r}; use gaussian:STD, salt_pepper:P or bitflip:P")
    if not level:
        return {"type": kind}
    try:
        return {"type": kind, key: float(level)}
    except ValueError:
        raise ValueError(f"noise level {level!r} is not a number (e.g. {kind}:0.3)") from None


# Model types whose latent_dim their networks imply (models/registry.py complete_options fills it in).
DERIVED_LATENT_DIM_TYPES = ("vqvae_grid",)
# Built-in types with no prior and no KL term: their codes are sampled from a density fitted to the
# training codes (sampler auto: a Gaussian; an RAE's, by its paper, the Gaussian mixture).
PRIORLESS_TYPES = ("ae", "dae", "rae")
# Built-in VAEs whose KL weight is one of their model.options, not model.beta.
OWN_KL_WEIGHT_TYPES = {"info_vae": "options.alpha (the KL's weight is 1 - alpha)",
                       "capacity_vae": "options.gamma (it holds the KL at the capacity C)",
                       "beta_tcvae": "options.beta (the total correlation's weight; the KL's other parts keep 1)",
                       "factor_vae": "options.gamma (the total correlation's weight; the KL keeps 1)"}
# Built-in types with a prior but no KL term (their codes are matched to the prior another way).
NO_KL_TYPES = PRIORLESS_TYPES + ("aae", "wae", "vqvae", "vqvae_grid")
# Built-in types whose objective is a game with a discriminator of their own (the trainer's second
# optimizer, train/second_network.py): training.adversarial_start_epoch delays it; the optional
# patch-adversarial term (model.adversarial_weight) is not added to them.
OWN_DISCRIMINATOR_TYPES = ("aae", "factor_vae", "vae_gan")


class ModelConfig(_Section):
    # A registered model type (models/registry.py): ae, dae, vae, beta_vae, or one added with
    # aelab.register_model; the registry says which when the model is built.
    type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")] = "vae"
    # MLP, seed 002's small conv net, or the conv net for real images.
    architecture: Architecture = "mlp"
    # Values per code. Unset: 2, except for a type whose code size follows from its network
    # (vqvae_grid: the encoder's last feature map x options.code_dim), filled in when it is built.
    latent_dim: Optional[Annotated[int, Field(gt=0), limits.checker("latent_dim")]] = None
    # Hidden widths, from exactly one of: listed layers, seed 000's topology lists, seed 001's rule.
    encoder_layers: Optional[list[Layer]] = None
    decoder_layers: Optional[list[Layer]] = None  # unset: the encoder's layers mirrored
    # Seed 000's sizes from input to code, e.g. [784, 256, 128, 16].
    encoder_topology: Optional[list[Annotated[int, Field(gt=0, le=MAX_WIDTH)]]] = None
    # Seed 000's sizes from code to output; unset: mirrored.
    decoder_topology: Optional[list[Annotated[int, Field(gt=0, le=MAX_WIDTH)]]] = None
    n_layers: Optional[Annotated[int, Field(gt=0)]] = None  # seed 001's rule: D_i = D_x - floor((D_x - D_z) i / n)
    activation: Activation = "relu"  # of the hidden layers
    output_activation: OutputActivation = "auto"  # auto: sigmoid (pixels in [0, 1])
    # auto: He before relu-like layers, Xavier otherwise, except PyTorch's own layer defaults for the
    # `conv` architecture with a non-relu-like activation (models/layers.py resolve_init says why)
    init: InitScheme = "auto"
    # Summed over pixels, per image: bce (Bernoulli), mse (Gaussian), l1 (Laplace), or ms_ssim_l1,
    # MS-SSIM mixed with L1 (Zhao et al. 2017) on the same per-image scale (models/ms_ssim.py).
    reconstruction_loss: Literal[RECONSTRUCTION_LOSSES] = "bce"  # type: ignore[valid-type]
    # ms_ssim_l1 only: the weight alpha of its MS-SSIM part, 1 - alpha that of L1 [0.84, the paper's].
    ms_ssim_weight: Optional[float] = Field(None, ge=0, le=1)
    # The patch-adversarial term (models/adversarial.py): its weight in the loss, against a PatchGAN
    # discriminator trained alongside; 0 = off, and then no discriminator is built.
    adversarial_weight: float = Field(0.0, ge=0)
    beta: Optional[float] = Field(None, ge=0)  # weight of the KL term; VAE family only
    noise: Optional[Noise] = None  # corrupts inputs during training (denoising)
    # architecture conv: stride-2 conv layers.
    conv_channels: Annotated[list[Annotated[int, Field(gt=0, le=MAX_WIDTH)]], Field(min_length=1)] = [8, 16, 32]
    conv_dense: Annotated[int, Field(gt=0, le=MAX_WIDTH)] = 64  # architecture conv: the dense layer
    kernel_size: Literal[3, 5] = 3  # architecture conv: the convolutions' kernel width
    # Your own networks: import paths of factories, "package.module:function" (models/networks.py
    # says how they are called); they replace the MLP/conv encoder or decoder above.
    encoder: Optional[Annotated[str, Field(min_length=1)]] = None
    decoder: Optional[Annotated[str, Field(min_length=1)]] = None  # the decoder's factory, as `encoder`
    # Settings of a model type added by a plug-in; its class validates them (Options) when built.
    options: dict[str, Any] = {}
    # architecture image_conv (models/image_conv.py): one stride-2 stage per width, each with
    # `residual_blocks` blocks (one number for all stages, or one per stage) and `normalization`.
    stage_channels: Annotated[list[Annotated[int, Field(gt=0)]], Field(min_length=1)] = [32, 64, 128, 256]
    # image_conv: residual blocks per stage.
    residual_blocks: Union[Annotated[int, Field(ge=0)], list[Annotated[int, Field(ge=0)]]] = 0
    normalization: Normalization = "batch"  # image_conv: BatchNorm, GroupNorm or none
    # image_conv: a code that is a grid, `latent_channels` values at each position of the last feature
    # map (H/2^n x W/2^n for n stages) instead of one dense vector; latent_dim is then that many values
    # in all, filled in from the image size (models/image_conv.py says why a grid generalises).
    latent_channels: Optional[Annotated[int, Field(gt=0, le=MAX_WIDTH)]] = None
    # Where samples.png, `aelab generate` and the estimators' sample() draw codes from
    # (models/samplers/): auto = the prior, or for a model without one (AE, DAE) a Gaussian fitted
    # to the training codes (an RAE: gmm, its paper's ex-post density); gmm = a Gaussian mixture of `gmm_components` fitted to the training
    # codes, which follows the clusters of real images where a VAE's prior covers holes; flow,
    # two_stage, diffusion = a small network learned on the training codes after training.
    sampler: Literal[SAMPLER_CHOICES] = "auto"  # type: ignore[valid-type]
    gmm_components: Annotated[int, Field(ge=1, le=1000)] = 10  # sampler gmm: the mixture's components
    # Settings of the learned samplers, one object per kind: {"flow": {"transforms": 6}}. Each
    # kind's file in models/samplers/ lists them and their defaults (which fit in ~2 CPU minutes);
    # checked when a run starts, with one line naming a wrong key.
    sampler_options: dict[str, dict[str, Any]] = {}

    @field_validator("encoder_layers", "decoder_layers", mode="before")
    @classmethod
    def _int_shorthand(cls, v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [{"units": x} if isinstance(x, int) and not isinstance(x, bool) else x for x in v]
        return v

    @field_validator("sampler_options")
    @classmethod
    def _learned_samplers_only(cls, v: dict) -> dict:
        for kind in v:
            if kind not in LEARNED_SAMPLERS:
                close = difflib.get_close_matches(kind, LEARNED_SAMPLERS, n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise ValueError(f"'{kind}' is not a sampler with options; {hint}those with options: "
                                 f"{', '.join(LEARNED_SAMPLERS)} (gmm's is model.gmm_components)")
        return v

    @field_validator("noise", mode="before")
    @classmethod
    def _noise_shorthand(cls, v: Any) -> Any:
        return parse_noise(v) if isinstance(v, str) else v

    @model_validator(mode="after")
    def _resolve(self) -> "ModelConfig":
        if self.latent_dim is None and self.type not in DERIVED_LATENT_DIM_TYPES:
            self.latent_dim = 2
            self.__pydantic_fields_set__.discard("latent_dim")  # a default: a latent grid may replace it silently
        # encoder_layers [] is a choice (no hidden layer: a linear encoder), not "unset".
        sources = [k for k in ("encoder_layers", "encoder_topology", "n_layers") if getattr(self, k) is not None]
        if len(sources) > 1:
            raise ValueError(f"give the encoder's widths one way, not {' and '.join(sources)}")
        if self.encoder_topology is not None and len(self.encoder_topology) < 2:
            raise ValueError("encoder_topology lists the sizes from the input to the latent layer, e.g. [784, 256, 4]")
        if self.decoder_topology and not self.encoder_topology:
            raise ValueError("decoder_topology needs encoder_topology")
        if self.type == "vae" and self.beta not in (None, 1.0):
            raise ValueError("a plain VAE has beta = 1; set model.type to 'beta_vae' to change beta")
        if self.architecture == "conv" and sources:
            raise ValueError(f"{sources[0]} shapes an MLP; for architecture 'conv' use conv_channels "
                             "and conv_dense")
        if self.architecture == "image_conv":
            self._resolve_image_conv(sources)
        elif self.latent_channels is not None:
            raise ValueError(f"model.latent_channels makes the code a grid of the image_conv network's last "
                             f"feature map; architecture '{self.architecture}' has none: use image_conv or remove it")
        if self.type in NO_KL_TYPES and self.beta == 1.0:
            self.beta = None  # a resolved VAE config re-used with type ae: the default weight, no KL
        if self.type in PRIORLESS_TYPES and self.sampler == "prior":
            raise ValueError(f"model.sampler 'prior': a model of type '{self.type}' has no prior; use 'gaussian' or "
                             "'gmm' (fitted to its training codes), or 'auto'")
        if self.type in NO_KL_TYPES and self.beta is not None:
            raise ValueError(f"beta weighs the KL term, which a model of type '{self.type}' has not")
        if self.type in OWN_KL_WEIGHT_TYPES and self.beta == 1.0:
            self.beta = None  # a resolved VAE config re-used with such a type: the VAE's default weight
        if self.type in OWN_KL_WEIGHT_TYPES and self.beta is not None:
            raise ValueError(f"model.beta: a '{self.type}' weighs its KL term with model.{OWN_KL_WEIGHT_TYPES[self.type]}; "
                             "remove model.beta")
        if self.type in OWN_DISCRIMINATOR_TYPES and self.adversarial_weight > 0:
            raise ValueError(f"model.adversarial_weight: a '{self.type}' plays its own game with a discriminator; "
                             "the patch-adversarial term is not added to it: remove adversarial_weight")
        if self.type == "rae" and self.sampler == "auto":
            self.sampler = "gmm"  # the paper's ex-post density: a mixture fitted to the training codes
        if self.reconstruction_loss == "ms_ssim_l1" and self.ms_ssim_weight is None:
            self.ms_ssim_weight = MS_SSIM_WEIGHT
        if self.reconstruction_loss != "ms_ssim_l1" and self.ms_ssim_weight == MS_SSIM_WEIGHT:
            self.ms_ssim_weight = None  # a resolved ms_ssim_l1 config re-used with another loss
        if self.reconstruction_loss != "ms_ssim_l1" and self.ms_ssim_weight is not None:
            raise ValueError(f"model.ms_ssim_weight weighs the MS-SSIM part of reconstruction_loss 'ms_ssim_l1'; "
                             f"this model's is '{self.reconstruction_loss}': remove ms_ssim_weight, or set "
                             "reconstruction_loss to ms_ssim_l1")
        # Fill every default so that the saved config is complete and re-runs the same model.
        if self.type in ("vae", "beta_vae") and self.beta is None:
            self.beta = 1.0 if self.type == "vae" else 4.0
        if self.type == "dae" and self.noise is None:
            self.noise = GaussianNoise()
        if not sources and self.architecture == "mlp":
            self.encoder_layers = [Layer(units=256), Layer(units=128)]
        if self.encoder_layers is not None and self.decoder_layers is None:
            self.decoder_layers = [l.model_copy() for l in reversed(self.encoder_layers)]
        for layer in (self.encoder_layers or []) + (self.decoder_layers or []):
            layer.activation = layer.activation or self.activation
        if self.output_activation == "auto":
            # Data is scaled to [0, 1]; BCE needs probabilities, and a sigmoid keeps MSE/L1
            # reconstructions in range too. With BCE the sigmoid is fused into the loss (logits).
            self.output_activation = "sigmoid"
        return self

    def _resolve_image_conv(self, sources: list[str]) -> None:
        if sources:
            raise ValueError(f"{sources[0]} shapes an MLP; for architecture 'image_conv' use "
                             "stage_channels and residual_blocks")
        if isinstance(self.residual_blocks, int):
            self.residual_blocks = [self.residual_blocks] * len(self.stage_channels)
        if len(self.residual_blocks) != len(self.stage_channels):
            raise ValueError(f"model.residual_blocks lists {len(self.residual_blocks)} stages but "
                             f"stage_channels has {len(self.stage_channels)}; give one number per stage, "
                             "or a single number for all")


# ------------------------------------------------------------------------------------ training

class OptimizerConfig(_Section):
    type: Optimizer = "adam"  # sgd, momentum (heavy ball) or adam
    beta1: float = Field(0.9, ge=0, lt=1)  # Adam: decay rate of the running mean of the gradients
    beta2: float = Field(0.999, ge=0, lt=1)  # Adam: decay rate of the running mean of squared gradients
    epsilon: float = Field(1e-8, gt=0)  # Adam: added to the step's denominator, for numerical stability
    momentum: float = Field(0.9, ge=0, lt=1)  # for `momentum` (heavy ball SGD)
    weight_decay: float = Field(0.0, ge=0)  # L2 penalty on the weights


class TrainingConfig(_Section):
    epochs: Annotated[int, Field(gt=0)] = 100  # passes over the training images, at most
    # A budget in optimizer steps instead of epochs: the number of epochs becomes what `steps` needs
    # on this data (rounded up), so 172 images and 4,000 get the same amount of training.
    steps: Optional[Annotated[int, Field(gt=0)]] = None
    batch_size: Annotated[int, Field(gt=0)] = 64  # images per optimizer step (all processes together)
    learning_rate: float = Field(1e-3, gt=0)  # the optimizer's step size
    optimizer: OptimizerConfig = OptimizerConfig()  # its keys below, or only its type: "adam"
    validation_split: float = Field(0.1, ge=0, lt=1)  # share of the training images held out to validate
    patience: Optional[Annotated[int, Field(gt=0)]] = 20  # None: no early stopping
    min_delta: float = Field(0.0, ge=0)  # a smaller validation improvement does not count
    seed: int = Field(42, ge=0, lt=2**32)  # seeds every random generator: same seed, same run
    device: Device = "auto"  # auto: a GPU when there is one
    precision: Precision = "auto"  # auto: bf16 where it pays (train/precision.py)
    # Torch threads; None: 1 for small models on a CPU, else torch's.
    threads: Optional[Annotated[int, Field(gt=0)]] = None
    # Epochs between checkpoints; None: after the first epoch, then every 30 s of training, and at
    # the end (a checkpoint per epoch would cost more than the epochs of a small model).
    checkpoint_every: Optional[Annotated[int, Field(gt=0)]] = None
    # Epochs between reconstruction snapshots (training.gif).
    snapshot_every: Optional[Annotated[int, Field(gt=0)]] = None
    tensorboard: bool = False  # scalars, reconstructions and the codes in RUN/tensorboard/
    # Experiment trackers (train/trackers/), off by default.
    mlflow: Union[bool, str] = False  # MLflow: a tracking URI, or true/"auto" for a SQLite store in <runs folder>/mlflow/
    wandb: Union[bool, str] = False  # Weights & Biases, offline: true (files under RUN/wandb/) or a folder; `wandb sync` uploads them
    # Schedules (train/schedules.py) and step hygiene for real images.
    kl_annealing: KLAnnealing = "none"  # the KL weight rises from 0 to beta
    kl_annealing_epochs: Annotated[int, Field(gt=0)] = 10  # the ramp (linear), or one cycle (cyclical)
    free_bits: float = Field(0.0, ge=0)  # nats per latent dimension below which KL is not penalised
    # cosine: to 0 at the last epoch; plateau: halved (lr_patience).
    lr_schedule: LRSchedule = "constant"
    lr_patience: Annotated[int, Field(gt=0)] = 5  # plateau: epochs without improvement before halving
    # The learning rate rises linearly from lr/warmup_steps to lr over the first optimizer steps:
    # Adam's first steps move every weight by about lr whatever its gradient (train/schedules.py).
    warmup_steps: Annotated[int, Field(ge=0)] = 0
    gradient_clip: Optional[float] = Field(None, gt=0)  # max global gradient norm per step
    # Epochs of plain reconstruction before the adversarial term (model.adversarial_weight) and its
    # discriminator start, so that the autoencoder first learns to reconstruct; for aae, factor_vae
    # and vae_gan, the epochs before their own discriminator's game starts.
    adversarial_start_epoch: Annotated[int, Field(ge=0)] = 0

    @field_validator("optimizer", mode="before")
    @classmethod
    def _optimizer_shorthand(cls, v: Any) -> Any:
        return {"type": v} if isinstance(v, str) else v

    @field_validator("mlflow", "wandb", mode="before")
    @classmethod
    def _tracker_setting(cls, v: Any, info) -> Any:
        if isinstance(v, bool) or isinstance(v, str) and v.strip():
            return v.strip() if isinstance(v, str) else v
        what = 'a tracking URI such as "sqlite:///mlflow.db"' if info.field_name == "mlflow" else "a folder for its files"
        raise ValueError(f"takes true, false or {what}")


# -------------------------------------------------------------------------------------- config

class Config(_Section):
    name: Optional[str] = None  # run-name prefix
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()

    @model_validator(mode="before")
    @classmethod
    def _seed004_layout(cls, raw: Any) -> Any:
        # Seed 004 keeps batch_size and validation_split under `data`; they belong to training.
        if isinstance(raw, dict) and isinstance(raw.get("data"), dict):
            data = dict(raw["data"])
            moved = {k: data.pop(k) for k in ("batch_size", "validation_split") if k in data}
            if moved:
                training = dict(raw.get("training") or {})
                for key, value in moved.items():
                    if key in training and training[key] != value:
                        raise ValueError(f"{key} is set twice, in data and in training; keep one")
                    training[key] = value
                raw = {**raw, "data": data, "training": training}
        return raw

    @model_validator(mode="after")
    def _kl_knobs_need_kl(self) -> "Config":
        t = self.training
        for key, active in (("kl_annealing", t.kl_annealing != "none"), ("free_bits", t.free_bits > 0)):
            # The types known to have no KL term; a plug-in type without one ignores these knobs.
            if active and self.model.type in NO_KL_TYPES:
                raise ValueError(f"training.{key} acts on the KL term, which a model of type "
                                 f"'{self.model.type}' has not; use a VAE-family model.type, or remove it")
        return self

    @model_validator(mode="after")
    def _adversarial_start(self) -> "Config":
        start, weight = self.training.adversarial_start_epoch, self.model.adversarial_weight
        if self.model.type in OWN_DISCRIMINATOR_TYPES:
            if start >= self.training.epochs:
                raise ValueError(f"training.adversarial_start_epoch {start} is not before the last epoch "
                                 f"({self.training.epochs}): the '{self.model.type}' discriminator would never start; lower it")
            return self
        if start and weight == 0:
            raise ValueError("training.adversarial_start_epoch delays the adversarial term, which is off "
                             "(model.adversarial_weight is 0): set model.adversarial_weight, or remove it")
        if weight > 0 and start >= self.training.epochs:
            raise ValueError(f"training.adversarial_start_epoch {start} is not before the last epoch "
                             f"({self.training.epochs}): the adversarial term would never start; lower it")
        return self

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")


# ---------------------------------------------------------------------------- the door: loading

def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                base: dict | None = None) -> Config:
    """Read a JSON (or YAML) config, apply `key.path=value` overrides, validate. Raises AelabError."""
    raw: dict = copy.deepcopy(base) if base else {}
    if path is not None:
        raw = read_config_file(path)
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise AelabError(f"--set {item!r}: expected KEY=VALUE, e.g. --set training.epochs=5")
        set_dotted(raw, key.strip(), parse_value(value))
    return validate_config(raw, source=str(path) if path else "config")


MAX_CONFIG_BYTES = 1 << 20  # 1 MiB: a config is a few kB


def read_config_file(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise AelabError(f"config file {path} does not exist; give the path of a .json or .yaml file")
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise AelabError(f"config file {path} is {size / 1e6:.1f} MB; a config is a few kB: is it the right file?")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise AelabError(f"{path}: not UTF-8 text (byte {e.start} is {e.object[e.start:e.start + 1]!r}); "
                         "save the config as UTF-8") from None
    yaml_file = path.suffix.lower() in (".yaml", ".yml")
    try:
        raw = _safe_yaml(text) if yaml_file else json.loads(text)
    except json.JSONDecodeError as e:
        hint = " (JSON has no comments: remove the // lines)" if "//" in text else ""
        raise AelabError(f"{path}: not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}{hint}") from None
    except RecursionError:
        raise AelabError(f"{path}: nested too deeply to be a config (sections data, model, training hold "
                         "plain values)") from None
    except AelabError as e:
        raise AelabError(f"{path}: {e}") from None
    except Exception as e:  # yaml.YAMLError
        raise AelabError(f"{path}: not valid {'YAML' if yaml_file else 'JSON'}: {str(e).splitlines()[0][:200]}") from None
    if not isinstance(raw, dict):
        raise AelabError(f"{path}: the config must be an object with sections data, model, training")
    return raw


def _safe_yaml(text: str) -> Any:
    """Plain YAML 1.2 data: `yes` and `1:30` stay text, !!binary and aliases are refused (yaml12.py)."""
    return yaml12.load(text)


def parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return text


def set_dotted(raw: dict, key: str, value: Any) -> None:
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        if not isinstance(node.get(part, {}), dict):
            raise AelabError(f"--set {key}: {part} is not a section")
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def validate_config(raw: dict, source: str = "config") -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as e:
        raise AelabError(f"{source}: " + "; ".join(_explain(err) for err in e.errors())) from None


def _explain(err: dict) -> str:
    loc = [str(p) for p in err["loc"]]
    key = ".".join(loc) or "config"
    if err["type"] == "extra_forbidden":
        valid = _valid_keys(err["loc"][:-1])
        close = difflib.get_close_matches(loc[-1], valid, n=1, cutoff=0.5)
        hint = f"did you mean '{'.'.join(loc[:-1] + close)}'?" if close else f"valid keys here: {', '.join(valid)}"
        return f"unknown key '{key}'; {hint}"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "union_tag_invalid":
        return f"{key}: {msg}"
    got = err.get("input")
    shown = "" if isinstance(got, dict) or err["type"] == "missing" else f" (got {_shorten(json.dumps(got, default=str))})"
    return f"{key}: {msg}{shown}"


def _shorten(text: str, limit: int = 80) -> str:
    """An echoed value, cut: a 50 MB list must not become a 50 MB error line."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _valid_keys(loc: tuple) -> list[str]:
    """The field names allowed at a location, for the 'did you mean' hint."""
    model: type[BaseModel] | None = Config
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        if part in model.model_fields:
            model = _model_in(model.model_fields[part].annotation)
        else:  # a discriminated union's tag, e.g. noise -> 'gaussian'
            model = next((m for m in (GaussianNoise, SaltPepperNoise, BitflipNoise)
                          if m.model_fields["type"].default == part), None)
    return list(model.model_fields) if model else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
