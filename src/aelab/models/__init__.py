"""Models: the protocol (autoencoder.py), one file per model type, the networks, the registry."""

from aelab.models.autoencoder import Autoencoder, ForwardOutput
from aelab.models.registry import MODEL_TYPES, build_model, model_class, register_model

__all__ = ["Autoencoder", "ForwardOutput", "MODEL_TYPES", "build_model", "model_class", "register_model"]
