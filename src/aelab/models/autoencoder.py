"""The autoencoder: an encoder, a decoder, and (VAE family) the reparameterisation between them.

AE and DAE share this module (a DAE differs only in the corrupted inputs it is trained on);
VAE and beta-VAE encode a mean and a log-variance and sample z = mean + sigma * eps.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from aelab.config import ModelConfig
from aelab.errors import AelabError
from aelab.models.conv import ConvDecoder, ConvEncoder
from aelab.models.image_conv import ImageDecoder, ImageEncoder
from aelab.models.layers import activation
from aelab.models.mlp import MLPDecoder, MLPEncoder
from aelab.models.topology import mlp_widths


class ForwardOutput(NamedTuple):
    logits: torch.Tensor  # (B, C, H, W) decoder output before the output activation
    mean: torch.Tensor  # (B, latent_dim) the code (AE) or the posterior mean (VAE)
    logvar: torch.Tensor | None  # (B, latent_dim) posterior log-variance; None for AE/DAE
    z: torch.Tensor  # (B, latent_dim) the code that was decoded


class Autoencoder(nn.Module):
    def __init__(self, config: ModelConfig, input_shape: tuple[int, int, int]):
        super().__init__()
        self.config = config
        self.input_shape = tuple(input_shape)  # (C, H, W)
        self.variational = config.variational
        input_dim = math.prod(input_shape)
        if config.latent_dim >= input_dim:
            raise AelabError(f"model.latent_dim {config.latent_dim} is not smaller than the input "
                             f"({input_dim} values per image); choose latent_dim < {input_dim}")
        head = 2 * config.latent_dim if self.variational else config.latent_dim
        if config.architecture == "mlp":
            enc, dec = mlp_widths(config, input_dim)
            self.encoder = MLPEncoder(input_shape, enc, head, config.init)
            self.decoder = MLPDecoder(config.latent_dim, dec, input_shape, config.init, config.output_activation)
        elif config.architecture == "image_conv":
            image = dict(channels=config.stage_channels, blocks=config.residual_blocks,
                         norm=config.normalization, act=config.activation, init=config.init)
            self.encoder = ImageEncoder(input_shape, out_features=head, **image)
            self.decoder = ImageDecoder(config.latent_dim, input_shape,
                                        output_activation=config.output_activation, **image)
        else:
            conv = dict(channels=config.conv_channels, dense=config.conv_dense, act=config.activation,
                        kernel=config.kernel_size, init=config.init)
            self.encoder = ConvEncoder(input_shape, out_features=head, **conv)
            self.decoder = ConvDecoder(config.latent_dim, input_shape, output_activation=config.output_activation, **conv)
        self.output_activation = activation(config.output_activation)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.encoder(x)
        if not self.variational:
            return h, None
        mean, logvar = h.chunk(2, dim=1)
        return mean, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent codes (B, latent_dim) -> images (B, C, H, W) in the data's range."""
        return self.output_activation(self.decoder(z))

    def forward(self, x: torch.Tensor, sample: bool = True,
                generator: torch.Generator | None = None) -> ForwardOutput:
        mean, logvar = self.encode(x)
        z = mean
        if logvar is not None and sample:  # reparameterisation: gradients flow through mean and sigma
            eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            z = mean + torch.exp(0.5 * logvar) * eps
        return ForwardOutput(self.decoder(z), mean, logvar, z)
