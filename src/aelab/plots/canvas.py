"""Figures drawn on matplotlib.figure.Figure objects, never through pyplot's global state: aelab
switches no backend and leaves no figure open, so a notebook's inline figures keep working.

They are `Figure`s of this module: a Figure that shows itself in Jupyter (`_repr_png_`, the PNG a
run folder would hold) even when pyplot, whose inline backend registers that display, was never
imported."""

from __future__ import annotations

import io

import matplotlib
import matplotlib.figure
from matplotlib.backends.backend_agg import FigureCanvasAgg

DPI = 110  # of every PNG aelab writes, and of the figures a notebook shows


class Figure(matplotlib.figure.Figure):
    """A matplotlib Figure that a notebook displays inline as the PNG aelab would write."""

    def _repr_png_(self) -> bytes:
        return png_bytes(self)


def png_bytes(fig: matplotlib.figure.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=DPI, bbox_inches="tight", format="png")
    return buffer.getvalue()


def subplots(nrows: int = 1, ncols: int = 1, figsize=None, dpi=None, **kwargs):
    """(figure, axes) like pyplot.subplots, on a Figure of its own with an Agg canvas."""
    fig = figure(figsize, dpi)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def figure(figsize=None, dpi=None) -> Figure:
    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def colormap(name: str):
    return matplotlib.colormaps[name]
