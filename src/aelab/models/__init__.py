"""Encoders, decoders and the autoencoder that joins them."""

from aelab.models.autoencoder import Autoencoder, ForwardOutput

__all__ = ["Autoencoder", "ForwardOutput"]
