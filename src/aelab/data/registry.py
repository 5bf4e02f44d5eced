"""`data.dataset` names -> their DatasetSpec (data/spec.py), and the train/test split every run starts from.

The built-in specs are named in vocabulary.DATASET_SPECS by import path and imported on first use:
looking one up imports only its module. `register_dataset` adds one from Python."""

from __future__ import annotations

import importlib
import json
import logging
from typing import TYPE_CHECKING

import numpy as np

from aelab.config import DataConfig
from aelab.data.spec import DatasetSpec
from aelab.data.splits import split
from aelab.errors import AelabError
from aelab.plugins import has_dataset, not_a_dataset, read_entry_points
from aelab.vocabulary import DATASET_SPECS, DATASETS

log = logging.getLogger("aelab")

if TYPE_CHECKING:  # annotations only: ImageData imports torch
    from aelab.data.dataset import ImageData


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Make `data.dataset: spec.name` load through `spec`, in this process (a config naming it
    validates from now on). Returns the spec. Replacing a built-in name is refused."""
    if not isinstance(spec, DatasetSpec):
        raise AelabError(f"register_dataset takes an aelab.data.spec.DatasetSpec, not {type(spec).__name__}")
    if not spec.name or spec.name != spec.name.strip() or "=" in spec.name:
        raise AelabError(f"dataset name {spec.name!r}: use a short name such as 'my-sprites'")
    if spec.name in DATASETS:
        raise AelabError(f"dataset {spec.name!r} is built in; give yours another name")
    DATASET_SPECS[spec.name] = spec
    return spec


def dataset_spec(name: str) -> DatasetSpec:
    """The spec of `name`; one line naming the datasets there are when it is not one."""
    entry = DATASET_SPECS.get(name) if has_dataset(name) else None
    if entry is None:
        raise AelabError(f"data.dataset {json.dumps(name)}: {not_a_dataset(name)}")
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        try:
            entry = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise AelabError(f"data.dataset {name!r}: cannot import {DATASET_SPECS[name]} ({e})") from None
        if not isinstance(entry, DatasetSpec) or entry.name != name:
            raise AelabError(f"data.dataset {name!r}: {DATASET_SPECS[name]} is not the DatasetSpec named {name!r} "
                             "(an aelab.datasets entry point names a DatasetSpec: docs/extending.md)")
        DATASET_SPECS[name] = entry
    return entry


def dataset_specs() -> list[DatasetSpec]:
    """Every dataset's spec, built-in ones first, then those of installed packages (entry points)
    and of this script, in `aelab datasets`' order."""
    read_entry_points("aelab.datasets", DATASET_SPECS)
    specs = []
    for name in list(DATASET_SPECS):
        try:
            specs.append(dataset_spec(name))
        except AelabError as e:  # a broken package's entry point: the others are still listed
            if name in DATASETS:
                raise
            log.warning("%s; not listed", e)
    return specs


def available(name: str, path: str | None = None) -> bool:
    """Can `name` be loaded now without downloading anything? (folder/faces: given an existing `path`)"""
    return dataset_spec(name).available(path).offline


def load_dataset(cfg: DataConfig, seed: int) -> tuple[ImageData, ImageData]:
    """The configured dataset as (train, test), preprocessed as the config asks."""
    from aelab.data.dataset import ImageData  # here, not at the top: listing the specs needs no torch

    loaded = dataset_spec(cfg.dataset).load(cfg)
    if not (isinstance(loaded, tuple) and len(loaded) == 2 and isinstance(loaded[0], ImageData)
            and (loaded[1] is None or isinstance(loaded[1], ImageData))):
        raise AelabError(f"dataset {cfg.dataset!r}: its spec's load returned {type(loaded).__name__}, not "
                         "(ImageData, ImageData or None): (train, test or None to hold out data.test_split)")
    train, test = loaded
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
