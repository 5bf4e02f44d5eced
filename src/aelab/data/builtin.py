"""The datasets that ship with aelab or its dependencies: the 5x7 font and scikit-learn's digits."""

from __future__ import annotations

import importlib.util
import json
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

from aelab.data.spec import Availability, DatasetSpec

if TYPE_CHECKING:
    from aelab.data.dataset import ImageData

# ImageData (and torch with it) is imported where a dataset is built: `aelab datasets` asks the
# specs below whether they are available without loading torch (data/spec.py).


def font5x7() -> ImageData:
    """The 32 glyphs 0x60-0x7F of the classic 5x7 font: 35 binary pixels each, labels = characters."""
    from aelab.data.dataset import ImageData

    spec = json.loads(resources.files("aelab.data").joinpath("font5x7.json").read_text())
    width = spec["width"]
    rows = np.array([g["rows"] for g in spec["glyphs"]], dtype=np.uint8)  # (32, 7)
    bits = (rows[:, :, None] >> np.arange(width - 1, -1, -1, dtype=np.uint8)) & 1  # MSB = leftmost
    images = (bits * 255).astype(np.uint8)[:, None]  # (32, 1, 7, 5)
    chars = [g["char"] for g in spec["glyphs"]]
    return ImageData(images, np.arange(len(chars)), chars, "font5x7")


def digits() -> ImageData:
    """scikit-learn's bundled 8x8 digits (1797 images, 17 grey levels, labels 0-9)."""
    from sklearn.datasets import load_digits

    from aelab.data.dataset import ImageData

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8)
    return ImageData(images, bunch.target.astype(np.int64), [str(i) for i in range(10)], "digits")


def _in_scikit_learn(path: str | None) -> Availability:
    found = importlib.util.find_spec("sklearn") is not None  # a dependency: there unless broken
    return Availability(found, "inside scikit-learn" if found else "scikit-learn is not installed")


FONT5X7 = DatasetSpec("font5x7", "the 32 glyphs of the classic 5x7 font (35 binary pixels)",
                      lambda cfg: (font5x7(), None))
DIGITS = DatasetSpec("digits", "scikit-learn's 8x8 digits, 1797 images, labels 0-9",
                     lambda cfg: (digits(), None), check=_in_scikit_learn)
