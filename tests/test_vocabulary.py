"""Every user-facing choice list is written once, in aelab/vocabulary.py: the config's Literals,
the CLI's argparse choices and serve's request models take it from there. Read from the source
(ast) and from the built parser and schema."""

from __future__ import annotations

import argparse
import ast
import typing
from pathlib import Path

import aelab
from aelab import vocabulary

SRC = Path(aelab.__file__).parent
# Every module: the config, the CLI's commands and serve, but also the models' options (model.options).
MODULES = sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if p.name != "vocabulary.py")
EXEMPT: set[tuple[str, int]] = set()  # (file, line) of a list that truly belongs where it is: none today
VOCABULARY = {name: value for name, value in vars(vocabulary).items()
              if name.isupper() and isinstance(value, tuple) and all(isinstance(v, str) for v in value)}


def _string_tuple(node: ast.AST) -> bool:
    """A tuple or list of two or more string constants, written out."""
    items = node.elts if isinstance(node, (ast.Tuple, ast.List)) else []
    return len(items) >= 2 and all(isinstance(i, ast.Constant) and isinstance(i.value, str) for i in items)


def written_out_lists(source: str) -> list[tuple[int, str]]:
    """(line, what) of each Literal["a", "b", ...] and choices=("a", "b", ...) in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Subscript) and _string_tuple(node.slice):
            name = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", "")
            if name == "Literal":
                found.append((node.lineno, ast.unparse(node)))
        if isinstance(node, ast.keyword) and node.arg == "choices" and _string_tuple(node.value):
            found.append((node.lineno, "choices=" + ast.unparse(node.value)))
    return found


def test_the_check_sees_a_list_written_out():
    source = ('from typing import Literal\n'
              'a: Literal["x", "y"] = "x"\n'
              'p.add_argument("--m", choices=("linear", "slerp"))\n'
              'b: Literal[NAMES] = "x"\n'
              'c: Literal["only"] = "only"\n'
              'p.add_argument("--n", choices=NAMES)\n')
    assert [line for line, _ in written_out_lists(source)] == [2, 3]


def test_no_module_writes_a_list_of_choices_itself():
    assert {"config.py", "cli.py", "commands/explore.py", "serve/requests.py", "models/rae.py"} <= set(MODULES)
    offending = [f"{path}:{line}: {what}" for path in MODULES
                 for line, what in written_out_lists((SRC / path).read_text())
                 if (path, line) not in EXEMPT]
    assert not offending, "define these in aelab/vocabulary.py and import them:\n" + "\n".join(offending)


def test_the_vocabulary_imports_nothing():
    tree = ast.parse((SRC / "vocabulary.py").read_text())
    assert not [n.lineno for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


def test_every_cli_choice_list_is_the_vocabularys():
    from aelab.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    foreign = []
    for command, parser in sub.choices.items():
        for action in parser._actions:
            if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
                if not any(action.choices is value for value in VOCABULARY.values()):
                    foreign.append(f"aelab {command} {action.option_strings or action.dest}: {action.choices}")
    assert not foreign, foreign
    assert sub.choices["anomalies"]._option_string_actions["--score"].choices == ("reconstruction", "mse", "elbo")


def _literals(model) -> dict[str, tuple]:
    """field -> the names a pydantic model's Literal[...] field accepts (through Optional), for
    every field holding two or more strings, in `model` and the sections it contains."""
    from pydantic import BaseModel

    found = {}
    for name, field in model.model_fields.items():
        for kind in [field.annotation, *typing.get_args(field.annotation)]:
            if typing.get_origin(kind) is typing.Literal and len(typing.get_args(kind)) >= 2 \
                    and all(isinstance(v, str) for v in typing.get_args(kind)):
                found[f"{model.__name__}.{name}"] = typing.get_args(kind)
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                found.update(_literals(kind))
    return found


def test_every_config_and_request_choice_is_a_vocabulary_list():
    from aelab.config import Config, Layer
    from aelab.serve import requests

    bodies = [requests.DecodeBody, requests.InterpolateBody, requests.SampleBody]
    literals = {k: v for model in (Config, Layer, *bodies) for k, v in _literals(model).items()}
    assert literals["ModelConfig.activation"] == vocabulary.ACTIVATIONS  # the walk reaches every section
    assert literals["InterpolateBody.method"] == vocabulary.INTERPOLATION_METHODS
    foreign = {k: v for k, v in literals.items() if v not in VOCABULARY.values()}
    assert not foreign, foreign


def test_the_networks_build_every_activation_the_config_offers():
    from aelab.models.layers import ACTIVATIONS

    assert set(ACTIVATIONS) == set(vocabulary.ACTIVATIONS)
    assert set(vocabulary.OUTPUT_ACTIVATIONS) - {"auto"} <= set(ACTIVATIONS)
