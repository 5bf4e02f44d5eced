"""`data.dataset` names -> loaders, and the train/test split every run starts from."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np

from aelab.config import DataConfig
from aelab.data import builtin, mnist_family
from aelab.data.dataset import ImageData
from aelab.data.splits import split
from aelab.errors import AelabError
from aelab.vocabulary import FOLDER_DATASETS


def _idx(name: str):
    def load(cfg: DataConfig) -> tuple[ImageData, ImageData | None]:
        if cfg.published_split == "both":
            return mnist_family.load(name, cfg.path)
        return mnist_family.load(name, cfg.path, only=cfg.published_split), None  # split by test_split
    return load


def _folder(cfg: DataConfig) -> tuple[ImageData, None]:
    from aelab.data.folder import load_folder

    return load_folder(cfg.path, cfg.input_size, cfg.channels, cfg.resize, cfg.background), None


def _faces(cfg: DataConfig) -> tuple[ImageData, None]:
    from aelab.data.faces import load_faces

    return load_faces(cfg.path, cfg.input_size, cfg.channels, cfg.face_margin, cfg.background), None


def _dsprites(cfg: DataConfig) -> tuple[ImageData, None]:
    from aelab.data import dsprites

    # data.limit: a seeded uniform subset large enough that the training part keeps `limit` images
    # (the grid's first images would all be small squares).
    n = None if cfg.limit is None else math.ceil(cfg.limit / (1 - cfg.test_split))
    return dsprites.load(cfg.path, n, cfg.factor_values), None


# name -> (loader(config) -> (train, test or None: no published test split), one-line description)
LOADERS: dict[str, tuple[Callable[[DataConfig], tuple[ImageData, ImageData | None]], str]] = {
    "font5x7": (lambda cfg: (builtin.font5x7(), None), "the 32 glyphs of the classic 5x7 font (35 binary pixels)"),
    "digits": (lambda cfg: (builtin.digits(), None), "scikit-learn's 8x8 digits, 1797 images, labels 0-9"),
    **{name: (_idx(name), spec.description) for name, spec in mnist_family.DATASETS.items()},
    "folder": (_folder, "any folder of PNG/JPEG/BMP/GIF/WebP images (data.path), labels from sub-folders"),
    "faces": (_faces, "faces found and checked in a folder of photos (data.path), crops cached, 70x70 grey"),
    "dsprites": (_dsprites, "dSprites: 737,280 64x64 binary sprites, 5 known factors (shape, scale, "
                            "orientation, x, y), drawn by aelab; labels = shape"),
}
NEEDS_PATH = FOLDER_DATASETS


def available(name: str, path: str | None = None) -> bool:
    """Can `name` be loaded now without downloading anything? (folder/faces: given an existing `path`)"""
    if name in mnist_family.DATASETS:
        return mnist_family.available(name, path)
    if name in NEEDS_PATH:
        return bool(path) and Path(path).expanduser().is_dir()
    return name in LOADERS


def offline(name: str, path: str | None = None) -> str:
    """`aelab datasets`'s OFFLINE column: yes, no, or for the MNIST family "test only"."""
    if available(name, path):
        return "yes"
    return "test only" if name in mnist_family.DATASETS and mnist_family.test_split_only(name, path) else "no"


def where(name: str, path: str | None = None) -> str:
    """Where `name`'s data comes from on this machine, in a few words (for `aelab datasets`)."""
    if name in mnist_family.DATASETS:
        return mnist_family.where(name, path)
    if name in NEEDS_PATH:
        if not path:
            return "needs data.path (a folder of images)" if name == "folder" else "needs data.path (a folder of photos)"
        return f"{path} ({'found' if available(name, path) else 'not found'})"
    if name == "dsprites":
        from aelab.data import download, dsprites

        if path:
            return f"{path} (the original {dsprites.ORIGINAL_FILE})"
        cache = download.cache_root() / "dsprites" / dsprites.CACHE_FILE
        return f"drawn by aelab, cached in {cache}" + ("" if cache.is_file() else " on first use")
    return {"font5x7": "inside aelab", "digits": "inside scikit-learn"}.get(name, "unknown")


def load_dataset(cfg: DataConfig, seed: int) -> tuple[ImageData, ImageData]:
    """The configured dataset as (train, test), preprocessed as the config asks."""
    if cfg.dataset not in LOADERS:
        raise AelabError(f"data.dataset '{cfg.dataset}' is not available in this install; "
                         f"choose one of {', '.join(sorted(LOADERS))}")
    train, test = LOADERS[cfg.dataset][0](cfg)
    if test is None:
        # No published test split: hold out a seeded fraction; with test_split 0 the test set is
        # the training set (the font exercise: reconstruct every glyph).
        n = len(train)
        train, test = split(train, cfg.test_split, seed)
        if (test is None and cfg.test_split > 0) or len(train) == 0:
            raise AelabError(f"{cfg.dataset} has {n} image(s): too few for a training and a test set at "
                             f"data.test_split {cfg.test_split:g}; add images, or set data.test_split to 0 "
                             "to test on the training images")
        test = test if test is not None else train
    if cfg.limit is not None and cfg.limit < len(train):  # before preprocessing: less to convert
        train = train.subset(np.arange(cfg.limit))
    train, test = (preprocess(d, cfg) for d in (train, test))
    return train, test


def preprocess(data: ImageData, cfg: DataConfig) -> ImageData:
    from aelab.data.transforms import binarize, conform

    data = conform(data, cfg.input_size, cfg.channels, cfg.resize)
    if cfg.binarize == "threshold":
        data = binarize(data)
    return data
