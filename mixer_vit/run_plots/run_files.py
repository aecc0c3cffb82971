"""The training workdirs to plot: checked, population workdirs expanded into their members,
each read once (metrics.jsonl, test_report.json, config.json) and given a short label."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Sequence

from mixer_vit.errors import UserError
from mixer_vit.run_plots.curve_data import read_metrics

MEMBERS_DIR = "members"  # train/population_plan.py: a population's members/seed_S folders


@dataclasses.dataclass
class RunFiles:
    """path: the workdir; label: its shortest distinguishing name (e.g. "digits",
    "seed_1"); rows: metrics.jsonl's rows; report: test_report.json (None before the run
    ended); config: config.json as a dict (None where missing); notes: what could not be
    read, one line each."""

    path: str
    label: str
    rows: list[dict]
    report: dict | None
    config: dict | None
    notes: list[str]

    @property
    def slug(self) -> str:
        """The label as a file-name part."""
        return re.sub(r"[^A-Za-z0-9._-]+", "_", self.label).strip("_") or "run"


def _member_workdirs(workdir: str) -> list[str]:
    members = os.path.join(workdir, MEMBERS_DIR)
    if not os.path.isdir(members):
        return []
    found = [
        os.path.join(members, name) for name in os.listdir(members)
        if os.path.isfile(os.path.join(members, name, "metrics.jsonl"))
    ]

    def seed_order(path: str):
        number = re.search(r"(\d+)$", path)
        return (int(number.group(1)) if number else -1, path)

    return sorted(found, key=seed_order)


def find_workdirs(workdirs: Sequence[str]) -> list[str]:
    """The run workdirs the arguments name: each one itself, or for a population workdir
    its members; duplicates dropped. Raises ``UserError`` for a path that does not exist
    or holds no metrics.jsonl."""
    if not workdirs:
        raise UserError("missing --workdir; e.g. mixer-vit plot --workdir workdirs/digits")
    found: list[str] = []
    for workdir in workdirs:
        if not os.path.isdir(workdir):
            raise UserError(
                f"--workdir {workdir} does not exist; pass the workdir of a `mixer-vit train` run"
            )
        if os.path.isfile(os.path.join(workdir, "metrics.jsonl")):
            runs = [workdir]
        else:
            runs = _member_workdirs(workdir)
        if not runs:
            raise UserError(
                f"--workdir {workdir} has no metrics.jsonl; pass the workdir of a "
                f"`mixer-vit train` run that has logged at least one step"
            )
        for run in runs:
            if os.path.realpath(run) not in {os.path.realpath(f) for f in found}:
                found.append(run)
    return found


def run_labels(paths: Sequence[str]) -> list[str]:
    """Each path's shortest trailing parts that no other path ends with ("members" folders
    left out): ["/a/run", "/b/run", "/b/other"] -> ["a/run", "b/run", "other"]."""
    parts = [
        [p for p in os.path.abspath(path).split(os.sep) if p and p != MEMBERS_DIR]
        for path in paths
    ]
    labels = []
    for i, own in enumerate(parts):
        others = [other for j, other in enumerate(parts) if j != i]
        n = 1
        while n < len(own) and any(other[-n:] == own[-n:] for other in others):
            n += 1
        labels.append("/".join(own[-n:]))
    return labels


def _read_json(path: str, notes: list[str]) -> dict | None:
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            value = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        notes.append(f"{path} is unreadable ({e.__class__.__name__}); left out")
        return None
    return value if isinstance(value, dict) else None


def read_run(path: str, label: str) -> RunFiles:
    notes: list[str] = []
    rows, bad = read_metrics(os.path.join(path, "metrics.jsonl"))
    if bad:
        notes.append(f"{label}: skipped {bad} unreadable line(s) of metrics.jsonl")
    report = _read_json(os.path.join(path, "test_report.json"), notes)
    config = _read_json(os.path.join(path, "config.json"), notes)
    return RunFiles(path, label, rows, report, config, notes)


def open_runs(workdirs: Sequence[str]) -> list[RunFiles]:
    """``find_workdirs`` + ``read_run`` for each, labelled by ``run_labels``."""
    paths = find_workdirs(workdirs)
    return [read_run(path, label) for path, label in zip(paths, run_labels(paths))]
