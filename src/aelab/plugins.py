"""What installed packages add to aelab, declared as entry points in their pyproject.toml and
found by every process (a sweep's workers on other machines too), unlike a registration made in a
script, which lasts only for that script:

    [project.entry-points."aelab.models"]    sparse_ae = "mypackage.sparse:SparseAE"
    [project.entry-points."aelab.datasets"]  my-sprites = "mypackage.sprites:SPEC"   (a DatasetSpec)

Each is read into its registry as an import path, imported only when the name is used."""

from __future__ import annotations

import difflib
import importlib.metadata

from aelab.vocabulary import DATASET_SPECS


def read_entry_points(group: str, registry: dict) -> None:
    """Add the entry points of `group` to `registry` (name -> "module:attribute"); names already
    there win, so a package cannot replace a built-in one."""
    for entry in importlib.metadata.entry_points(group=group):
        registry.setdefault(entry.name, entry.value)


def has_dataset(name: str) -> bool:
    """Whether `data.dataset: name` loads in this process: built in, registered from a script, or
    an installed package's entry point (read when the name is not already known)."""
    if name not in DATASET_SPECS:
        read_entry_points("aelab.datasets", DATASET_SPECS)
    return name in DATASET_SPECS


def not_a_dataset(name: str) -> str:
    """What to say of a `data.dataset` that is not one: the closest name, the choices, how to add one."""
    close = difflib.get_close_matches(name, DATASET_SPECS, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return (f"not a dataset; {hint}choose one of {', '.join(DATASET_SPECS)} (or add your own with "
            "aelab.register_dataset, or an aelab.datasets entry point: docs/extending.md)")
