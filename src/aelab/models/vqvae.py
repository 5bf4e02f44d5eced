"""model.type 'vqvae': the vector-quantised autoencoder (van den Oord, Vinyals & Kavukcuoglu, 2017).
The encoder's output (B, latent_dim) is cut into `positions` vectors of latent_dim / positions
values; each is replaced by its nearest entry of a learned codebook of `codebook_size` vectors,
and the decoder sees the quantised code (gradients pass straight through the snap):

    loss = reconstruction_loss + codebook_loss + commitment * commitment_loss

codebook_loss pulls the chosen entries towards the encoder's outputs, commitment_loss the outputs
towards their entries. Logged with them: `perplexity` (exp of the entropy of code use in the
batch: 1 = one code for everything, codebook_size = all used evenly) and `codebook_usage` (the
share of entries used in the batch). Dead-code restarts: an entry whose running share of use
falls below restart_threshold / codebook_size is moved onto a random encoder output of the
current batch (drawn from the training generator, so runs repeat and resume exactly).

The prior to sample from is a per-position categorical: for each position, how often each entry
was chosen (a running average over the last training steps, a buffer saved with the weights).
Why not a small autoregressive prior (PixelCNN): aelab's codes have few positions (1 by default:
the whole code is one entry), where the categorical is exact and needs no second training stage;
with several positions it ignores their dependence, so samples mix parts of different images.
model.type 'vqvae_grid' (vqvae_grid.py) is the VQ-VAE with a spatial grid of codes and an
autoregressive prior over it.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from aelab import limits
from aelab.errors import AelabError
from aelab.models.autoencoder import Autoencoder, ForwardOutput
from aelab.models.losses import reconstruction_loss

USAGE_DECAY = 0.95  # per training step: the running share of use forgets over ~20 steps


class VQVAEOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    codebook_size: Annotated[int, Field(ge=2), limits.checker("codebook_size")] = 64
    commitment: float = Field(0.25, ge=0)  # beta of the paper
    positions: int = Field(1, ge=1)  # codes per image; latent_dim must be a multiple of it
    restart_threshold: float = Field(0.03, ge=0)  # 0: never restart dead codes


class VQVAE(Autoencoder):
    Options = VQVAEOptions

    def __init__(self, config, input_shape, encoder, decoder):
        super().__init__(config, input_shape, encoder, decoder)
        opts = self.options
        self.positions = self.code_positions()
        if config.latent_dim % self.positions:
            raise AelabError(f"model.options.positions {self.positions} must divide model.latent_dim "
                             f"{config.latent_dim} (each position is latent_dim / positions values)")
        self.code_dim = config.latent_dim // self.positions
        self.codebook = nn.Parameter(torch.empty(opts.codebook_size, self.code_dim).uniform_(-1, 1))
        # running share of use of each entry at each position: the prior, and the dead-code test
        self.register_buffer("usage", torch.full((self.positions, opts.codebook_size), 1.0 / opts.codebook_size))

    def code_positions(self) -> int:
        """Codes per image."""
        return self.options.positions

    def quantise(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, latent_dim) -> (indices (B, positions), quantised (B, positions, code_dim))."""
        h = h.view(len(h), self.positions, self.code_dim)
        index = torch.cdist(h, self.codebook[None].expand(len(h), -1, -1)).argmin(-1)
        return index, self.codebook[index]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The quantised code, the one the decoder sees."""
        return self.quantise(self.encoder(x))[1].flatten(1), None

    def forward(self, x: torch.Tensor, sample: bool = True,
                generator: torch.Generator | None = None) -> ForwardOutput:
        h = self.encoder(x)
        q = self.quantise(h)[1].flatten(1)
        z = h + (q - h).detach()  # straight-through: the decoder's gradient reaches the encoder
        return ForwardOutput(self.decoder(z), q, None, z)

    def objective(self, x: torch.Tensor, generator: torch.Generator | None = None,
                  labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return self.quantised_objective(x, generator)[0]

    def quantised_objective(self, x: torch.Tensor, generator: torch.Generator | None = None
                            ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """(the named terms of the batch, the code indices (B, positions) its images got)."""
        h = self.encoder(self.corrupt(x, generator))
        if self.training and self.options.restart_threshold > 0:
            self._restart_dead_codes(h.detach(), generator)
        index, q = self.quantise(h)
        h3 = h.view_as(q)
        codebook_loss = (q - h3.detach()).square().sum((1, 2)).mean()
        commitment_loss = (h3 - q.detach()).square().sum((1, 2)).mean()
        z = (h3 + (q - h3).detach()).flatten(1)
        out = ForwardOutput(self.decoder(z), z, None, z)
        recon = reconstruction_loss(self, out, x).mean()
        share = F.one_hot(index, self.options.codebook_size).float().mean(0)  # (positions, codebook)
        if self.training:
            with torch.no_grad():
                self.usage.mul_(USAGE_DECAY).add_(share, alpha=1 - USAGE_DECAY)
        used = share.mean(0)
        perplexity = torch.exp(-(used * torch.log(used.clamp_min(1e-10))).sum())
        return self.adversarial({"loss": recon + codebook_loss + self.options.commitment * commitment_loss,
                                 "reconstruction_loss": recon, "codebook_loss": codebook_loss,
                                 "commitment_loss": commitment_loss, "perplexity": perplexity,
                                 "codebook_usage": (used > 0).float().mean()}, out, x), index

    @torch.no_grad()
    def _restart_dead_codes(self, h: torch.Tensor, generator: torch.Generator | None) -> None:
        dead = self.usage.mean(0) < self.options.restart_threshold / self.options.codebook_size
        vectors = h.view(-1, self.code_dim)
        pick = torch.randint(len(vectors), (self.options.codebook_size,), generator=generator, device=h.device)
        # whole-tensor: every entry gets a candidate, only the dead ones take it
        self.codebook.copy_(torch.where(dead[:, None], vectors[pick], self.codebook))
        self.usage[:, dead] = 1.0 / self.options.codebook_size

    def prior(self, n: int, generator: torch.Generator | None = None,
              temperature: float = 1.0) -> torch.Tensor | None:
        probs = self.usage.detach().cpu().clamp_min(1e-12) ** (1.0 / temperature)
        index = torch.multinomial(probs / probs.sum(1, keepdim=True), n, replacement=True, generator=generator)
        return self.codebook.detach().cpu()[index.T].flatten(1)  # (n, latent_dim)

    @property
    def prior_description(self) -> str:
        return "the per-position categorical over the codebook (its use in training)"
