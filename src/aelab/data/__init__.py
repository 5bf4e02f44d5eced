"""Datasets as one contiguous array each, plus the splits and noise that training needs."""

from aelab.data.dataset import ImageData
from aelab.data.registry import available, load_dataset

__all__ = ["ImageData", "available", "load_dataset"]
