"""The documentation site (mkdocs.yml, docs/): its generated reference pages cover the code, and
every tutorial's commands run as written, on a short budget, in a fresh folder."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from aelab.cli import build_parser, main
from aelab.config import Config, load_config
from aelab.data.mnist_family import DATASETS as MNIST_FAMILY
from aelab.experiments.sweep import parse_grid, read_sweep_spec

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ["font", "digits-fashion", "your-pictures", "comparing", "browser"]
# A tutorial's budget is cut with --set: one epoch (steps unset: an example's step budget would
# override it), at most 400 training images.
SHORT = ["--set", "training.epochs=1", "--set", "training.steps=null", "--set", "data.limit=400"]
# The MNIST family's 10k published test images would be most of a short run's time (every split is
# measured, the latent quality and figures too): the published test files alone, 3% of them (300)
# held out for testing, the rest cut by data.limit.
SHORT_TEST_SET = ["--set", "data.published_split=test", "--set", "data.test_split=0.03"]
GMM_COMPONENTS = 3  # a mixture sampler of more components takes minutes to fit to 512-D codes
SWEPT_VALUES = 2  # each swept key keeps its first two values (a sweep's figures still compare)
FASHION = Path("/usr/share/datasets/fashion-mnist")  # where Debian's package puts it (.ci/run installs it)
NOT_RUN = {"serve"}  # a server until Ctrl-C: tests/test_serve*.py drive it
# Files each page says its commands write: a command that exits 0 but writes nothing fails here.
WRITES = {
    "font": ["runs/font-ae/config.json", "runs/font-ae/metrics.json", "runs/font-ae/history.csv",
             "runs/font-ae/reconstruction.png", "runs/font-ae/latent_space.png", "runs/font-ae/index.html",
             "runs/font-ae/latent_map_2d.png", "sweeps/font-dae/results.md", "sweeps/font-dae/sweep_noise.png"],
    "digits-fashion": ["runs/digits-vae/latent_map_2d.png", "runs/digits-vae/generated_nearest.png",
                       "runs/digits-vae/interpolate_6_0_slerp.png", "runs/fashion-vae/latent_map_pca.png",
                       "sweeps/beta/results.csv", "sweeps/beta/results.md"],
    "your-pictures": ["runs/emojis/samples.png", "runs/emojis/generated_nearest.png", "runs/emojis/generated.png",
                      "my_photos-faces-preview.png", "runs/faces/samples.png", "runs/faces/metrics.json"],
    "comparing": ["comparisons/three/compare.csv", "comparisons/three/compare.md",
                  "comparisons/three/loss.png", "comparisons/three/index.html"],
    "browser": ["runs/digits/index.html", "runs/digits/metrics.json"],
}
# Test metrics a page says a command adds to a run's metrics.json (`aelab evaluate` merges its own).
MEASURES = {"comparing": ("runs/cmp-vae/metrics.json", ["nll", "frechet_ratio", "nearest_training_rms"])}


def _reference():
    spec = importlib.util.spec_from_file_location("docs_reference", ROOT / "docs/scripts/reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _schema_keys(schema: dict, node: dict, prefix: str) -> set[str]:
    """Key paths from pydantic's JSON schema (not from the page's own walk of the fields)."""
    keys: set[str] = set()
    for name, prop in node.get("properties", {}).items():
        key = prefix + name
        keys.add(key)
        for ref, many in _refs(prop):
            target = schema["$defs"][ref.rsplit("/", 1)[-1]]
            keys |= _schema_keys(schema, target, f"{key}[]." if many else f"{key}.")
    return keys


def _refs(prop: dict, many: bool = False):
    if "$ref" in prop:
        yield prop["$ref"], many
    for alt in prop.get("anyOf", []) + prop.get("oneOf", []):
        yield from _refs(alt, many)
    if "items" in prop:
        yield from _refs(prop["items"], True)


def test_every_config_key_is_on_the_config_page_with_a_meaning():
    page = _reference().config_reference()
    schema = Config.model_json_schema()
    keys = _schema_keys(schema, schema, "")
    assert len(keys) > 80 and "model.noise.std" in keys and "model.encoder_layers[].units" in keys
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([^`]+)` \|.*\| ([^|]*) \|$", page, re.M)}
    missing = sorted(keys - set(rows))
    assert not missing, f"config keys missing from the generated page: {missing}"
    # Every key says what it means (a comment beside it in config.py, or a Field description).
    unexplained = sorted(k for k in keys if not rows[k].strip())
    assert not unexplained, f"config keys with no comment in src/aelab/config.py: {unexplained}"


def test_every_command_and_option_is_on_the_cli_page():
    page = _reference().cli_reference()
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        assert f"## aelab {name}\n" in page, name
        section = page.split(f"## aelab {name}\n", 1)[1].split("\n## ", 1)[0]
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue  # -h, --help: every command has it; the page says so once
            for option in action.option_strings:
                assert f"`{option}" in section, (name, option)


def test_the_api_page_names_every_public_name():
    import aelab

    page = _reference().api_reference()
    for name in aelab.__all__:
        assert name == "__version__" or re.search(rf"^::: [\w.]+\.{name}$", page, re.M), name


def bash_commands(page: Path) -> list[str]:
    """The commands of a page's ```bash blocks, a line each (continuations joined, comments cut)."""
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", page.read_text(encoding="utf-8"), re.M | re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(words)
    return commands


def shortened(words: list[str]) -> list[str]:
    """A page's train or sweep command on the short budget; other commands as written. The config
    the command would train (its file and --set values, read by aelab itself) says what to cut."""
    if words[1] not in ("train", "sweep"):
        return words
    args = build_parser().parse_args(words[1:])
    extra, grid = list(SHORT), {}
    if words[1] == "sweep":
        spec = read_sweep_spec(args.config)
        config = load_config(base=spec.base, overrides=args.overrides)
        grid = {**spec.grid, **parse_grid(args.grid)}
    else:
        config = load_config(args.config, args.overrides)
        extra.append("--no-progress")
    if config.data.dataset in MNIST_FAMILY:
        extra += SHORT_TEST_SET
    if config.model.sampler == "gmm" and config.model.gmm_components > GMM_COMPONENTS:
        extra += ["--set", f"model.gmm_components={GMM_COMPONENTS}"]
    for key, values in grid.items():
        if len(values) > SWEPT_VALUES:
            extra += ["--grid", f"{key}={json.dumps(values[:SWEPT_VALUES])}"]
    return words + extra


@pytest.mark.slow
@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_commands_run(name, tmp_path, monkeypatch):
    commands = bash_commands(ROOT / "docs/tutorials" / f"{name}.md")
    assert commands, f"docs/tutorials/{name}.md has no ```bash block"
    if any("fashion-mnist" in word for c in commands for word in c) and not FASHION.is_dir():
        pytest.skip(f"Fashion-MNIST is not in {FASHION} (apt-get install dataset-fashion-mnist)")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AELAB_OFFLINE", "1")
    ran = 0
    for words in commands:
        if words[0] != "aelab":
            path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # this venv's python
            done = subprocess.run(words, cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "PATH": path})
            assert done.returncode == 0, (words, done.stderr[-2000:])
            continue
        if words[1] in NOT_RUN:
            continue
        code = main(shortened(words)[1:])
        assert code == 0, f"docs/tutorials/{name}.md: {shlex.join(words)} exited {code}"
        ran += 1
    assert ran >= 1
    missing = [f for f in WRITES[name] if not (tmp_path / f).is_file()]
    assert not missing, f"docs/tutorials/{name}.md: its commands did not write {missing}"
    if name in MEASURES:
        path, keys = MEASURES[name]
        absent = set(keys) - set(json.loads((tmp_path / path).read_text())["test"])
        assert not absent, f"docs/tutorials/{name}.md: the test metrics in {path} lack {sorted(absent)}"
