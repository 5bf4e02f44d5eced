"""`data.dataset` names -> loaders, and the train/test split every run starts from."""

from __future__ import annotations

from typing import Callable

import numpy as np

from aelab.config import DataConfig
from aelab.data import builtin
from aelab.data.dataset import ImageData
from aelab.data.splits import split
from aelab.errors import AelabError

# name -> (loader(config) -> (train, test or None: no published test split), one-line description)
LOADERS: dict[str, tuple[Callable[[DataConfig], tuple[ImageData, ImageData | None]], str]] = {
    "font5x7": (lambda cfg: (builtin.font5x7(), None), "the 32 glyphs of the classic 5x7 font (35 binary pixels), shipped"),
    "digits": (lambda cfg: (builtin.digits(), None), "scikit-learn's 8x8 digits, 1797 images, labels 0-9, bundled"),
}


def load_dataset(cfg: DataConfig, seed: int) -> tuple[ImageData, ImageData]:
    """The configured dataset as (train, test), preprocessed as the config asks."""
    if cfg.dataset not in LOADERS:
        raise AelabError(f"data.dataset '{cfg.dataset}' is not available in this install; "
                         f"choose one of {', '.join(sorted(LOADERS))}")
    train, test = LOADERS[cfg.dataset][0](cfg)
    if test is None:
        # No published test split: hold out a seeded fraction; with test_split 0 the test set is
        # the training set (the font exercise: reconstruct every glyph).
        train, test = split(train, cfg.test_split, seed)
        test = test if test is not None else train
    train, test = (preprocess(d, cfg) for d in (train, test))
    if cfg.limit is not None:
        train = train.subset(np.arange(min(cfg.limit, len(train))))
    return train, test


def preprocess(data: ImageData, cfg: DataConfig) -> ImageData:
    from aelab.data.transforms import binarize, conform

    data = conform(data, cfg.input_size, cfg.channels, cfg.resize)
    if cfg.binarize == "threshold":
        data = binarize(data)
    return data
