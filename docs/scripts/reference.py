"""The reference pages, generated from the code at every `mkdocs build` (gen_pages.py writes them),
so that they cannot drift from it: every config key from the pydantic schema in aelab/config.py,
every command and option from the argparse parser in aelab/cli.py, and the public Python names
of `aelab.__all__` for mkdocstrings.

A config key's meaning is its `Field(description=...)` when it has one; otherwise the comments
that config.py keeps beside the key (aelab/config_comments.py reads them; the estimators'
docstrings read the same).
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any, Literal, Union

import annotated_types
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from aelab.config_comments import field_comments

# ------------------------------------------------------------------------------ the config keys


def config_reference() -> str:
    """The config page: one table per section, a row per key (path, type, default, meaning)."""
    from aelab import config

    comments = field_comments(Path(config.__file__))
    resolved = config.Config().to_dict()
    lines = [
        "# Config keys",
        "",
        "Generated from the pydantic schema in `src/aelab/config.py` at every build: the type and the",
        "default are the schema's, the meaning is the comment (or `Field` description) beside the key.",
        "A config has three sections, `data`, `model` and `training` (JSON or YAML); `--set KEY=VALUE`",
        "sets any key below from the command line. Some defaults depend on other keys and are filled",
        "in when the config is validated: *default config* shows what a run of the default config",
        "writes into its `config.json` where that differs from the declared default.",
        "",
    ]
    for title, prefix, section in _sections(config):
        lines += [f"## {title}", "", "| key | type | default | meaning |", "|---|---|---|---|"]
        for row in _rows(section, prefix):
            meaning = row.field.description or comments.get((row.owner.__name__, row.name), "")
            meaning = _text(f"{row.note} {meaning}".strip())
            if prefix == "" and row.name in ("data", "model", "training"):
                meaning = f"the [{row.name}](#{row.name}) section below"
            default = _default(row.field)
            after = _lookup(resolved, row.key)
            if after is not _MISSING and default != "—" and _json(after) != _json(row.field.default):
                default += f"<br>*default config*: `{_cell(_json(after))}`"
            lines.append(f"| `{row.key}` | {_field_type(row.field)} | {default} | {meaning} |")
        lines.append("")
    return "\n".join(lines)


def config_keys() -> list[str]:
    """Every key path the page documents, in its order."""
    from aelab import config

    return [row.key for _, prefix, section in _sections(config) for row in _rows(section, prefix)]


def _sections(config) -> list[tuple[str, str, type[BaseModel]]]:
    return [("Top level", "", config.Config), ("data", "data.", config.DataConfig),
            ("model", "model.", config.ModelConfig), ("training", "training.", config.TrainingConfig)]


class _Row(typing.NamedTuple):
    key: str  # the path a user writes: model.noise.std, model.encoder_layers[].units
    name: str  # the field's name in its class
    field: Any  # pydantic FieldInfo
    owner: type  # the class that declares it
    note: str = ""


def _rows(section: type[BaseModel], prefix: str):
    """A row per key of a section and of the objects inside it (the optimizer, a layer, the noise);
    the top level lists the three sections by name only."""
    for name, field in section.model_fields.items():
        key = prefix + name
        yield _Row(key, name, field, section)
        inner = _models_in(field.annotation)
        if not inner or (prefix == "" and name in ("data", "model", "training")):
            continue
        many = "[]" if _is_list(field.annotation) else ""
        if len(inner) == 1:
            for sub, sub_field in inner[0].model_fields.items():
                yield _Row(f"{key}{many}.{sub}", sub, sub_field, inner[0])
            continue
        # A tagged union (model.noise): the tag, then each kind's keys, naming the kinds that have it.
        yield _Row(f"{key}.type", "type", _union_tag(inner), inner[0])
        seen: dict[str, list[str]] = {}
        for model in inner:
            for sub in model.model_fields:
                if sub != "type":
                    seen.setdefault(sub, []).append(model.model_fields["type"].default)
        for sub, kinds in seen.items():
            model = next(m for m in inner if sub in m.model_fields)
            note = "(" + ", ".join(f"`{k}`" for k in kinds) + ")"
            yield _Row(f"{key}.{sub}", sub, model.model_fields[sub], model, note)


def _union_tag(models: list[type[BaseModel]]):
    from pydantic.fields import FieldInfo

    tags = tuple(m.model_fields["type"].default for m in models)
    info = FieldInfo.from_annotation(Literal[tags])  # type: ignore[valid-type]
    info.default = tags[0]
    info.description = "which kind; the keys of each kind follow"
    return info


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        for model in _models_in(arg):
            if model not in found:
                found.append(model)
    return found


def _is_list(annotation: Any) -> bool:
    if typing.get_origin(annotation) is list:
        return True
    return any(_is_list(a) for a in typing.get_args(annotation) if typing.get_origin(annotation) is Union)


_MISSING = object()


def _lookup(tree: dict, key: str) -> Any:
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _json(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return json.dumps(value, default=str)


def _default(field) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    value = field.default if field.default is not PydanticUndefined else field.default_factory()
    if isinstance(value, BaseModel):
        return "—"  # a section: its keys follow
    return f"`{_cell(_json(value))}`"


def _field_type(field) -> str:
    # A name checked against a registry that grows (data.dataset: aelab.register_dataset) is a str
    # whose built-in names the field lists as json_schema_extra["names"].
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if "names" in extra:
        return _cell(", ".join(f"`{json.dumps(n)}`" for n in extra["names"]) + " or a registered name")
    return _type(field.annotation, field.metadata)


def _type(annotation: Any, metadata: list | None = None) -> str:
    return _cell(_type_text(annotation, metadata or []))


def _type_text(annotation: Any, metadata: list) -> str:
    bounds = _bounds(metadata)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_text(args[0], [*args[1:], *metadata])
    if origin is Literal:
        return ", ".join(f"`{json.dumps(a)}`" for a in args)
    if origin is Union:
        parts = [a for a in args if a is not type(None)]
        text = " or ".join(_type_text(a, []) for a in parts)
        if len(_models_in(annotation)) > 1:
            text = "object: " + " or ".join(f"`{m.model_fields['type'].default}`" for m in _models_in(annotation))
        return text + (" or `null`" if type(None) in args else "") + bounds
    if origin is list:
        return f"list of {_type_text(args[0], [])}" + bounds
    if origin is tuple:
        return "[" + ", ".join(_type_text(a, []) for a in args) + "]" + bounds
    if origin is dict:
        return "object (any keys)" + bounds
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    name = getattr(annotation, "__name__", str(annotation))
    return {"Any": "any"}.get(name, name) + bounds


_BOUND_SIGNS = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}


def _bounds(metadata: list) -> str:
    """Pydantic's constraints (annotated_types Gt, Ge, ..., MinLen; a Field() inside Annotated
    carries its own) as text: "(> 0, ≤ 1048576)"."""
    parts: list[str] = []

    def collect(items):
        for item in items:
            if isinstance(item, annotated_types.BaseMetadata):
                for attr, sign in _BOUND_SIGNS.items():
                    if hasattr(item, attr):
                        parts.append(f"{sign} {getattr(item, attr)}")
                if isinstance(item, annotated_types.MinLen):
                    parts.append(f"at least {item.min_length} long")
            collect(getattr(item, "metadata", []) if not isinstance(item, annotated_types.BaseMetadata) else [])

    collect(metadata)
    return f" ({', '.join(parts)})" if parts else ""


# ------------------------------------------------------------------------------------- the CLI


def cli_reference() -> str:
    """The CLI page: the global options, then every command's usage and options with their help."""
    import argparse

    from aelab.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    summaries = {a.dest: a.help for a in sub._choices_actions}
    lines = ["# Command line", "",
             "Generated from aelab's argparse parser (`src/aelab/cli.py` and `src/aelab/commands/`) at every",
             "build; `aelab COMMAND --help` (or `-h`) prints the same. `aelab` with no command lists the commands.", "",
             "## aelab", "", _text(parser.description or ""), "", *_options_table(parser), "",
             "| command | what it does |", "|---|---|"]
    lines += [f"| [`{name}`](#aelab-{name}) | {_text(summaries.get(name) or '')} |" for name in sub.choices]
    for name, command in sub.choices.items():
        lines += ["", f"## aelab {name}", "", _text(command.description or summaries.get(name) or ""), "",
                  "```text", command.format_usage().strip(), "```", "", *_options_table(command)]
    return "\n".join(lines) + "\n"


def cli_commands() -> list[str]:
    import argparse

    from aelab.cli import build_parser

    parser = build_parser()
    return list(next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices)


def _options_table(parser) -> list[str]:
    import argparse

    formatter = parser._get_formatter()
    rows = ["| argument | help | default |", "|---|---|---|"]
    for action in parser._actions:
        if isinstance(action, (argparse._SubParsersAction, argparse._HelpAction)):
            continue
        if action.option_strings:
            metavar = "" if action.nargs == 0 else " " + formatter._format_args(action, action.dest.upper())
            name = ", ".join(f"`{o}{metavar}`" for o in action.option_strings)
        else:
            name = f"`{formatter._format_args(action, action.dest)}`"
        help_text = formatter._expand_help(action) if action.help else ""
        if action.choices is not None and not isinstance(action.choices, dict):
            help_text += " (one of " + ", ".join(f"`{c}`" for c in action.choices) + ")"
        default = action.default
        shown = "" if default in (None, False, argparse.SUPPRESS) or action.nargs == 0 else f"`{_cell(str(default))}`"
        rows.append(f"| {name} | {_text(help_text)} | {shown} |")
    return rows


# ------------------------------------------------------------------------------ the Python API


ESTIMATORS = ("AE", "DAE", "VAE", "BetaVAE", "Estimator")


def api_reference() -> str:
    """The Python page: mkdocstrings renders each public name of `aelab` (`aelab.__all__`) from its
    docstring; the config classes by name only, since the config page lists their keys."""
    import aelab

    lines = ["# Python API", "",
             "The names `import aelab` gives (`aelab.__all__`), rendered from their docstrings at every build.",
             "The config classes' keys are on the [config page](config.md).", ""]
    for name in aelab.__all__:
        if name == "__version__":
            continue
        lines += [f"::: {aelab._LAZY.get(name, 'aelab.errors')}.{name}"]
        if name.endswith("Config"):
            lines += ["    options:", "      members: false"]
        elif name in ESTIMATORS:
            # Their constructors and Parameters sections are generated when the class is made
            # (aelab/estimator_params.py): griffe reads them from the imported class, not the source.
            lines += ["    options:", "      force_inspection: true"]
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------------- Markdown text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _text(text: str) -> str:
    """Plain text in a table cell or paragraph: one line, no HTML, no emphasis by accident; `code`
    spans are kept as they are (Markdown does not read escapes inside them)."""
    parts = " ".join(text.split()).split("`")
    for i in range(0, len(parts), 2):  # outside the code spans
        for char, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("*", "\\*"), ("_", "\\_"),
                              ("[", "\\["), ("|", "\\|")):
            parts[i] = parts[i].replace(char, escaped)
    for i in range(1, len(parts), 2):
        parts[i] = parts[i].replace("|", "\\|")
    return "`".join(parts)
