"""DatasetSpec: everything aelab knows about one `data.dataset` name, in one object.

A dataset is one module holding its spec (and its loader) plus one line in vocabulary.DATASET_SPECS
(or, from a script, one call: `aelab.register_dataset(spec)`). The registry (data/registry.py),
config validation, `aelab datasets` and training all read the spec.

A spec's module must import nothing heavy at its top (torch, scikit-learn, the data itself):
`aelab datasets` asks every spec's `available` to list them in well under a second. `load`
imports what it needs when it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NamedTuple, Optional

if TYPE_CHECKING:  # annotations only: ImageData imports torch
    from aelab.config import DataConfig
    from aelab.data.dataset import ImageData


class Availability(NamedTuple):
    """What `aelab datasets` says of a dataset on this machine."""
    offline: bool  # loads now without downloading anything
    where: str  # where its data is found, or what is missing and how to get it, in a few words
    partly: str = ""  # when not all of it is here: which part loads offline (e.g. "test only")

    @property
    def column(self) -> str:
        """The OFFLINE column of `aelab datasets`: yes, no or the part that loads."""
        return "yes" if self.offline else self.partly or "no"


@dataclass(frozen=True)
class DatasetSpec:
    name: str  # the data.dataset value
    description: str  # one line for `aelab datasets`: what the images are, how many, their size
    # (train, test or None when there is no published test split: a seeded data.test_split is held out)
    load: Callable[[DataConfig], tuple[ImageData, Optional[ImageData]]]
    # data.path (or None) -> Availability; None: the data ships with aelab (always available)
    check: Optional[Callable[[Optional[str]], Availability]] = None
    needs_path: bool = False  # loads only from data.path (a folder of the user's)

    def available(self, path: str | None = None) -> Availability:
        """Whether (and from where) the dataset loads on this machine now, `path` being data.path."""
        if self.check is not None:
            return self.check(path)
        if self.needs_path:
            return folder_availability(path, "a folder of images")
        return Availability(True, "inside aelab")


def folder_availability(path: str | None, what: str) -> Availability:
    """A dataset read from the folder data.path names: available when that folder exists."""
    if not path:
        return Availability(False, f"needs data.path ({what})")
    found = Path(path).expanduser().is_dir()
    return Availability(found, f"{path} ({'found' if found else 'not found'})")
