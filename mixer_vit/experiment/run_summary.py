"""The small JSON summary of one finished run, written into the results folder as
``runs/ARM__seed_S.json`` as soon as the run lands (so committing the results folder keeps
the progress even when the workdirs are lost)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from mixer_vit.experiment.plan import PlannedRun
from mixer_vit.experiment.workdir_results import final_metrics


def summary_path(results_dir: str, run: PlannedRun) -> str:
    return os.path.join(results_dir, "runs", f"{run.key}.json")


def build_summary(
    experiment: str, run: PlannedRun, model_cost: Callable[[str], dict]
) -> dict:
    """experiment, arm, seed, config file and overrides, the train command line, final
    metrics, params/GFLOPs (``model_cost(workdir)``) and wall time."""
    return {
        "experiment": experiment,
        "arm": run.arm,
        "seed": run.seed,
        "config": run.config,
        "overrides": run.overrides,
        "command": run.command_line or run.shell_line(),
        **final_metrics(run.workdir),
        **_cost_or_reason(model_cost, run.workdir),
    }


def _cost_or_reason(model_cost: Callable[[str], dict], workdir: str) -> dict:
    """The model's params/GFLOPs, or None and the reason (the run's results still count)."""
    try:
        return model_cost(workdir)
    except Exception as e:  # noqa: BLE001 - any failure here must not lose a finished run
        reason = " ".join(f"{type(e).__name__}: {e}".split())[:300]
        return {"params": None, "gflops_per_image": None, "cost_error": reason}


def write_summary(results_dir: str, run: PlannedRun, summary: dict) -> str:
    path = summary_path(results_dir, run)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.tmp"
    with open(temporary, "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(temporary, path)
    return path


def read_summary(results_dir: str, run: PlannedRun) -> dict | None:
    path = summary_path(results_dir, run)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)
