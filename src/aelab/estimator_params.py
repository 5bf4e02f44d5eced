"""The estimators' parameters, listed once: each is a config key (or, rarely, a Python-only
setting), and from this one table come every estimator's `__init__`, the mapping between an
estimator's parameters and a Config (both ways), and the numpydoc "Parameters" section of its
docstring (type and default from the pydantic schema, meaning from the key's comment in config.py).

Why generate `__init__` rather than write it out: scikit-learn needs explicit named parameters
(`get_params` reads `inspect.signature(cls.__init__)`, and `clone` / `set_params` rebuild an
estimator from them), so a `**kwargs` constructor is not an option; four hand-written copies of
45 parameters were. A `__signature__` attached to a `**kwargs` function would satisfy
`get_params` but not a call with positional arguments, and it hides the real function from
`inspect`'s other users. So, as the standard library's `dataclasses` does, a plain function with
an explicit signature is compiled from a two-line template (`self.<name> = <name>` per parameter):
it is a real function, its signature is what `help()`, scikit-learn and IDEs at run time see,
and it only stores its arguments (scikit-learn's rule). A subclass names only what is its own:
`_own_params` (BetaVAE's `beta`) and `_own_defaults` (DAE's noise); they come first in its
signature, in that order, followed by the shared parameters in the table's order.

Adding a parameter: a key in config.py (with its comment) and a row in PARAMS below.
"""

from __future__ import annotations

import functools
import inspect
import keyword
import textwrap
import typing
from dataclasses import dataclass
from typing import Any, Callable, Literal, Union

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from aelab import config_comments
from aelab.config import Config

SCHEMA = object()  # a Param's default: the schema's (a list becomes a tuple, an empty dict None)
OMIT = object()  # a to_config result: leave the key out of the config (its schema default applies)


@dataclass(frozen=True)
class Param:
    name: str  # the estimator's parameter
    key: str | None  # its config key path ("training.optimizer.beta1"); None: a Python-only setting
    default: Any = SCHEMA
    type: str | None = None  # numpydoc type; None: read from the schema
    doc: str = ""  # what the estimator adds to the key's meaning (the whole meaning if key is None)
    to_config: Callable[[Any], Any] | None = None  # parameter value -> config value
    from_config: Callable[[Any, BaseModel], Any] | None = None  # (config value, its section) -> parameter

    def field(self):
        """(the section class, the pydantic field) of this parameter's config key."""
        section: type[BaseModel] = Config
        *path, last = self.key.split(".")
        for part in path:
            section = _models_in(section.model_fields[part].annotation)[0]
        return section, section.model_fields[last]

    def schema_default(self) -> Any:
        if self.default is not SCHEMA:
            return self.default
        value = self.field()[1].default
        assert value is not PydanticUndefined, f"{self.key} has no default to give {self.name}"
        if isinstance(value, list):
            return tuple(value)  # scikit-learn's defaults are immutable
        if isinstance(value, dict):
            return None
        return value


def _noise_text(noise, section) -> str | None:
    return None if noise is None else f"{noise.type}:{getattr(noise, 'std', None) or getattr(noise, 'p')}"


def _layers(layers, section) -> list | None:
    """Config layers -> the estimator's form: widths, or {units, activation} where one differs;
    None where the widths come from another key (n_layers, a topology) or another architecture."""
    if not layers or section.architecture != "mlp" or section.n_layers or section.encoder_topology:
        return None
    if all(l.activation in (None, section.activation) for l in layers):
        return [l.units for l in layers]
    return [l.model_dump() for l in layers]


def _plain_or_omitted(value):
    return value if value is None or isinstance(value, str) else OMIT  # an nn.Module goes to fit itself


_LAYERS = dict(type="list of int or dict, or None", from_config=_layers,
               doc="Widths ([256, 128]) or {units, activation} objects.")
_NETWORK = dict(type="str, torch.nn.Module or None", to_config=_plain_or_omitted,
                doc="Or an `nn.Module`, copied at fit; a saved model keeps its weights, not its code "
                    "(pass it again to `aelab.load`).")

# The parameters every estimator has, in their signature's order.
PARAMS: tuple[Param, ...] = (
    Param("latent_dim", "model.latent_dim", 2),
    Param("architecture", "model.architecture"),
    Param("encoder_layers", "model.encoder_layers", **_LAYERS),
    Param("decoder_layers", "model.decoder_layers", **_LAYERS),
    Param("encoder_topology", "model.encoder_topology"),
    Param("decoder_topology", "model.decoder_topology"),
    Param("n_layers", "model.n_layers"),
    Param("conv_channels", "model.conv_channels"),
    Param("conv_dense", "model.conv_dense"),
    Param("kernel_size", "model.kernel_size"),
    Param("stage_channels", "model.stage_channels"),
    Param("residual_blocks", "model.residual_blocks"),
    Param("normalization", "model.normalization"),
    Param("latent_channels", "model.latent_channels"),
    Param("sampler", "model.sampler"),
    Param("gmm_components", "model.gmm_components"),
    Param("sampler_options", "model.sampler_options"),
    Param("encoder", "model.encoder", **_NETWORK),
    Param("decoder", "model.decoder", **_NETWORK),
    Param("activation", "model.activation"),
    Param("output_activation", "model.output_activation"),
    Param("init", "model.init"),
    Param("reconstruction_loss", "model.reconstruction_loss"),
    Param("ms_ssim_weight", "model.ms_ssim_weight"),
    Param("adversarial_weight", "model.adversarial_weight"),
    Param("adversarial_start_epoch", "training.adversarial_start_epoch"),
    Param("noise", "model.noise", type="str or None", from_config=_noise_text,
          doc="As text: 'gaussian:STD', 'salt_pepper:P' or 'bitflip:P' (binary data)."),
    Param("optimizer", "training.optimizer.type"),
    Param("learning_rate", "training.learning_rate"),
    Param("beta1", "training.optimizer.beta1"),
    Param("beta2", "training.optimizer.beta2"),
    Param("epsilon", "training.optimizer.epsilon"),
    Param("momentum", "training.optimizer.momentum"),
    Param("weight_decay", "training.optimizer.weight_decay"),
    Param("kl_annealing", "training.kl_annealing"),
    Param("kl_annealing_epochs", "training.kl_annealing_epochs"),
    Param("free_bits", "training.free_bits"),
    Param("lr_schedule", "training.lr_schedule"),
    Param("lr_patience", "training.lr_patience"),
    Param("gradient_clip", "training.gradient_clip"),
    Param("epochs", "training.epochs"),
    Param("steps", "training.steps"),
    Param("warmup_steps", "training.warmup_steps"),
    Param("batch_size", "training.batch_size"),
    Param("validation_split", "training.validation_split", 0.0,
          doc="An estimator learns from all of X unless asked (a config file's default is 0.1)."),
    Param("patience", "training.patience", None,
          doc="An estimator trains every epoch unless asked (a config file's default is 20)."),
    Param("min_delta", "training.min_delta"),
    Param("seed", "training.seed"),
    Param("device", "training.device"),
    Param("precision", "training.precision"),
    Param("threads", "training.threads"),
    Param("verbose", None, False, type="bool", doc="Show progress bars while training and fitting the sampler."),
    Param("mlflow", "training.mlflow"),
    Param("wandb", "training.wandb"),
)
# Parameters only some estimators have (they name them in `_own_params`).
MODEL_TYPE = Param("model_type", "model.type")
OPTIONS = Param("options", "model.options")
BETA = Param("beta", "model.beta", doc="None: the model type's default.")
BETA_VAE_BETA = Param("beta", "model.beta", 4.0)
ALL = (*PARAMS, MODEL_TYPE, OPTIONS, BETA)  # every config key an estimator may have


def signature(cls) -> list[tuple[Param, Any]]:
    """(parameter, default) of `cls`, in its signature's order: the parameters its classes declare
    as their own and those whose default they change first (the most derived first), then the rest."""
    own: dict[str, Param] = {}
    defaults: dict[str, Any] = {}
    for klass in cls.__mro__:  # the most derived first: its declarations win
        for p in vars(klass).get("_own_params", ()):
            own.setdefault(p.name, p)
        for name, value in vars(klass).get("_own_defaults", {}).items():
            defaults.setdefault(name, value)
    table = {p.name: p for p in (*own.values(), *PARAMS)}
    unknown = set(defaults) - set(table)
    assert not unknown, f"{cls.__name__}._own_defaults names no parameter: {sorted(unknown)}"
    order = [*own, *(n for n in defaults if n not in own), *(p.name for p in PARAMS if p.name not in own and p.name not in defaults)]
    return [(table[n], defaults.get(n, table[n].schema_default())) for n in order]


def install(cls) -> None:
    """Give `cls` its generated `__init__` and its docstring's Parameters section."""
    params = signature(cls)
    cls._param_table = tuple(p for p, _ in params)
    cls.__init__ = _init(cls, params)
    cls.__doc__ = (inspect.cleandoc(cls.__doc__ or "") + "\n\n" + parameters_section(params)).strip()


def _init(cls, params: list[tuple[Param, Any]]):
    names = [p.name for p, _ in params]
    assert all(n.isidentifier() and not keyword.iskeyword(n) for n in names), names  # the table's own names
    body = "".join(f"\n    self.{n} = {n}" for n in names) or "\n    pass"
    namespace: dict[str, Any] = {}
    exec(compile(f"def __init__(self, {', '.join(names)}):{body}\n",  # noqa: S102 - names from PARAMS only
                 f"<{cls.__qualname__}.__init__, from aelab.estimator_params>", "exec"), namespace)
    init = namespace["__init__"]
    init.__defaults__ = tuple(d for _, d in params)
    init.__qualname__, init.__module__ = f"{cls.__qualname__}.__init__", cls.__module__
    return init


# ---------------------------------------------------------------------------- config <-> parameters

def to_config(estimator) -> dict:
    """An estimator's parameters as the nested config dict they stand for (validated by the caller)."""
    tree: dict = {}
    for p in estimator._param_table:
        if p.key is None:
            continue
        value = getattr(estimator, p.name)
        value = p.to_config(value) if p.to_config else value
        if value is OMIT:
            continue
        if isinstance(value, tuple):
            value = list(value)
        if value is None and isinstance(p.field()[1].default, dict):
            value = {}
        *path, last = p.key.split(".")
        node = tree
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return tree


def from_config(config: Config) -> dict:
    """The parameters (of every estimator: a class keeps its own) that rebuild `config`'s model."""
    params = {}
    for p in ALL:
        if p.key is None:
            continue
        *path, last = p.key.split(".")
        section = config
        for part in path:
            section = getattr(section, part)
        value = getattr(section, last)
        if p.from_config:
            value = p.from_config(value, section)
        elif isinstance(value, dict):
            value = dict(value) or None
        elif isinstance(value, (list, tuple)):
            value = list(value)
        params[p.name] = value
    return params


# ------------------------------------------------------------------------------------ docstrings

def parameters_section(params: list[tuple[Param, Any]]) -> str:
    """numpydoc's "Parameters" section: `name : type, default=value` and the meaning below it."""
    lines = ["Parameters", "----------"]
    for p, default in params:
        lines.append(f"{p.name} : {type_text(p)}, default={default!r}")
        lines += textwrap.wrap(meaning(p), 96, initial_indent="    ", subsequent_indent="    ")
    return "\n".join(lines)


@functools.lru_cache(maxsize=None)  # a shared row is documented in each estimator's docstring
def meaning(p: Param) -> str:
    if p.key is None:
        return p.doc
    section, _ = p.field()
    said = config_comments.meaning(section, p.key.rsplit(".", 1)[-1]).strip()
    said = said + ("" if not said or said.endswith(".") else ".")
    return " ".join(part for part in (said, p.doc, f"Config key `{p.key}`.") if part)


@functools.lru_cache(maxsize=None)
def type_text(p: Param) -> str:
    return p.type or _type_text(p.field()[1].annotation)


def _type_text(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_text(args[0])
    if origin is Literal:
        return "{" + ", ".join(repr(a) for a in args) + "}"
    if origin is Union:
        parts = [_type_text(a) for a in args if a is not type(None)]
        return " or ".join(parts) + (" or None" if type(None) in args else "")
    if origin is list:
        return f"list of {_type_text(args[0])}"
    if origin is dict or isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "dict"
    return {"Any": "object"}.get(getattr(annotation, "__name__", ""), getattr(annotation, "__name__", str(annotation)))


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
