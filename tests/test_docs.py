"""The documentation site (mkdocs.yml, docs/): its generated reference pages cover the code, and
every tutorial's commands run as written, on a short budget, in a fresh folder."""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from aelab.cli import build_parser, main
from aelab.config import Config

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ["font", "digits-fashion", "your-pictures", "comparing", "browser"]
# A tutorial's budget is cut with --set: one epoch (steps unset: an example's step budget would
# override it), at most 400 training images.
SHORT = ["--set", "training.epochs=1", "--set", "training.steps=null", "--set", "data.limit=400"]
FASHION = Path("/usr/share/datasets/fashion-mnist")  # where Debian's package puts it (.ci/run installs it)
NOT_RUN = {"serve"}  # a server until Ctrl-C: tests/test_serve*.py drive it


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
    if words[1] == "train":
        return words + SHORT + ["--no-progress"]
    if words[1] == "sweep":
        return words + SHORT
    return words


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
    assert list((tmp_path / "runs").iterdir()), "the tutorial wrote no run folder"
