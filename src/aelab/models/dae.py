"""model.type 'dae': a plain autoencoder trained to reconstruct clean images from corrupted ones.
The corruption itself (model.noise: gaussian, salt_pepper or bitflip) is Autoencoder.corrupt; the
config gives a DAE its default noise."""

from __future__ import annotations

from aelab.models.autoencoder import Autoencoder


class DAE(Autoencoder):
    pass
