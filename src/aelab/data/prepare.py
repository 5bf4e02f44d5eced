"""The splits a config asks for: the dataset loaded, labels held out, cross-validation folds and
the validation split applied, all seeded. Training, exploration and evaluation all start here."""

from __future__ import annotations

import numpy as np

from aelab.config import Config
from aelab.data.dataset import ImageData
from aelab.data.registry import load_dataset
from aelab.data.splits import kfold, split
from aelab.errors import AelabError


def prepare_data(config: Config) -> tuple[ImageData, ImageData | None, ImageData]:
    """(train, validation or None, test) as the config asks, all seeded."""
    train, test = load_dataset(config.data, config.training.seed)
    if config.data.exclude_labels:
        train = drop_labels(train, config.data.exclude_labels)
    if config.data.folds is not None:  # cross-validation: the held-out fold is the test set
        rest, held_out = kfold(len(train), config.data.folds, config.training.seed)[config.data.fold]
        train, test = train.subset(rest), train.subset(held_out)
    train, validation = split(train, config.training.validation_split, config.training.seed)
    return train, validation, test


def drop_labels(data: ImageData, names: list[str]) -> ImageData:
    if data.labels is None:
        raise AelabError(f"data.exclude_labels needs a labelled dataset; {data.name} has no labels")
    known = data.label_names or [str(i) for i in range(int(data.labels.max()) + 1)]
    missing = [n for n in names if n not in known]
    if missing:
        shown = str(missing[:5])[:200] + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise AelabError(f"data.exclude_labels: {shown} are not labels of {data.name}; its labels are "
                         f"{str(known)[:300]}")
    keep = ~np.isin(data.labels, [known.index(n) for n in names])
    if not keep.any():
        raise AelabError(f"data.exclude_labels excludes every label of {data.name}; nothing is left to train "
                         "on: keep at least one label")
    return data.subset(np.flatnonzero(keep))
