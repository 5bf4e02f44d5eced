"""Layers only look down, there are no import cycles, start-up stays light, and importing aelab
leaves matplotlib's global state alone. Read from the source itself (ast), and checked in fresh
interpreters."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import aelab

SRC = Path(aelab.__file__).parent
# config -> data -> models -> train -> evaluate -> explore/plots -> orchestration -> commands/cli
LAYERS = {
    "errors": 0, "lazy": 0, "layout": 0, "vocabulary": 0, "plugins": 0, "config": 0, "files": 0, "trust": 0, "limits": 0, "yaml12": 0, "config_comments": 0,
    "data": 1,
    "models": 2,
    "train": 3, "runs": 3,  # runs.py: saving and loading a model file, the run folder's own files
    "run": 3,  # run.py: the Run object, a run folder with its life, its files, its model and data
    "stored_samplers": 3,  # a run's fitted samplers, each in its own file
    "evaluate": 4,
    "plots": 5, "explore": 5,
    "experiments": 6, "api": 6, "estimator_params": 6, "serve": 6,
    "commands": 7, "cli": 7, "__main__": 7, "__init__": 7,
}
# Function-level imports of aelab modules, each for start-up time (`aelab --help` never loads torch,
# datasets load OpenCV only when used, a sweep loads Dask only with a cluster): where they are allowed.
# Also in a module that builds a dataset's spec (data/spec.py): `aelab datasets` asks every spec
# without torch, so such a module imports ImageData where it builds one.
LAZY_ALLOWED = ("commands/", "cli.py", "__init__.py", "data/registry.py", "experiments/sweep.py")


def modules() -> dict[str, ast.Module]:
    return {str(p.relative_to(SRC)): ast.parse(p.read_text(), str(p)) for p in SRC.rglob("*.py")}


def layer(module: str) -> int:
    top = module.split(".")[1] if module.startswith("aelab.") else "__init__"
    return LAYERS[top.removesuffix(".py")]


def dotted(path: str) -> str:
    return "aelab." + path.removesuffix(".py").replace("/", ".").removesuffix(".__init__")


def aelab_imports(tree: ast.Module, top_level: bool):
    nodes = tree.body if top_level else [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for node in nodes:
        for sub in ([node] if top_level else ast.walk(node)):
            if isinstance(sub, ast.ImportFrom) and sub.module and sub.module.startswith("aelab"):
                names = [sub.module] + [f"{sub.module}.{a.name}" for a in sub.names]
                yield sub.lineno, next((n for n in reversed(names) if _exists(n)), sub.module)
            elif isinstance(sub, ast.Import):
                for a in sub.names:
                    if a.name.startswith("aelab"):
                        yield sub.lineno, a.name


def _exists(module: str) -> bool:
    rel = Path(*module.split(".")[1:])
    return (SRC / rel).with_suffix(".py").is_file() or (SRC / rel / "__init__.py").is_file()


def test_no_module_imports_a_layer_above_its_own():
    wrong = []
    for path, tree in modules().items():
        here = layer(dotted(path)) if path != "__init__.py" else 0
        for lineno, target in aelab_imports(tree, top_level=True):
            if target.startswith("aelab.") and layer(target) > here:
                wrong.append(f"{path}:{lineno} imports {target}")
    assert not wrong, wrong


def builds_a_dataset_spec(tree: ast.Module) -> bool:
    return any(isinstance(n, ast.Call) and getattr(n.func, "id", None) == "DatasetSpec" for n in ast.walk(tree))


def test_function_level_imports_of_aelab_only_where_start_up_needs_them():
    trees = modules()
    wrong = [f"{path}:{lineno} {target}" for path, tree in trees.items()
             if not path.startswith(LAZY_ALLOWED) and path not in LAZY_ALLOWED and not builds_a_dataset_spec(tree)
             for lineno, target in aelab_imports(tree, top_level=False)]
    assert not wrong, wrong
    spec_modules = {path for path, tree in trees.items() if builds_a_dataset_spec(tree)}
    assert {"data/builtin.py", "data/mnist_family.py", "data/folder.py", "data/dsprites.py"} <= spec_modules


def test_no_import_cycles():
    graph = {dotted(path): {t for _, t in aelab_imports(tree, True)} for path, tree in modules().items()}
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in graph.get(node, ()):
            if nxt not in graph or nxt == node:
                continue
            assert state.get(nxt) != 1, " -> ".join([*stack, node, nxt])
            if nxt not in state:
                visit(nxt, [*stack, node])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])


def test_one_module_names_the_run_folders_files():
    from aelab import layout

    names = [v for k, v in vars(layout).items() if k.isupper() and isinstance(v, str) and "." in v]
    for path, tree in modules().items():
        if path == "layout.py":
            continue
        literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        assert not literals & set(names), (path, literals & set(names))


def _fresh(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(SRC.parent), "PATH": "/usr/bin:/bin"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_help_and_version_load_neither_torch_nor_scikit_learn():
    seen = _fresh("import sys, json, contextlib, io\n"
                  "from aelab.cli import build_parser\n"
                  "build_parser().format_help()\n"
                  "with contextlib.redirect_stdout(io.StringIO()):\n"
                  "    import aelab; aelab.__version__\n"
                  "print(json.dumps(sorted(m for m in ('torch', 'sklearn', 'matplotlib', 'pydantic') if m in sys.modules)))")
    assert seen == []


@pytest.mark.slow  # fresh interpreters drawing figures: ~4 s
def test_importing_and_drawing_leave_matplotlibs_backend_and_pyplot_alone(tmp_path):
    seen = _fresh("import sys, json, matplotlib\n"
                  "raw = lambda: dict.__getitem__(matplotlib.rcParams, 'backend')  # get_backend() would resolve it\n"
                  "before = raw()\n"
                  "import numpy as np, aelab, aelab.plots.anomaly_figures, aelab.plots.explore_figures\n"
                  "from aelab.plots import figures\n"
                  f"figures.image_grid(np.random.rand(4, 1, 8, 8), r'{tmp_path}/g.png', 'grid')\n"
                  "print(json.dumps([before == raw(), 'matplotlib.pyplot' in sys.modules]))")
    assert seen == [True, False]
    assert (tmp_path / "g.png").stat().st_size > 0
    # and nowhere else: no module switches the backend or draws through pyplot's global state
    for path, tree in modules().items():
        source = (SRC / path).read_text()
        assert "matplotlib.use(" not in source and "import matplotlib.pyplot" not in source, path


def test_every_option_of_every_command_has_help_and_overrides_are_spelt_one_way(capsys):
    import argparse

    from aelab.cli import build_parser, main

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing, override_flags = [], set()
    for name, parser in sub.choices.items():
        for action in parser._actions:
            if action.option_strings and action.help != argparse.SUPPRESS and not action.help:
                missing.append(f"{name} {action.option_strings[0]}")
            if action.metavar and "=VALUE" in str(action.metavar) or action.dest == "overrides":
                override_flags.update(action.option_strings)
    assert not missing, missing
    assert override_flags == {"--set"}  # KEY=VALUE overrides of a config: --set, in every command
    assert main(["evaluate", "nowhere", "--set", "model.latent_dim=3"]) == 2
    assert "changes only the data" in capsys.readouterr().err
