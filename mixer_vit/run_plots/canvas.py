"""Matplotlib figures on the Agg canvas, without pyplot (no global figure state, no GUI
backend): create one, save it as PNG, or render it to an RGB array."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100


def new_figure(width: float, height: float) -> Figure:
    """An empty figure of ``width`` x ``height`` inches attached to an Agg canvas."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Figure, path: str) -> str:
    figure.savefig(path, format="png", dpi=DPI)
    return path


def figure_rgb(figure: Figure) -> np.ndarray:
    """The rendered figure as uint8 [H, W, 3]."""
    canvas = figure.canvas
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
