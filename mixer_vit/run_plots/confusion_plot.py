"""The test split's confusion matrix, row-normalised (each true class's row sums to 1),
with the counts written in the cells for up to ``ANNOTATE_MAX_CLASSES`` classes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from mixer_vit.run_plots.canvas import new_figure

ANNOTATE_MAX_CLASSES = 20
NAMED_TICKS_MAX_CLASSES = 50


def row_normalised(confusion: np.ndarray) -> np.ndarray:
    """confusion: counts [K, K] (row: true class, column: predicted) -> float [K, K] with
    each row divided by its sum (rows of classes absent from the test split stay 0)."""
    confusion = np.asarray(confusion, dtype=np.float64)
    totals = confusion.sum(axis=1, keepdims=True)
    return np.divide(confusion, totals, out=np.zeros_like(confusion), where=totals > 0)


def plot_confusion(confusion: Sequence[Sequence[int]], class_names: Sequence[str],
                   title: str) -> Figure:
    """confusion: counts [K, K] as test_report.json stores them; class_names: K names."""
    counts = np.asarray(confusion, dtype=np.int64)
    k = counts.shape[0]
    rates = row_normalised(counts)
    side = float(np.clip(2.5 + 0.4 * k, 5.0, 14.0))
    figure = new_figure(side + 1.2, side)
    ax = figure.subplots()
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    if k <= NAMED_TICKS_MAX_CLASSES:
        ax.set_xticks(range(k), labels=list(class_names), rotation=90, fontsize=8)
        ax.set_yticks(range(k), labels=list(class_names), fontsize=8)
    if k <= ANNOTATE_MAX_CLASSES:
        for i in range(k):
            for j in range(k):
                if counts[i, j]:
                    ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return figure
