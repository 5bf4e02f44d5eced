"""aelab: train, compare and explore autoencoders (AE, DAE, VAE, beta-VAE) on image data.

The names below load on first use (PEP 562), so `import aelab` and `aelab --version` do not pay
for torch and scikit-learn until a model is needed.
"""

from aelab.errors import AelabError
from aelab.lazy import attributes

__version__ = "0.1.0"

_LAZY = {
    "AE": "aelab.api", "DAE": "aelab.api", "VAE": "aelab.api", "BetaVAE": "aelab.api",
    "Estimator": "aelab.api", "load": "aelab.api",
    "register_model": "aelab.models.registry", "Callback": "aelab.train.callbacks",
    "register_dataset": "aelab.data.registry", "DatasetSpec": "aelab.data.spec",
    "Config": "aelab.config", "DataConfig": "aelab.config", "ModelConfig": "aelab.config",
    "TrainingConfig": "aelab.config", "load_config": "aelab.config",
}
__all__ = [*_LAZY, "AelabError", "__version__"]
__getattr__ = attributes("aelab", _LAZY)


def __dir__():
    return sorted(__all__)
