"""``curves.png``: loss, accuracy and learning rate against the step, runs overlaid.

One colour per run; train dashed and thin, evaluation splits (validation) solid, the test
split (one point at the end) a star.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from mixer_vit.run_plots.canvas import new_figure
from mixer_vit.run_plots.curve_data import Curve

PANELS = (("loss", "loss"), ("accuracy", "accuracy"), ("lr", "learning rate"))
TRAIN_SPLIT = "train"


def _split_style(split: str, test_split: str) -> dict:
    if split == TRAIN_SPLIT:
        return dict(linestyle="--", linewidth=1.0, alpha=0.8)
    if split == test_split:
        return dict(linestyle="none", marker="*", markersize=11)
    return dict(linestyle="-", linewidth=1.8, marker="o", markersize=2.5)


def plot_curves(
    runs: Sequence[tuple[str, dict[str, dict[str, Curve]], str]],
) -> Figure:
    """runs: (label, ``curve_data`` of its metrics, its test split name) per run.
    Returns a figure with the three panels of ``PANELS`` side by side."""
    figure = new_figure(15, 4.2)
    axes = figure.subplots(1, len(PANELS))
    colours = [f"C{i % 10}" for i in range(len(runs))]
    splits_seen: dict[str, dict] = {}
    for (label, curves, test_split), colour in zip(runs, colours):
        for ax, (metric, _) in zip(axes, PANELS):
            for split, metrics in curves.items():
                if metric not in metrics:
                    continue
                style = _split_style(split, test_split)
                splits_seen.setdefault(split, style)
                steps, values = metrics[metric]
                ax.plot(steps, values, color=colour, **style)
    for ax, (metric, title) in zip(axes, PANELS):
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if not ax.has_data():
            ax.text(0.5, 0.5, f"no {metric} logged", ha="center", va="center",
                    transform=ax.transAxes, color="grey")
    axes[2].ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    run_handles = [Line2D([], [], color=c, linewidth=2) for c in colours]
    axes[0].legend(run_handles, [label for label, _, _ in runs], title="run", fontsize=8)
    split_handles = [Line2D([], [], color="grey", **style) for style in splits_seen.values()]
    axes[1].legend(split_handles, list(splits_seen), title="split", fontsize=8)
    return figure
