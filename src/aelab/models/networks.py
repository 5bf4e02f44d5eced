"""The networks a config describes: aelab's MLP, conv or image_conv encoder and decoder, or the user's own
from an importable factory (`model.encoder: "package.module:function"`), called as

    encoder = function(input_shape=(C, H, W), out_features=K)   # images -> (B, K)
    decoder = function(latent_dim=D, output_shape=(C, H, W))    # codes -> pre-activation images

A run stores the factory's import path in its config and the weights in safetensors; no code is
ever pickled. A factory is imported only when trusted (aelab/trust.py): named by the user's own
config, or the user said --trust-code.
"""

from __future__ import annotations

import importlib
import math

from torch import nn

from aelab import trust
from aelab.config import ModelConfig
from aelab.errors import AelabError
from aelab.models.conv import ConvDecoder, ConvEncoder
from aelab.models.image_conv import ImageDecoder, ImageEncoder
from aelab.models.layers import resolve_init
from aelab.models.mlp import MLPDecoder, MLPEncoder
from aelab.models.topology import mlp_widths


def build_networks(config: ModelConfig, input_shape: tuple[int, int, int], encoder_outputs: int,
                   need_encoder: bool = True, need_decoder: bool = True) -> tuple[nn.Module | None, nn.Module | None]:
    """(encoder, decoder); None for one not needed (given by the caller)."""
    encoder = decoder = None
    if config.architecture == "mlp" and ((need_encoder and not config.encoder) or (need_decoder and not config.decoder)):
        enc, dec = mlp_widths(config, math.prod(input_shape), encoder_outputs)
    conv = dict(channels=config.conv_channels, dense=config.conv_dense, act=config.activation,
                kernel=config.kernel_size,
                init=resolve_init(config.init, "conv", config.activation))  # auto: PyTorch's defaults for tanh
    image = image_conv_settings(config)
    if need_encoder:
        if config.encoder:
            encoder = _from_factory(config.encoder, "model.encoder", input_shape=input_shape, out_features=encoder_outputs)
        elif config.architecture == "mlp":
            encoder = MLPEncoder(input_shape, enc, encoder_outputs, config.init)
        elif config.architecture == "image_conv":
            encoder = ImageEncoder(input_shape, out_features=encoder_outputs, **image)
        else:
            encoder = ConvEncoder(input_shape, out_features=encoder_outputs, **conv)
    if need_decoder:
        if config.decoder:
            decoder = _from_factory(config.decoder, "model.decoder", latent_dim=config.latent_dim, output_shape=input_shape)
        elif config.architecture == "mlp":
            decoder = MLPDecoder(config.latent_dim, dec, input_shape, config.init, config.output_activation)
        elif config.architecture == "image_conv":
            decoder = ImageDecoder(config.latent_dim, input_shape, output_activation=config.output_activation, **image)
        else:
            decoder = ConvDecoder(config.latent_dim, input_shape, output_activation=config.output_activation, **conv)
    return encoder, decoder


def image_conv_settings(config: ModelConfig) -> dict:
    """The keyword arguments of ImageEncoder and ImageDecoder that the config sets."""
    return dict(channels=config.stage_channels, blocks=config.residual_blocks, norm=config.normalization,
                act=config.activation, init=config.init, latent_channels=config.latent_channels)


def import_object(path: str, key: str):
    """'package.module:name' (or 'package.module.name') -> the object; one line if it cannot be."""
    module_name, sep, name = path.partition(":")
    if not sep:
        module_name, _, name = path.rpartition(".")
    if not module_name or not name:
        raise AelabError(f"{key} {path!r}: give an import path such as 'mypackage.nets:make_encoder'")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # ImportError, or an error inside the module
        raise AelabError(f"{key} {path!r}: cannot import {module_name} ({type(e).__name__}: {e}); "
                         "install it or add its folder to PYTHONPATH") from None
    obj = module
    for part in name.split("."):
        if not hasattr(obj, part):
            raise AelabError(f"{key} {path!r}: {module_name} has no {name}")
        obj = getattr(obj, part)
    return obj


def _from_factory(path: str, key: str, **shape) -> nn.Module:
    trust.check(path, key)  # before anything is imported: importing runs the module's code
    factory = import_object(path, key)
    try:
        module = factory(**shape)
    except Exception as e:
        args = ", ".join(f"{k}={v}" for k, v in shape.items())
        raise AelabError(f"{key} {path!r} failed when called as {path.split(':')[-1]}({args}): "
                         f"{type(e).__name__}: {e}") from None
    if not isinstance(module, nn.Module):
        raise AelabError(f"{key} {path!r} returned a {type(module).__name__}; it must return a torch.nn.Module")
    return module
