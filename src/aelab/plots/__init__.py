"""Figures: arrays in, one PNG out, drawn on Figure objects (plots/canvas.py)."""
