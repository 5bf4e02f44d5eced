"""Every config shipped in examples/ is valid as it stands, every trial of its sweep included."""

from __future__ import annotations

from pathlib import Path

import pytest

from aelab.config import validate_config
from aelab.experiments.sweep import expand, read_sweep_file, read_sweep_spec

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.json"))


def test_the_seeds_experiments_are_shipped():
    names = {p.name for p in EXAMPLES}
    assert {"seed003_font_ae.json", "seed003_font_dae.json", "seed004_emojis.json",
            "seed002_mnist_testset_conv.json", "seed001_fashion_ae_vae_sweep.json"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_config_validates(path, tmp_path):
    spec = read_sweep_spec(path)
    base, grid, folds = spec.base, spec.grid, spec.folds
    validate_config(base, source=path.name)
    trials = expand(base, grid, folds, tmp_path, spec.variants)  # validates every combination up front
    expected = folds * max(1, len(spec.variants))
    for values in grid.values():
        expected *= len(values)
    assert len(trials) == expected


def test_the_guides_config_example_validates():
    guide = (Path(__file__).resolve().parents[1] / "docs/guide/training.md").read_text(encoding="utf-8")
    block = guide.split("```json\n", 1)[1].split("```", 1)[0]
    import json

    config = validate_config(json.loads(block), source="docs/guide/training.md")
    assert config.model.decoder_layers[-1].activation == "cosh" and config.training.batch_size == 2
    assert config.training.learning_rate <= 1e-4  # seed 004's 1e-3 overflows its cosh layer (see README)


REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_find_data_as_users_configs_do(path):
    """No example names a folder outside the repository (a path of the developers' machines): the
    MNIST family comes from the dataset lookup order, image folders ship in examples/."""
    base, _, _ = read_sweep_file(path)
    data_path = base.get("data", {}).get("path")
    if data_path is not None:
        resolved = (REPO / data_path).resolve()
        assert resolved.is_relative_to(REPO) and resolved.exists(), data_path


def test_bench_scripts_name_no_path_of_one_machine():
    """Absolute paths in bench/ name only what every Linux machine has (or the documented dataset
    folder), never a developer's folder such as a fixed interpreter."""
    import re

    allowed = ("/proc/", "/usr/share/datasets", "/usr/bin/")  # the system, Debian's dataset packages
    roots = ("/home/", "/root/", "/work/", "/tmp/", "/opt/", "/usr/", "/mnt/", "/srv/", "/data/", "/var/")
    for script in sorted((REPO / "bench").glob("*.py")):
        literals = re.findall(r"[\"'](/[A-Za-z][^\"'\s]*)[\"']", script.read_text(encoding="utf-8"))
        paths = [p for p in literals if p.startswith(roots)]  # not URL routes such as /api/...
        assert all(p.startswith(allowed) for p in paths), (script.name, paths)
