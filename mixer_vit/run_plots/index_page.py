"""``index.html``: a static page with the runs' key numbers and every plot, images by
relative path (the folder can be moved or served as it is)."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence

from mixer_vit.run_plots.curve_data import last_step
from mixer_vit.run_plots.run_files import RunFiles

INDEX_FILE = "index.html"


def _number(report: dict | None, key: str) -> str:
    value = (report or {}).get(key)
    return "&ndash;" if not isinstance(value, (int, float)) else f"{value:.4f}"


def key_numbers_table(runs: Sequence[RunFiles]) -> str:
    """One row per run: label, workdir, last step, test top-1, top-5, ECE, macro F1."""
    header = "".join(f"<th>{h}</th>" for h in (
        "run", "workdir", "steps", "test top-1", "test top-5", "ECE", "macro F1"
    ))
    rows = []
    for run in runs:
        steps = last_step(run.rows)
        cells = [
            html.escape(run.label), f"<code>{html.escape(run.path)}</code>",
            "&ndash;" if steps is None else str(steps),
            *(_number(run.report, key) for key in ("top1", "top5", "ece", "macro_f1")),
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table>\n<tr>{header}</tr>\n" + "\n".join(rows) + "\n</table>"


def write_index(out: str, runs: Sequence[RunFiles], sections: Sequence[tuple[str, str]],
                notes: Sequence[str]) -> str:
    """sections: (heading, image file name in ``out``) in page order. Returns the path."""
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><title>mixer-vit plots</title>',
        "<style>body{font-family:sans-serif;margin:2em}img{max-width:100%}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
        "</style></head><body>",
        "<h1>Training runs</h1>",
        key_numbers_table(runs),
    ]
    if notes:
        parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    for heading, file_name in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts.append(f'<img src="{html.escape(file_name)}" alt="{html.escape(heading)}">')
    parts.append("</body></html>")
    path = os.path.join(out, INDEX_FILE)
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")
    return path
