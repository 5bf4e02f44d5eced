"""Datasets as one contiguous array each, plus the splits and noise that training needs.

The names below load on first use (PEP 562): `aelab datasets` imports data.registry and the specs
without torch, which ImageData brings."""

from aelab.lazy import attributes

_LAZY = {"ImageData": "aelab.data.dataset", "available": "aelab.data.registry",
         "load_dataset": "aelab.data.registry"}
__all__ = list(_LAZY)
__getattr__ = attributes("aelab.data", _LAZY)
