"""The results plots, made from results.json's content alone.

- ``accuracy.png`` (``plot_results``): test accuracy per arm with std error bars, or
  accuracy against ``plot_x`` with one line per value of ``plot_series``: ``plot_x`` a
  numeric override (linear axis) or a derived per-run quantity such as ``train_examples``
  (log axis); ``plot_series`` an override key, ``config``, or ``series`` (the arms' labels).
- ``accuracy_vs_throughput.png`` (``plot_accuracy_vs_throughput``): the MLP-Mixer paper's
  layout, test accuracy against inference img/s (log axis), one labelled point per arm.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mixer_vit.experiment.spec import DERIVED_PLOT_X, SERIES  # noqa: E402

Point = tuple[float, float, float]  # (x, accuracy %, std %)


def _percent(stats: dict) -> tuple[float, float]:
    return 100 * stats["mean"], 100 * (stats["std"] or 0.0)


def _x_value(results: dict, arm: str, overrides: dict) -> float | None:
    x_key = results["plot_x"]
    if x_key in DERIVED_PLOT_X:
        return results["table"][arm].get(x_key, {}).get("mean")
    return float(overrides[x_key]) if x_key in overrides else None


def _series_label(results: dict, arm: str, overrides: dict) -> str:
    key = results.get("plot_series")
    if not key:
        return results["experiment"]
    if key == SERIES:
        return results["arms"][arm].get(SERIES) or arm
    return str(overrides.get(key, ""))


def series_points(results: dict) -> dict[str, list[Point]]:
    """series label -> its points sorted by x (arms without an x value or an accuracy are
    left out), for the ``plot_x`` plot."""
    lines: dict[str, list[Point]] = {}
    for arm, stats in results["table"].items():
        arm_info = results["arms"][arm]
        overrides = {"config": arm_info["config"], **arm_info["overrides"]}
        x = _x_value(results, arm, overrides)
        if x is None or stats["test_accuracy"]["mean"] is None:
            continue
        label = _series_label(results, arm, overrides)
        lines.setdefault(label, []).append((float(x), *_percent(stats["test_accuracy"])))
    return {label: sorted(points) for label, points in lines.items()}


def x_scale(results: dict) -> str:
    """"log" for a derived quantity (training-set sizes span decades), else "linear"."""
    return "log" if results.get("plot_x") in DERIVED_PLOT_X else "linear"


def _finish(fig, ax, results: dict, path: str) -> str:
    ax.set_ylabel("test accuracy (%), mean ± std over seeds")
    ax.set_title(results["experiment"])
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_results(results: dict, path: str) -> str:
    """results: the results.json dict; writes a PNG to ``path`` and returns it."""
    table = results["table"]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(table) + 2), 4))
    if results.get("plot_x"):
        lines = series_points(results)
        for label, points in lines.items():
            xs, ys, errs = zip(*points)
            ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=label)
        ax.set_xscale(x_scale(results))
        ax.set_xlabel(results["plot_x"] + (" (log scale)" if x_scale(results) == "log" else ""))
        if len(lines) > 1:
            ax.legend()
    else:
        names = list(table)
        means, errs = zip(*(_percent(table[a]["test_accuracy"]) for a in names))
        ax.bar(names, means, yerr=errs, capsize=4, color="#4C72B0")
        low = min(m - e for m, e in zip(means, errs))
        ax.set_ylim(max(0.0, low - 5), min(100.0, max(m + e for m, e in zip(means, errs)) + 2))
        ax.set_xlabel("arm")
    return _finish(fig, ax, results, path)


def throughput_points(results: dict) -> list[tuple[str, float, float, float]]:
    """(arm, inference img/s, accuracy %, std %) of every arm with both numbers."""
    timed = (results.get("inference") or {}).get("arms", {})
    points = []
    for arm, stats in results["table"].items():
        rate = timed.get(arm, {}).get("img_per_s")
        if rate and stats["test_accuracy"]["mean"] is not None:
            points.append((arm, float(rate), *_percent(stats["test_accuracy"])))
    return points


# Label offsets (points) tried in turn, the first whose box overlaps no earlier label wins.
_LABEL_OFFSETS = ((7, 7, "left"), (14, -16, "left"), (-14, 16, "right"), (-14, -16, "right"),
                  (14, 28, "left"), (14, -28, "left"), (-14, 28, "right"), (-14, -28, "right"))


def _label_points(fig, ax, labelled: list[tuple[str, float, float]]) -> None:
    """Annotates each (text, x, y), moving a label to the next offset in _LABEL_OFFSETS
    while its box would overlap one already placed (or the last offset is reached)."""
    renderer = fig.canvas.get_renderer()
    placed = []
    for text, x, y in labelled:
        for dx, dy, align in _LABEL_OFFSETS:
            moved = (dx, dy, align) != _LABEL_OFFSETS[0]  # a thin line shows whose it is
            label = ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy),
                                ha=align, va="center", fontsize=9,
                                arrowprops=dict(arrowstyle="-", lw=0.6, color="0.4",
                                                shrinkA=1, shrinkB=4) if moved else None)
            box = label.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed) or (dx, dy, align) == \
                    _LABEL_OFFSETS[-1]:
                placed.append(box)
                break
            label.remove()


def plot_accuracy_vs_throughput(results: dict, path: str) -> str:
    """Test accuracy (mean ± std) against inference img/s on a log axis, a labelled point
    per arm (the arms' ``inference`` rows of results.json); writes ``path``."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    points = throughput_points(results)
    fig, ax = plt.subplots(figsize=(7, 4.8))
    for _, rate, accuracy, std in points:
        ax.errorbar([rate], [accuracy], yerr=[std], marker="o", capsize=3, color="#4C72B0")
    ax.set_xscale("log")
    rates = [rate for _, rate, _, _ in points]
    if rates:  # some room either side for the labels
        ax.set_xlim(min(rates) / 1.25, max(rates) * 1.25)
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # 100, 200, 500, 1000...
    ax.xaxis.set_major_formatter(ScalarFormatter())  # plain numbers, not 10^3
    low, high = ax.get_xlim()
    if sum(low <= tick <= high for tick in ax.get_xticks()) < 2:  # a narrow range: label
        ax.xaxis.set_minor_formatter(ScalarFormatter())  # the minor ticks too
    else:
        ax.xaxis.set_minor_formatter(NullFormatter())
    fig.canvas.draw()
    _label_points(fig, ax, [(arm, rate, accuracy) for arm, rate, accuracy, _ in points])
    device = (results.get("inference") or {}).get("device") or "unknown device"
    ax.set_xlabel(f"inference img/s (log scale); {device}")
    return _finish(fig, ax, results, path)
