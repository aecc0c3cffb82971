"""The runs of an experiment (arm x seed) and the ``mixer-vit train`` command of each."""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
from typing import Any

from mixer_vit.experiment import config_overrides
from mixer_vit.experiment.spec import (
    ExperimentSpec,
    arms_in_run_order,
    workdir_references,
)


@dataclasses.dataclass(frozen=True)
class PlannedRun:
    """One arm x seed: an ordinary training run in its own workdir."""

    arm: str
    seed: int
    config: str  # FILE[:ARG], as `mixer-vit train --config` takes it
    overrides: dict[str, Any]
    workdir: str
    command_line: str = ""  # the command that trained it, when not its own (a population)
    needs: tuple[str, ...] = ()  # workdirs of runs that must finish first (its overrides name them)

    @property
    def key(self) -> str:
        """ARM__seed_S: the name of the run's summary file."""
        return f"{self.arm}__seed_{self.seed}"

    def train_arguments(self) -> list[str]:
        """The arguments after ``mixer-vit train``."""
        return [
            "--config",
            self.config,
            "--workdir",
            self.workdir,
            f"--config.seed={self.seed}",
            *config_overrides.as_flags(self.overrides),
        ]

    def shell_line(self) -> str:
        """One shell-quoted ``mixer-vit train ...`` line (for a cluster or by hand)."""
        return shlex.join(["mixer-vit", "train", *self.train_arguments()])

    def process_arguments(self) -> list[str]:
        """The same run as a process of this Python (no installed script needed)."""
        return [sys.executable, "-m", "mixer_vit.cli", "train", *self.train_arguments()]

    @property
    def settings(self) -> dict[str, Any]:
        """The config overrides its workdir's config.json must hold (besides the seed)."""
        return self.overrides

    @property
    def progress_workdir(self) -> str:
        """Where its progress is logged (metrics.jsonl)."""
        return self.workdir


def default_root(spec: ExperimentSpec) -> str:
    return os.path.join("workdirs", "experiments", spec.name)


def run_workdir(root: str, arm: str, seed: int) -> str:
    return os.path.join(root, arm, f"seed_{seed}")


def plan_runs(spec: ExperimentSpec, seeds: int, root: str) -> list[PlannedRun]:
    """Every arm x seed 0..seeds-1, arm by arm in the file's order (an arm whose workdir
    another names first); workdirs ROOT/ARM/seed_S; a ``"{workdir:ARM}"`` override value
    becomes ROOT/ARM/seed_S of the same seed."""
    runs = []
    for arm in arms_in_run_order(spec):
        references = workdir_references(arm.overrides)
        for seed in range(seeds):
            overrides = dict(arm.overrides)
            for key, needed in references.items():
                overrides[key] = run_workdir(root, needed, seed)
            runs.append(
                PlannedRun(
                    arm=arm.name,
                    seed=seed,
                    config=arm.config,
                    overrides=overrides,
                    workdir=run_workdir(root, arm.name, seed),
                    needs=tuple(run_workdir(root, n, seed) for n in references.values()),
                )
            )
    return runs
