"""Every size a user can ask aelab to make, with its cap, in one table. Each is checked at the door
(the config, the CLI's explore commands, the Python API, serve's requests) with one line that names
the limit and the value, before anything is allocated: `aelab interpolate RUN --steps 1000000` or
`model.options.codebook_size=1e9` are refused at once instead of growing until the machine gives out.

The caps lie far above what a useful figure, model or file needs and far below what exhausts a
machine's memory; a run that needs more changes the number here.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

from aelab.errors import AelabError


class Limit(NamedTuple):
    low: int | float
    high: int | float
    what: str  # the unit, in the plural: "1000 {what}"


LIMITS: dict[str, Limit] = {
    # what the explore commands and sample() make
    "steps": Limit(2, 1000, "images along one interpolation or traversal row (--steps)"),
    "frames": Limit(2, 5000, "frames of one GIF (--frames)"),
    "figure_images": Limit(1, 4096, "images in one figure (-n)"),
    "samples": Limit(1, 1_000_000, "images drawn or scored at once (sample(n), --fd-samples)"),
    "sample_values": Limit(1, 1 << 28, "pixel values drawn at once (images x channels x height x width)"),
    "importance_samples": Limit(1, 100_000, "importance samples per image (--nll-samples)"),
    "noise_repeats": Limit(1, 1000, "corrupted copies of each image (--noise-repeats)"),
    "expression_characters": Limit(1, 500, "characters of a latent arithmetic expression"),
    "seed": Limit(0, 2**32 - 1, "(seeds run from 0 to 2**32 - 1)"),
    # what a config asks to build
    "image_side": Limit(1, 4096, "pixels a side of a training image (data.input_size)"),
    "latent_dim": Limit(1, 1 << 16, "latent dimensions (model.latent_dim)"),
    "codebook_size": Limit(2, 1 << 16, "VQ-VAE codebook entries (model.options.codebook_size)"),
    "classes": Limit(2, 100_000, "classes of a conditional model (model.options.n_classes)"),
    # what is read from a file that may come from elsewhere
    "json_bytes": Limit(0, 16 << 20, "bytes of a run's JSON file (metrics.json, config.json)"),
    "history_bytes": Limit(0, 256 << 20, "bytes of a run's history.csv"),
    "tensor_file_bytes": Limit(0, 16 << 30, "bytes of a model, checkpoint, sampler or classifier file"),
}


def check(name: str, value, where: str | None = None):
    """`value` if it lies within the limit `name`, else one AelabError line naming both (a ValueError:
    pydantic validators report it as the key's error)."""
    limit = LIMITS[name]
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise AelabError(f"{where or name}: {str(value)[:40]!r} is not a number")
    subject = f"{where} {_shown(value)}" if where else _shown(value)
    if value > limit.high:
        raise AelabError(f"{subject} is above aelab's limit '{name}': at most {limit.high:,} {limit.what} "
                         "(src/aelab/limits.py)")
    if value < limit.low:
        raise AelabError(f"{subject} is below aelab's limit '{name}': at least {limit.low:,}")
    return value


def checker(name: str):
    """`check` for one limit, as a pydantic AfterValidator takes it: Annotated[int, checker("latent_dim")]."""
    from pydantic import AfterValidator

    return AfterValidator(lambda value: check(name, value, ""))


def _shown(value) -> str:
    text = f"{value:,}" if isinstance(value, int) else f"{value:g}"
    return text if len(text) <= 40 else f"{text[:40]}... ({len(text)} digits)"
