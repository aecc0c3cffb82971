"""A workdir's ``metrics.jsonl`` as per-split curves.

Each line is ``{"step", "split", "time", <metric>: value, ...}`` (train/metrics_writer.py):
train rows carry loss, accuracy, lr, img_per_s, ...; evaluation rows (validation, test)
carry loss, accuracy, accuracy_top5, count.
"""

from __future__ import annotations

import json

import numpy as np

Curve = tuple[np.ndarray, np.ndarray]  # (steps int [T] increasing, values float [T])


def read_metrics(path: str) -> tuple[list[dict], int]:
    """The rows of a metrics.jsonl file, and the number of lines that were not JSON objects
    (a run killed while writing leaves a partial last line)."""
    rows, bad = [], 0
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if isinstance(row, dict) and "step" in row and "split" in row:
                rows.append(row)
            else:
                bad += 1
    return rows, bad


def curve_data(rows: list[dict]) -> dict[str, dict[str, Curve]]:
    """rows -> {split: {metric: (steps, values)}}, sorted by step. A step logged twice for
    the same split (a resumed run repeats the steps after its last checkpoint) keeps the
    row written last; metrics with non-numeric values and "time" are left out."""
    latest: dict[str, dict[int, dict]] = {}
    for row in rows:
        latest.setdefault(str(row["split"]), {})[int(row["step"])] = row
    curves: dict[str, dict[str, Curve]] = {}
    for split, by_step in latest.items():
        steps = sorted(by_step)
        metrics = sorted({k for s in steps for k in by_step[s]} - {"step", "split", "time"})
        for metric in metrics:
            points = [
                (s, by_step[s][metric]) for s in steps
                if isinstance(by_step[s].get(metric), (int, float))
                and not isinstance(by_step[s].get(metric), bool)
            ]
            if points:
                curves.setdefault(split, {})[metric] = (
                    np.array([p[0] for p in points], dtype=np.int64),
                    np.array([p[1] for p in points], dtype=np.float64),
                )
    return curves


def last_step(rows: list[dict]) -> int | None:
    """The highest step logged (None for no rows)."""
    return max((int(r["step"]) for r in rows), default=None)
