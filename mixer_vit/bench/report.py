"""Outputs of ``mixer-vit bench``: a Markdown table, ``results.json`` and a PNG plot."""

from __future__ import annotations

import json
import os
from typing import Any

RESULTS_JSON, PLOT_PNG = "results.json", "throughput.png"
OUTPUT_FILES = (RESULTS_JSON, PLOT_PNG)
"""What ``--out DIR`` receives; ``mixer-vit bench`` refuses a directory holding either."""

COLUMNS = (
    ("model", "model", "{}"),
    ("mode", "mode", "{}"),
    ("dtype", "dtype", "{}"),
    ("image_size", "res", "{}"),
    ("batch_size", "batch", "{}"),
    ("img_per_s", "img/s (median)", "{:.1f}"),
    ("img_per_s_min", "min", "{:.1f}"),
    ("img_per_s_max", "max", "{:.1f}"),
    ("img_per_s_per_device", "img/s/device", "{:.1f}"),
    ("compile_s", "compile (s)", "{:.1f}"),
    ("gflops_per_image", "GFLOPs/img (XLA, 2/MAC)", "{:.3g}"),
    ("tflops_per_s", "TFLOP/s", "{:.3f}"),
    ("utilisation", "util. of peak", "{:.1%}"),
    ("peak_memory_gib", "peak mem (GiB)", "{:.2f}"),
)
TIMM_COLUMNS = (
    ("timm_img_per_s", "timm img/s", "{:.1f}"),
    ("ours_over_timm", "ours/timm", "{:.2f}"),
    ("ours_over_timm_per_round", "per round", "{:.2f}"),
    (
        "rounds_ours_faster",
        "ours faster",
        lambda row: f"{row['rounds_ours_faster']}/{row['rounds']}",
    ),
)
"""``ours/timm``: ratio of the median img/s; ``per round``: median over the alternating
rounds of timm's seconds / ours; ``ours faster``: rounds in which ours took less time."""


def markdown_table(rows: list[dict[str, Any]]) -> str:
    columns = COLUMNS + (TIMM_COLUMNS if any("timm_img_per_s" in r for r in rows) else ())
    lines = [
        "| " + " | ".join(title for _, title, _ in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in rows:
        cells = []
        for key, _, fmt in columns:
            value = row.get(key)
            if value is None:
                cells.append("-")
            else:
                cells.append(fmt(row) if callable(fmt) else fmt.format(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_json(path: str, rows: list[dict[str, Any]], environment: dict[str, Any]) -> None:
    with open(path, "w") as f:
        json.dump({**environment, "rows": rows}, f, indent=2)
        f.write("\n")


def write_plot(path: str, rows: list[dict[str, Any]]) -> None:
    """img/s against batch size (or against resolution when several were measured), one
    line per model / dtype / mode; timm's dashed where measured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_resolution = len({r["image_size"] for r in rows}) > 1
    x_key = "image_size" if by_resolution else "batch_size"
    lines: dict[tuple, list[tuple]] = {}
    for r in rows:
        fixed = r["batch_size"] if by_resolution else r["image_size"]
        key = (r["model"], r["dtype"], r["mode"], fixed)
        lines.setdefault(key, []).append((r[x_key], r["img_per_s"], r.get("timm_img_per_s")))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (model, dtype, mode, fixed), points in sorted(lines.items()):
        points.sort()
        xs = [p[0] for p in points]
        label = f"{model} {dtype} {mode}" + (f" (batch {fixed})" if by_resolution else "")
        (line,) = ax.plot(xs, [p[1] for p in points], marker="o", label=label)
        if all(p[2] is not None for p in points):
            ax.plot(
                xs,
                [p[2] for p in points],
                ls="--",
                marker="x",
                color=line.get_color(),
                label=f"{label} timm",
            )
    ax.set_xlabel("resolution (pixels)" if by_resolution else "batch size (global)")
    ax.set_ylabel("images / s (median)")
    ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_outputs(out: str, rows: list[dict[str, Any]], environment: dict[str, Any]) -> None:
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, RESULTS_JSON), rows, environment)
    write_plot(os.path.join(out, PLOT_PNG), rows)
