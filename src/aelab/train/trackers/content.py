"""What every tracker logs, in the same form: the config's parameters, an epoch's values, the
final numbers of metrics.json. Plain data only; the trackers turn it into their own records."""

from __future__ import annotations

import importlib.util
import json

from aelab.config import Config
from aelab.errors import AelabError


def check_installed(key: str, modules: tuple[str, ...], extra: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise AelabError(f"training.{key} needs the {', '.join(missing)} package{'s' * (len(missing) > 1)}: "
                         f'pip install "aelab[{extra}]" (or set training.{key} to false)')


def parameters(config: Config) -> dict[str, str]:
    """The resolved config, flattened to dotted keys; values as text (lists and null as JSON)."""
    flat: dict[str, str] = {}

    def walk(node, prefix: str) -> None:
        for key, value in node.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict) and value:
                walk(value, name + ".")
            else:
                flat[name] = value if isinstance(value, str) else json.dumps(value)
    walk(config.to_dict(), "")
    return flat


def epoch_values(row: dict) -> dict[str, float]:
    """A history row's numbers (loss, its terms, val_*, seconds, learning_rate), without the epoch."""
    return {k: float(v) for k, v in row.items() if k != "epoch" and _number(v)}


def final_values(metrics: dict) -> dict[str, float]:
    """metrics.json's numbers, flattened with '/': {"test": {"loss": 3.1}} -> {"test/loss": 3.1};
    true/false as 1/0; text and lists (precision, input_shape) left out."""
    flat: dict[str, float] = {}

    def walk(node: dict, prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}/")
            elif isinstance(value, bool) or _number(value):
                flat[f"{prefix}{key}"] = float(value)
    walk(metrics, "")
    return flat


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
