"""model.type 'cvae': the conditional VAE (Sohn, Lee & Yan, 2015). The label goes into both
networks as a one-hot vector: the encoder reads the image with it, q(z | x, y), and the decoder
draws from a code and a label, p(x | z, y). The code is then free to hold what the label does not
say (the style of a digit), so `aelab generate RUN --label 7` draws 7s in many styles, and one
code decoded with every label writes the same style as each class.

    loss = reconstruction_loss + kl      (the VAE's ELBO, conditioned on y)

How the one-hot joins the image: an MLP encoder reads [pixels | one-hot]; a conv encoder reads
the one-hot as extra constant image channels. The decoder reads [z | one-hot]. Networks of your
own for a CVAE take those inputs: the encoder (B, C + K, H, W) for conv or (B, 1, 1, D + K) for
MLP, the decoder (B, latent_dim + K). `n_classes` (K) comes from the training data's labels.

Every mapping needs the labels: encode(x, labels), decode(z, labels); without them it says so.
Labels are class indices (N,) or class weights (N, K): the decoder then reads a point between
classes, which class-conditional interpolation walks along together with the code.
"""

from __future__ import annotations

import math
from typing import Annotated, Optional

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from aelab import limits
from aelab.errors import AelabError
from aelab.models.autoencoder import ForwardOutput
from aelab.models.networks import build_networks
from aelab.models.vae import VAE, bounded_logvar


class CVAEOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n_classes: Optional[Annotated[int, Field(ge=2), limits.checker("classes")]] = None  # K; filled in from the training labels


class CVAE(VAE):
    Options = CVAEOptions
    needs_labels = True
    variational = False  # its bound is conditional, log p(x | y): the unconditional NLL does not apply

    @classmethod
    def options_from_data(cls, data) -> dict:
        if data.labels is None:
            return {}
        return {"n_classes": len(data.label_names) if data.label_names else int(data.labels.max()) + 1}

    @classmethod
    def check_options(cls, options: dict, data) -> None:
        needed, k = cls.options_from_data(data).get("n_classes"), options.get("n_classes")
        if needed is not None and k is not None and k < needed:
            raise AelabError(f"model.options.n_classes is {k}, but the training labels name {needed} classes; "
                             f"set it to at least {needed}, or leave it out (aelab counts the classes)")

    @classmethod
    def from_config(cls, config, input_shape, encoder: nn.Module | None = None,
                    decoder: nn.Module | None = None) -> "CVAE":
        k = cls._classes(config)
        c, h, w = input_shape
        encoder_input = (c + k, h, w) if config.architecture == "conv" else (1, 1, math.prod(input_shape) + k)
        if encoder is None:
            encoder = build_networks(config, encoder_input, cls.encoder_outputs(config.latent_dim),
                                     need_decoder=False)[0]
        if decoder is None:
            wider = config.model_copy(update={"latent_dim": config.latent_dim + k})
            decoder = build_networks(wider, tuple(input_shape), cls.encoder_outputs(config.latent_dim),
                                     need_encoder=False)[1]
        return cls(config, input_shape, encoder, decoder)

    @staticmethod
    def _classes(config) -> int:
        k = config.options.get("n_classes")
        if k is None:
            raise AelabError("model.options.n_classes: a 'cvae' needs the number of classes (aelab fills it "
                             "in from the training labels; set it when building the model yourself)")
        return int(k)

    def one_hot(self, labels: torch.Tensor | None, n: int) -> torch.Tensor:
        k = self.options.n_classes
        if labels is None:
            raise AelabError("a 'cvae' encodes and decodes with a label: give one per image "
                             "(aelab generate RUN --label 7; estimator.sample(n, label=7))")
        labels = torch.as_tensor(labels).to(self._device)
        if labels.ndim == 2:  # already class weights (N, K): a point between classes (interpolation)
            if labels.shape != (n, k):
                raise AelabError(f"labels: class weights must have shape ({n}, {k}); got {tuple(labels.shape)}")
            return labels.float()
        labels = labels.long()
        if len(labels) != n:
            raise AelabError(f"labels: need one per image ({n}); got {len(labels)}")
        # the range check reads values back from the device: outside the training loop only
        if not self.training and len(labels) and (labels.min() < 0 or labels.max() >= k):
            raise AelabError(f"labels: class indices must lie in 0..{k - 1}; got "
                             f"{labels.min().item()}..{labels.max().item()}")
        return F.one_hot(labels, k).float()

    @property
    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        y = self.one_hot(labels, x.shape[0])
        if self.config.architecture == "conv":
            joined = torch.cat([x, y[:, :, None, None].expand(-1, -1, *x.shape[2:])], dim=1)
        else:
            joined = torch.cat([x.flatten(1), y], dim=1)[:, None, None, :]
        mean, raw = self.encoder(joined).chunk(2, dim=1)
        return mean, bounded_logvar(raw)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.output_activation(self._decode_logits(z, labels))

    def _decode_logits(self, z, labels):
        return self.decoder(torch.cat([z, self.one_hot(labels, z.shape[0])], dim=1))

    def forward(self, x: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None,
                labels: torch.Tensor | None = None) -> ForwardOutput:
        mean, logvar = self.encode(x, labels)
        z = mean
        if sample:
            eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            z = mean + torch.exp(0.5 * logvar) * eps
        return ForwardOutput(self._decode_logits(z, labels), mean, logvar, z)

    def objective(self, x: torch.Tensor, generator: torch.Generator | None = None,
                  labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        out = self(self.corrupt(x, generator), generator=generator, labels=labels)
        return self.adversarial(self.loss_terms(out, x), out, x)

    @torch.no_grad()
    def check_networks(self) -> None:
        """One pass on two blank images with label 0: a network that does not fit says so."""
        was_training = self.training
        self.eval()
        try:
            self(torch.zeros(2, *self.input_shape, device=self._device), sample=False,
                 labels=torch.zeros(2, dtype=torch.long))
        except AelabError:
            raise
        except Exception as e:
            raise AelabError(f"the networks of this 'cvae' do not fit images {self.input_shape} with "
                             f"{self.options.n_classes} classes: {type(e).__name__}: {str(e).splitlines()[0]}") from None
        self.train(was_training)
