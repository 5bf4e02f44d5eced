"""The latent traversal of a model trained on data with known factors (dsprites): one row per
latent dimension, each labelled with the factor it captures most, by the mutual information that
MIG is computed from (`evaluate.disentanglement`). `aelab evaluate` draws it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aelab.explore.context import Context, as_context
from aelab.explore.traverse import centre, default_spans, rows
from aelab.layout import FACTOR_TRAVERSAL
from aelab.plots.explore_figures import traversal_rows


def factor_labels(mutual_information: dict[str, list[float]], dims: int) -> list[str]:
    """Per latent dimension: '-> factor (MI x nats)', or '(no factor)' when it carries almost none."""
    names = list(mutual_information)
    mi = np.array([mutual_information[n] for n in names]).T[:dims]  # (dims, factors)
    return [f"-> {names[row.argmax()]} ({row.max():.2f} nats)" if row.max() > 0.01 else "(no factor)" for row in mi]


def factor_traversal(ctx: Context | str | Path, mutual_information: dict[str, list[float]],
                     steps: int = 11, out: str | Path | None = None) -> Path:
    ctx = as_context(ctx)
    spans, source = default_spans(ctx)
    base, how = centre(ctx, None)
    images = rows(ctx, spans, steps, base)
    labels = factor_labels(mutual_information, len(images))
    title = (f"{ctx.kind}: one latent dimension at a time, {how} ({source}); beside each, the factor "
             "it shares most information with")
    spans = spans[:len(images)]
    shared = spans[:1] if np.all(spans == spans[0]) else spans  # one range for all: said once, below
    return traversal_rows(images, shared, title, ctx.out_path(out, FACTOR_TRAVERSAL), labels)
