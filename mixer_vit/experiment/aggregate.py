"""Per-arm statistics over seeds, from run summaries only (rerunning it is free)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

# Summary fields aggregated as mean +- std over the seeds of an arm.
AGGREGATED = (
    "test_accuracy",
    "test_loss",
    "validation_accuracy",
    "train_img_per_s",
    "wall_time_s",
    "params",
    "gflops_per_image",
    "train_examples",
)


def mean_std(values: Iterable[float]) -> dict:
    """{"mean", "std", "n"}: std is the sample standard deviation (ddof=1), None for n < 2."""
    values = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if values.size == 0:
        return {"mean": None, "std": None, "n": 0}
    std = float(np.std(values, ddof=1)) if values.size > 1 else None
    return {"mean": float(np.mean(values)), "std": std, "n": int(values.size)}


def aggregate(
    summaries: Iterable[dict], arm_order: Iterable[str], metric_paths: Iterable[str] = ()
) -> dict[str, dict]:
    """arm -> {"seeds": [...], field: {"mean", "std", "n"} for each AGGREGATED field,
    "metrics": {path: {"mean", "std", "n"}} for each of ``metric_paths`` (dotted paths into
    the summaries' ``report``)}, arms in ``arm_order`` (arms without a finished run are left
    out)."""
    metric_paths = list(metric_paths)
    by_arm: dict[str, list[dict]] = {}
    for summary in summaries:
        by_arm.setdefault(summary["arm"], []).append(summary)
    table = {}
    for arm in arm_order:
        runs = sorted(by_arm.get(arm, []), key=lambda s: s["seed"])
        if not runs:
            continue
        table[arm] = {"seeds": [s["seed"] for s in runs]}
        for field in AGGREGATED:
            table[arm][field] = mean_std(s.get(field) for s in runs)
        table[arm]["metrics"] = {
            path: mean_std((s.get("report") or {}).get(path) for s in runs)
            for path in metric_paths
        }
    return table
