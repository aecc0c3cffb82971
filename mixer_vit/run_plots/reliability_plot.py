"""The reliability diagram (Guo et al., 2017) from test_report.json's ``reliability`` bins:
accuracy per confidence bin against the diagonal of perfect calibration, the gap to the
bin's mean confidence, and below it how many test examples each bin holds. When the report
has a ``temperature_scaling`` section, its bins are overlaid: each non-empty bin's
accuracy at its mean confidence after dividing the logits by T, and its counts."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from mixer_vit.run_plots.canvas import new_figure


def _floats(values) -> np.ndarray:
    """JSON list with nulls (empty bins) -> float array with NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


SCALED_LABEL = "after temperature scaling"  # the overlay's legend entry starts with this


def plot_reliability(
    reliability: dict, ece: float | None, title: str, temperature_scaling: dict | None = None
) -> Figure:
    """reliability: {"bin_edges" [B+1], "confidence" [B], "accuracy" [B], "count" [B]}
    (``metrics.reliability_bins`` as the report stores it); ece: the report's ECE;
    temperature_scaling: the report's section of that name ({"temperature", "ece",
    "reliability": bins as above, ...}), drawn over the diagram when given."""
    edges = _floats(reliability["bin_edges"])
    confidence, accuracy = _floats(reliability["confidence"]), _floats(reliability["accuracy"])
    count = np.asarray(reliability["count"], dtype=np.int64)
    centres, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    filled = count > 0
    figure = new_figure(5.5, 6.5)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    x, width = centres[filled], widths[filled]
    top.bar(x, accuracy[filled], width=width, color="C0", alpha=0.8, zorder=2,
            label="accuracy")
    gap_low = np.minimum(accuracy, confidence)[filled]
    gap = np.abs(confidence - accuracy)[filled]
    top.bar(x, gap, bottom=gap_low, width=width, facecolor=(0.84, 0.15, 0.16, 0.15),
            edgecolor="C3", hatch="//", linewidth=0.8, zorder=3, label="gap to confidence")
    top.bar(x, accuracy[filled], width=width, fill=False, edgecolor="black", linewidth=0.6,
            zorder=4)
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    scaled_title = ""
    if temperature_scaling:
        after = temperature_scaling["reliability"]
        after_count = np.asarray(after["count"], dtype=np.int64)
        kept = after_count > 0
        t = temperature_scaling["temperature"]
        top.plot(_floats(after["confidence"])[kept], _floats(after["accuracy"])[kept],
                 marker="o", markersize=4, color="C2", zorder=5,
                 label=f"{SCALED_LABEL} (T {t:.3g})")
        bottom.step(edges, np.append(after_count, after_count[-1]), where="post", color="C2",
                    linewidth=1.2, label=f"after T {t:.3g}")
        scaled_title = f", {temperature_scaling['ece']:.4f} after T {t:.3g}"
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.legend(loc="upper left", fontsize=8)
    ece_text = "n/a" if ece is None else f"{ece:.4f}"
    top.set_title(f"{title}: ECE {ece_text}{scaled_title}")
    bottom.bar(centres, count, width=widths, color="grey", edgecolor="black", linewidth=0.4,
               label="as trained")
    if temperature_scaling:
        bottom.legend(loc="upper left", fontsize=8)
    bottom.set_xlabel("confidence (top probability)")
    bottom.set_ylabel("examples")
    return figure
