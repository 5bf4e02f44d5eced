"""aelab: train, compare and explore autoencoders (AE, DAE, VAE, beta-VAE) on image data."""

import importlib

__version__ = "0.1.0"
__all__ = [
    "AE", "DAE", "VAE", "BetaVAE", "load",
    "Config", "DataConfig", "ModelConfig", "TrainingConfig", "load_config",
    "AelabError", "__version__",
]
# Loaded on first use, so that `aelab --help` (and Ctrl-C while it starts) need not wait for torch.
_WHERE = {"AE": "aelab.api", "DAE": "aelab.api", "VAE": "aelab.api", "BetaVAE": "aelab.api", "load": "aelab.api",
          "Config": "aelab.config", "DataConfig": "aelab.config", "ModelConfig": "aelab.config",
          "TrainingConfig": "aelab.config", "load_config": "aelab.config", "AelabError": "aelab.errors"}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'aelab' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_WHERE))
