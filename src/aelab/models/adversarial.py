"""The patch-adversarial term (`model.adversarial_weight` > 0): a small PatchGAN discriminator
(Isola et al. 2017) learns to tell real images from reconstructions, patch by patch, and the
autoencoder is also trained to fool it (the VAE-GAN of Larsen et al. 2016, the VQGAN of Esser et
al. 2021). A pixel loss is minimised by the average of the images a code could stand for, which is
blurred; the discriminator tells a blurred patch from a real one, so fooling it rewards edges.

    autoencoder:    loss = reconstruction_loss [+ beta * kl] + adversarial_weight * adversarial_loss
    discriminator:  discriminator_loss, minimised by its own optimizer (train/trainer.py)

Both are logistic losses of the discriminator's logits D, one logit per patch:

- discriminator_loss = ½ [mean softplus(−D(x)) + mean softplus(D(x̂))], the mean over patches of
  its cross-entropy on real x and reconstructed x̂: ln 2 ≈ 0.693 at chance, below when it tells them apart;
- adversarial_loss = C·H·W · mean softplus(−D(x̂)) per image, the non-saturating generator loss
  (Goodfellow et al. 2014) on the same per-image scale as the reconstruction loss: averaged over
  the patches, then summed over the image's pixel values, so that adversarial_weight weighs it
  against a sum over pixels at any image size.

The term is a training signal only: in eval mode (validation, test, metrics.json, early stopping)
the objective is the autoencoder's own, so runs with and without it compare on the same numbers.
While the trainer has not switched it on (`active`, from training.adversarial_start_epoch) the
discriminator is not even called.

The discriminator: `halvings` stride-2 4x4 convs (16, 32, 64 channels), a stride-1 4x4 conv and
a stride-1 4x4 conv to one logit per patch, BatchNorm after every conv but the first and last,
leaky ReLU 0.2 (pix2pix's layout). Its depth follows from the image size: the most halvings (at
most 3, pix2pix's 70-pixel patches) whose patch still fits in the image (64x64: 2 halvings,
34-pixel patches; 28x28: 1, 16 pixels; 8x8: none, 7 pixels).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aelab.errors import AelabError
from aelab.models.losses import discriminator_loss

WIDTH = 16  # channels of the first conv; each halving doubles them (pix2pix: 64; small for a CPU)
MAX_HALVINGS = 3


def patch_size(halvings: int) -> int:
    """The receptive field of one logit: `halvings` stride-2 convs then two stride-1 convs, all 4x4."""
    strides = [2 ** i for i in range(halvings)] + [2 ** halvings] * 2
    return 1 + 3 * sum(strides)


def halvings_for(height: int, width: int) -> int:
    side = min(height, width)
    if side < 3:  # the two stride-1 4x4 convs take a pixel each off every side's count
        raise AelabError(f"model.adversarial_weight: the patch discriminator needs images of at least 3x3 "
                         f"pixels; these are {height}x{width}: set adversarial_weight to 0")
    return max((n for n in range(MAX_HALVINGS + 1) if patch_size(n) <= side), default=0)


class PatchDiscriminator(nn.Module):
    # batch_norm False: no normalisation (VAE-GAN, models/vae_gan.py, compares its features of real
    # and decoded images, which batch statistics would couple).
    def __init__(self, input_shape: tuple[int, int, int], batch_norm: bool = True):
        super().__init__()
        c, h, w = input_shape
        n = halvings_for(h, w)
        widths = [WIDTH * 2 ** i for i in range(n + 1)]
        layers: list[nn.Module] = []
        c_in = c
        for i, c_out in enumerate(widths):  # n stride-2 convs, then one stride-1 conv
            stride = 2 if i < n else 1
            layers.append(nn.Conv2d(c_in, c_out, 4, stride=stride, padding=1, bias=i == 0 or not batch_norm))
            if i > 0 and batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2))
            c_in = c_out
        layers.append(nn.Conv2d(c_in, 1, 4, stride=1, padding=1))
        self.layers = nn.Sequential(*layers)
        self.patch = patch_size(n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # (B, 1, h, w): one logit per patch of self.patch pixels

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, F, h, w) the last hidden layer's activations, from which the logits are one conv away."""
        return self.layers[:-1](x)


class Adversary(nn.Module):
    """The discriminator and both sides' losses. The autoencoder's objective calls
    `generator_loss` on its reconstructions, which also keeps the batch (reconstructions detached)
    for `discriminator_loss`, the trainer's second step on the same batch."""

    def __init__(self, input_shape: tuple[int, int, int]):
        super().__init__()
        self.discriminator = PatchDiscriminator(input_shape)
        self.active = False  # set by the trainer: training.adversarial_start_epoch is reached
        self._batch: tuple[torch.Tensor, torch.Tensor] | None = None

    def generator_loss(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(B,) adversarial_loss per image of reconstructions x_hat of x (module text)."""
        self._batch = (x, x_hat.detach())
        # The discriminator's weights are constants here: the autoencoder's step must not spend
        # a backward pass on their gradients (the discriminator's own step computes them).
        self.discriminator.requires_grad_(False)
        try:
            logits = self.discriminator(x_hat)
        finally:
            self.discriminator.requires_grad_(True)
        return F.softplus(-logits.float()).flatten(1).mean(1) * x[0].numel()

    def discriminator_loss(self) -> dict[str, torch.Tensor]:
        """The discriminator's objective on the batch of the last `generator_loss`; consumed."""
        if self._batch is None:
            raise AelabError("the discriminator has no batch to learn from: the model's objective did not "
                             "call Autoencoder.adversarial (a model type that overrides objective must, to "
                             "support model.adversarial_weight)")
        x, x_hat = self._batch
        self._batch = None
        return {"discriminator_loss": discriminator_loss(self.discriminator(x), self.discriminator(x_hat))}
