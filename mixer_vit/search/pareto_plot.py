"""``pareto.png``: each candidate's validation accuracy (at its furthest evaluation)
against its forward GFLOPs per image (log x), the Pareto front drawn as a line; the
candidates trained to the end are filled, the stopped ones hollow; colours group the
candidates (by mixer, or by the mixers of the stages of a staged space). Hand-designed
references (references.py) are black crosses with their labels, their own front a
dashed line."""

from __future__ import annotations

import os
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FormatStrFormatter, NullFormatter  # noqa: E402

from mixer_vit.search.candidates_table import furthest_records, pareto_front  # noqa: E402

PLOT_FILE = "pareto.png"


def _mixer(candidate: dict) -> str:
    return candidate["mixer"]


def plot_pareto(history: list[dict], path: str, title: str = "",
                group: Callable[[dict], str] = _mixer, references: list[dict] = ()) -> str:
    """Writes the plot of ``history`` (history.jsonl records) to ``path``, one colour per
    ``group(candidate)`` (default: the mixer), with ``references`` (references.jsonl
    records); returns ``path``."""
    records = furthest_records(history)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    groups = sorted({group(r["candidate"]) for r in records})
    colors = {m: plt.cm.tab10(i % 10) for i, m in enumerate(groups)}
    for name in groups:
        for final in (True, False):
            mine = [r for r in records if group(r["candidate"]) == name and r["final"] == final]
            if not mine:
                continue
            ax.scatter([r["gflops"] for r in mine], [100 * r["validation_accuracy"] for r in mine],
                       s=28, color=colors[name] if final else "none",
                       edgecolors=colors[name], label=name if final or not any(
                           r["final"] for r in records if group(r["candidate"]) == name)
                       else None)
    final_records = [r for r in records if r["final"]] or records
    points = [(r["gflops"], 100 * r["validation_accuracy"]) for r in final_records]
    front = [points[i] for i in pareto_front(points)]
    if front:
        ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="0.2",
                linewidth=1.2, label="Pareto front")
        ax.scatter([p[0] for p in front], [p[1] for p in front], s=90, facecolors="none",
                   edgecolors="0.2", linewidths=1.0)
    if references:
        _plot_references(ax, references)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FormatStrFormatter("%.3g"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("forward GFLOPs per image (XLA count, log scale)")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(title or "architecture search")
    ax.grid(alpha=0.3, which="both")
    if records or references:
        ax.legend(fontsize=8 if len(groups) <= 8 else 6, ncol=1 if len(groups) <= 8 else 2)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _plot_references(ax, references: list[dict]) -> None:
    """Black crosses, each labelled, and the references' front as a dashed step line."""
    points = [(r["gflops"], 100 * r["validation_accuracy"]) for r in references]
    ax.scatter([p[0] for p in points], [p[1] for p in points], marker="x", s=45, color="k",
               linewidths=1.4, label="hand-designed references", zorder=3)
    for r, (x, y) in zip(references, points):
        ax.annotate(r["label"], (x, y), xytext=(4, 3), textcoords="offset points",
                    fontsize=7, color="k")
    front = [points[i] for i in pareto_front(points)]
    ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="k",
            linestyle="--", linewidth=1.0, label="references' front")
