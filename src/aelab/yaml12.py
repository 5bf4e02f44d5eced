"""YAML configs read as plain YAML 1.2 (its core schema), the way JSON reads: true/false, null,
numbers written as numbers, everything else text. PyYAML follows YAML 1.1, where `yes`/`no`/`on`
are booleans, `1:30` is the number 90 (base 60), `010` is 8 and `2024-01-01` a date; here they
stay the text they look like, and the config's validation says when a key expects something else.
Explicit tags that build other things (`!!binary`, `!!timestamp`, `!!set`, ...) and aliases (a
600-byte 'billion laughs' file expands to gigabytes) are refused with one line.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from aelab.errors import AelabError

_CORE = [  # (tag, pattern, first characters): YAML 1.2's core schema, decimal numbers only
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^[-+]?[0-9]+$", list("-+0123456789")),
    ("tag:yaml.org,2002:float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                                r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", list("-+.0123456789")),
]
_REFUSED = ("binary", "timestamp", "set", "omap", "pairs")


def load(text: str) -> Any:
    """The plain data of a YAML 1.2 document (AelabError for a refused tag or an alias; yaml.YAMLError
    for text that is not YAML)."""
    import yaml  # PyYAML loads only when a YAML config is read (start-up time)

    return yaml.load(text, Loader=_loader())


@functools.cache
def _loader() -> type:
    """SafeLoader with the core schema's resolvers and constructors, and no aliases."""
    import yaml

    class Loader(yaml.SafeLoader):
        yaml_implicit_resolvers: dict = {}

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                raise AelabError("YAML aliases (*name) are not accepted in a config; write the values out")
            return super().compose_node(parent, index)

    for tag, pattern, first in _CORE:
        Loader.add_implicit_resolver(tag, re.compile(pattern), first)
    Loader.add_constructor("tag:yaml.org,2002:int", _int)
    Loader.add_constructor("tag:yaml.org,2002:float", _float)
    for name in _REFUSED:
        Loader.add_constructor(f"tag:yaml.org,2002:{name}", _refuse)
    return Loader


def _int(loader, node) -> int:
    return int(loader.construct_scalar(node))  # decimal: "010" is 10; "1_000" and "1:30" stay text


def _float(loader, node) -> float:
    text = loader.construct_scalar(node).lower()
    return float(text.replace(".inf", "inf").replace(".nan", "nan"))


def _refuse(loader, node):
    raise AelabError(f"line {node.start_mark.line + 1}: the YAML tag {node.tag.replace('tag:yaml.org,2002:', '!!')} "
                     "is not accepted in a config; write a plain value (text, number, true/false, list or mapping)")
