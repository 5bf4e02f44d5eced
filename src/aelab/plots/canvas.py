"""Figures drawn on matplotlib.figure.Figure objects, never through pyplot's global state: aelab
switches no backend and leaves no figure open, so a notebook's inline figures keep working."""

from __future__ import annotations

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def subplots(nrows: int = 1, ncols: int = 1, figsize=None, dpi=None, **kwargs):
    """(figure, axes) like pyplot.subplots, on a Figure of its own with an Agg canvas."""
    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def figure(figsize=None, dpi=None) -> Figure:
    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def colormap(name: str):
    return matplotlib.colormaps[name]
