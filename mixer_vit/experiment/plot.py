"""The results plot, made from results.json's content alone: test accuracy per arm with
std error bars, or accuracy against a numeric override (``plot_x``), one line per value of
``plot_series``."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _percent(stats: dict) -> tuple[float, float]:
    return 100 * stats["mean"], 100 * (stats["std"] or 0.0)


def plot_results(results: dict, path: str) -> str:
    """results: the results.json dict; writes a PNG to ``path`` and returns it."""
    table, arms = results["table"], results["arms"]
    x_key, series_key = results.get("plot_x"), results.get("plot_series")
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(table) + 2), 4))
    if x_key:
        lines: dict[str, list] = {}
        for arm, stats in table.items():
            overrides = {"config": arms[arm]["config"], **arms[arm]["overrides"]}
            label = str(overrides.get(series_key, "")) if series_key else results["experiment"]
            point = (float(overrides[x_key]), *_percent(stats["test_accuracy"]))
            lines.setdefault(label, []).append(point)
        for label, points in lines.items():
            points.sort()
            xs, ys, errs = zip(*points)
            ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=label)
        ax.set_xlabel(x_key)
        if len(lines) > 1:
            ax.legend()
    else:
        names = list(table)
        means, errs = zip(*(_percent(table[a]["test_accuracy"]) for a in names))
        ax.bar(names, means, yerr=errs, capsize=4, color="#4C72B0")
        low = min(m - e for m, e in zip(means, errs))
        ax.set_ylim(max(0.0, low - 5), min(100.0, max(m + e for m, e in zip(means, errs)) + 2))
        ax.set_xlabel("arm")
    ax.set_ylabel("test accuracy (%), mean ± std over seeds")
    ax.set_title(results["experiment"])
    ax.grid(alpha=0.3)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
