"""``learning_curve.png``: test accuracy against the number of labels, one line per
strategy (random dashed) with a mean +- std band over seeds, from results.json alone."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PLOT_FILE = "learning_curve.png"


def curve_series(points: list[dict]) -> tuple[list[int], list[float], list[float]]:
    """A strategy's curve points -> (labels, mean %, std %) where a mean exists (std 0
    for a single seed)."""
    kept = [p for p in points if p["test_accuracy"]["mean"] is not None]
    labels = [p["labels"] for p in kept]
    means = [100 * p["test_accuracy"]["mean"] for p in kept]
    stds = [100 * (p["test_accuracy"]["std"] or 0.0) for p in kept]
    return labels, means, stds


def plot_learning_curves(results: dict, path: str) -> str:
    """Writes the learning-curve PNG of a results.json dict to ``path``; returns it."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for strategy, entry in results["strategies"].items():
        labels, means, stds = curve_series(entry["curve"])
        style = "--" if strategy == "random" else "-"
        color = "0.3" if strategy == "random" else None
        seeds = len(entry["seeds"])
        (line,) = ax.plot(labels, means, style, marker="o", markersize=3, color=color,
                          label=f"{strategy} ({seeds} seed{'s' if seeds != 1 else ''})")
        low = [m - s for m, s in zip(means, stds)]
        high = [m + s for m, s in zip(means, stds)]
        ax.fill_between(labels, low, high, color=line.get_color(), alpha=0.15, linewidth=0)
    target = results.get("target_accuracy")
    if target:
        ax.axhline(100 * target, color="0.6", linewidth=0.8, linestyle=":",
                   label=f"target {100 * target:g}%")
    ax.set_xlabel("labelled examples")
    ax.set_ylabel("test accuracy (%), mean ± std over seeds")
    ax.set_title(f"active learning: {os.path.basename(str(results.get('config', '')))}")
    ax.grid(alpha=0.3)
    if results["strategies"]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
