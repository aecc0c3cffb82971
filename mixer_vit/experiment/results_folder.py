"""The results folder of an experiment (default ``experiments/results/NAME/``) and the
guard that keeps one experiment from overwriting another's results.

The folder records which experiment it belongs to in ``experiment.json``; per-run summaries
(``runs/*.json``) record their experiment, arm and overrides. Before anything runs, a
folder of another experiment, or a summary made with other overrides than its arm now has,
stops the command with a one-line error and nothing written.
"""

from __future__ import annotations

import glob
import json
import os

from mixer_vit.errors import UserError
from mixer_vit.experiment.plan import PlannedRun
from mixer_vit.experiment.spec import ExperimentSpec, experiments_dir

MANIFEST = "experiment.json"


def default_results_dir(spec: ExperimentSpec) -> str:
    return os.path.join(experiments_dir(), "results", spec.name)


def _load(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        raise UserError(f"{path} is not readable JSON; move it away or delete it") from None


def _as_json(value):
    """``value`` as a summary holds it after the JSON round trip (tuples become lists)."""
    return json.loads(json.dumps(value))


def _owner(results_dir: str) -> str | None:
    """The experiment the folder's manifest, results.json or first run summary names."""
    for path in (os.path.join(results_dir, MANIFEST), os.path.join(results_dir, "results.json")):
        if os.path.isfile(path):
            return _load(path).get("experiment")
    for path in sorted(glob.glob(os.path.join(results_dir, "runs", "*.json"))):
        return _load(path).get("experiment")
    return None


def check_results_folder(results_dir: str, spec: ExperimentSpec, runs: list[PlannedRun]) -> None:
    """Raises ``UserError`` when ``results_dir`` holds another experiment's results, or a
    run summary whose config differs from what its arm now says."""
    owner = _owner(results_dir)
    if owner is not None and owner != spec.name:
        raise UserError(
            f"results folder {results_dir} holds results of experiment {owner!r}, not "
            f"{spec.name!r}; pass another --results folder (nothing was written)"
        )
    planned = {run.key: run for run in runs}
    for path in sorted(glob.glob(os.path.join(results_dir, "runs", "*.json"))):
        summary = _load(path)
        run = planned.get(os.path.basename(path)[:-5])
        if summary.get("experiment") != spec.name:
            raise UserError(
                f"{path} belongs to experiment {summary.get('experiment')!r}, not "
                f"{spec.name!r}; pass another --results folder (nothing was written)"
            )
        if run and (summary.get("config"), summary.get("overrides")) != (
            run.config,
            _as_json(run.overrides),
        ):
            raise UserError(
                f"{path} was made with other settings than arm {run.arm} now has; delete it "
                f"(and its workdir {run.workdir}) to rerun that run (nothing was written)"
            )


def write_manifest(results_dir: str, spec: ExperimentSpec) -> None:
    os.makedirs(results_dir, exist_ok=True)
    with open(os.path.join(results_dir, MANIFEST), "w") as f:
        json.dump({**spec.identity(), "file": spec.path}, f, indent=1, sort_keys=True)
        f.write("\n")
