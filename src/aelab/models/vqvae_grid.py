"""model.type 'vqvae_grid': a VQ-VAE with a spatial grid of codes and an autoregressive prior over
it (van den Oord, Vinyals & Kavukcuoglu, 2017), so that samples are structured images.

The image_conv encoder keeps its last feature map (no dense head): a 1x1 conv gives a code of
`code_dim` values at each of its h x w positions (8x8 for 64x64 images and 3 stages, 7x7 for
28x28 and 2), each snapped to its nearest codebook entry; the decoder starts from that grid. The
code the rest of aelab sees (latent maps, interpolation, `aelab serve`) is the grid flattened
position by position, latent_dim = h * w * code_dim, derived from the input size and the stages.

    loss = reconstruction_loss + codebook_loss + commitment * commitment_loss + prior_loss

The first three terms, the dead-code restarts, `perplexity` and `codebook_usage` are the flat
VQ-VAE's (vqvae.py). `prior_loss` trains the prior, a gated PixelCNN over the grid's code indices
(pixelcnn.py), on the indices of each batch: its cross-entropy in nats per position. The indices
carry no gradient, so the prior's loss reaches only its own weights, never the encoder or the
codebook; the prior trains jointly with the autoencoder (one run, one optimizer) and lives in
model.safetensors and the checkpoints with everything else. The per-position categorical the flat
VQ-VAE samples from treats positions as independent and mixes parts of different images; this
prior draws each code given all the codes above it and to its left.
"""

from __future__ import annotations

import math
from typing import Annotated

import torch
from pydantic import BaseModel, ConfigDict, Field

from aelab import limits
from aelab.errors import AelabError
from aelab.models.autoencoder import parse_options
from aelab.models.image_conv import ImageDecoder, ImageEncoder, grid_size
from aelab.models.networks import image_conv_settings
from aelab.models.pixelcnn import GatedPixelCNN
from aelab.models.vqvae import VQVAE


class GridVQVAEOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    codebook_size: Annotated[int, Field(ge=2), limits.checker("codebook_size")] = 64
    code_dim: int = Field(16, ge=1, le=4096)  # values per code (per grid position)
    commitment: float = Field(0.25, ge=0)  # beta of the paper
    restart_threshold: float = Field(0.03, ge=0)  # 0: never restart dead codes
    prior_channels: int = Field(64, ge=1, le=4096)  # width of the PixelCNN prior
    prior_layers: int = Field(6, ge=1, le=64)  # its gated layers; each sees one row further up


class GridVQVAE(VQVAE):
    Options = GridVQVAEOptions

    def __init__(self, config, input_shape, encoder, decoder):
        super().__init__(config, input_shape, encoder, decoder)
        self.grid = grid_size(self.input_shape, config.stage_channels)  # (h, w)
        opts = self.options
        self.prior_net = GatedPixelCNN(opts.codebook_size, opts.prior_channels, opts.prior_layers)

    def code_positions(self) -> int:
        return math.prod(grid_size(self.input_shape, self.config.stage_channels))

    @classmethod
    def derived_latent_dim(cls, config, input_shape) -> int:
        if config.architecture != "image_conv" or config.encoder or config.decoder:
            raise AelabError("a 'vqvae_grid' quantises the last feature map of aelab's image_conv encoder: "
                             "set model.architecture to image_conv (and no model.encoder/decoder of your own)")
        code_dim = parse_options(cls, config).code_dim  # one line naming a wrong option
        h, w = grid_size(tuple(input_shape), config.stage_channels)
        derived = h * w * code_dim
        if config.latent_dim is not None and config.latent_dim != derived:
            raise AelabError(f"model.latent_dim {config.latent_dim} contradicts the code of a 'vqvae_grid' on "
                             f"{input_shape[1]}x{input_shape[2]} images: a {h}x{w} grid of {code_dim}-value codes "
                             f"is {derived} values; leave latent_dim out (it is derived) or set it to {derived}")
        return derived

    @classmethod
    def from_config(cls, config, input_shape, encoder=None, decoder=None) -> "GridVQVAE":
        if encoder is not None or decoder is not None:
            raise AelabError("a 'vqvae_grid' builds its own image_conv networks; give no encoder or decoder")
        config = config.model_copy(update={"latent_dim": cls.derived_latent_dim(config, input_shape)})
        code_dim = parse_options(cls, config).code_dim
        settings = {**image_conv_settings(config), "latent_channels": code_dim}  # a code at each position
        return cls(config, input_shape,
                   ImageEncoder(input_shape, out_features=config.latent_dim, **settings),
                   ImageDecoder(config.latent_dim, input_shape, output_activation=config.output_activation, **settings))

    def objective(self, x: torch.Tensor, generator: torch.Generator | None = None,
                  labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        terms, index = self.quantised_objective(x, generator)  # index (B, h * w): no gradient
        prior_loss = self.prior_net.loss(index.view(len(index), *self.grid))
        return {**terms, "loss": terms["loss"] + prior_loss, "prior_loss": prior_loss}

    @torch.no_grad()
    def prior(self, n: int, generator: torch.Generator | None = None,
              temperature: float = 1.0) -> torch.Tensor | None:
        """n codes: a grid of indices drawn in raster order, snapped to the codebook, flattened."""
        index = self.prior_net.sample(n, self.grid, generator, temperature)  # (n, h, w)
        return self.codebook.detach()[index].flatten(1).float().cpu()  # (n, h * w * code_dim)

    @property
    def prior_description(self) -> str:
        return f"the PixelCNN prior over the {self.grid[0]}x{self.grid[1]} code grid"
