"""The repository itself as a new user meets it: what git ignores, what the pins say."""

from __future__ import annotations

import inspect
import re
import subprocess
import tomllib
from pathlib import Path

from aelab.experiments.compare import new_folder

ROOT = Path(__file__).resolve().parents[1]


def test_git_ignores_the_folders_aelab_writes_by_default():
    # aelab train --runs-dir, aelab sweep --out, aelab compare --out: their defaults
    defaults = ["runs", "sweeps", inspect.signature(new_folder).parameters["root"].default]
    for folder in defaults:
        done = subprocess.run(["git", "check-ignore", "-q", f"{folder}/some-run/model.safetensors"], cwd=ROOT)
        assert done.returncode == 0, f"{folder}/ is not in .gitignore"


def test_the_constraints_comment_states_the_torch_bound_of_pyproject():
    needed = next(d for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
                  if d.startswith("torch"))
    bound = re.search(r">=\s*([\d.]+)", needed).group(1)
    said = re.findall(r"torch\s*>=\s*([\d.]+)", (ROOT / "constraints.txt").read_text())
    assert said == [bound], said


def test_the_quick_starts_timing_names_the_machine_it_was_measured_on():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    timing = next(p for p in quick.split("\n\n") if re.search(r"\d+ s, of which \d+ s training", p))
    pinned = re.search(r"torch==([\d.]+)", (ROOT / "constraints.txt").read_text()).group(1)
    for named in ("measured on", "cores", "load average", f"torch {pinned}", "Python"):
        assert named in timing.replace("\n", " "), named
