"""aelab: train, compare and explore autoencoders (AE, DAE, VAE, beta-VAE) on image data."""

from aelab.api import AE, DAE, VAE, BetaVAE, load
from aelab.config import Config, DataConfig, ModelConfig, TrainingConfig, load_config
from aelab.errors import AelabError

__version__ = "0.1.0"
__all__ = [
    "AE", "DAE", "VAE", "BetaVAE", "load",
    "Config", "DataConfig", "ModelConfig", "TrainingConfig", "load_config",
    "AelabError", "__version__",
]
