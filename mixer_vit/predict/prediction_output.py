"""How one image's top-k prediction is written: a text line or a JSON record."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def prediction_record(
    path: str, indices: Sequence[int], probabilities: Sequence[float], class_names: Sequence[str]
) -> dict[str, Any]:
    """``{"path", "top_k": [{"class", "index", "probability"}, ...]}``, most probable
    first (``indices`` / ``probabilities``: ``[k]`` as ``predictor.top_k`` gives them)."""
    return {
        "path": path,
        "top_k": [
            {"class": class_names[int(i)], "index": int(i), "probability": float(p)}
            for i, p in zip(indices, probabilities)
        ],
    }


def prediction_line(record: dict[str, Any]) -> str:
    """``PATH: name 0.9731, name 0.0123, ...`` (probabilities to 4 decimals)."""
    classes = ", ".join(f"{c['class']} {c['probability']:.4f}" for c in record["top_k"])
    return f"{record['path']}: {classes}"
