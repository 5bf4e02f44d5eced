"""Figures, drawn with Matplotlib's Agg backend (no display needed)."""

import matplotlib

matplotlib.use("Agg")
