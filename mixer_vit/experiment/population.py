"""``--population``: the seeds of each arm trained as one population run
(``config.train.population``, docs/training.md) instead of one run per seed.

One ``mixer-vit train`` per arm, workdir ROOT/ARM/population, seed 0 and population N:
its member i is the run of seed i and writes its files into
``ROOT/ARM/population/members/seed_i`` (train/population_plan.py). Each member is then an
ordinary ``PlannedRun`` whose workdir is that folder, so summaries, skipping and
aggregation are the same as for separate runs.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
from typing import Any

from mixer_vit.errors import UserError
from mixer_vit.experiment import config_overrides
from mixer_vit.experiment.plan import PlannedRun
from mixer_vit.experiment.spec import ExperimentSpec, load_base_config, workdir_references
from mixer_vit.train.population_plan import member_workdir

POPULATION_KEY = "train.population"


@dataclasses.dataclass(frozen=True)
class PopulationRun:
    """One arm's seeds ``0..seeds-1`` as one train run."""

    arm: str
    seeds: int
    config: str
    overrides: dict[str, Any]
    workdir: str

    @property
    def key(self) -> str:
        return f"{self.arm}__population"

    @property
    def seed(self) -> int:
        """The population's config.seed: member i has seed ``seed + i``."""
        return 0

    @property
    def settings(self) -> dict[str, Any]:
        """The arm's overrides plus the population size (what its config.json must hold)."""
        return {**self.overrides, POPULATION_KEY: self.seeds}

    def train_arguments(self) -> list[str]:
        return [
            "--config",
            self.config,
            "--workdir",
            self.workdir,
            f"--config.seed={self.seed}",
            *config_overrides.as_flags(self.settings),
        ]

    def shell_line(self) -> str:
        return shlex.join(["mixer-vit", "train", *self.train_arguments()])

    def process_arguments(self) -> list[str]:
        return [sys.executable, "-m", "mixer_vit.cli", "train", *self.train_arguments()]

    def members(self) -> list[PlannedRun]:
        """The per-seed runs, their workdirs the member folders; their summaries name the
        population's command."""
        return [
            PlannedRun(
                arm=self.arm,
                seed=self.seed + i,
                config=self.config,
                overrides=dict(self.overrides),
                workdir=member_workdir(self.workdir, self.seed + i),
                command_line=self.shell_line(),
            )
            for i in range(self.seeds)
        ]

    @property
    def progress_workdir(self) -> str:
        """Where its progress is logged (its first member's metrics)."""
        return member_workdir(self.workdir, self.seed)


def plan_populations(spec: ExperimentSpec, seeds: int, root: str) -> list[PopulationRun]:
    """One population of ``seeds`` per arm, in the file's order; ``UserError`` when an arm's
    config has no ``train.population`` key."""
    populations = []
    for arm in spec.arms.values():
        if arm.overrides.get("train.population_hparams"):
            raise UserError(
                f"arm {arm.name} of experiment {spec.name} sets train.population_hparams; "
                f"--population makes its own members (one per seed): run it without "
                f"--population"
            )
        named = workdir_references(arm.overrides)
        if named:
            key, needed = next(iter(named.items()))
            raise UserError(
                f"arm {arm.name} of experiment {spec.name} sets {key} to the workdir of arm "
                f"{needed}, which differs per seed; run it without --population"
            )
        config_overrides.check_against(
            load_base_config(arm.config),
            {**arm.overrides, POPULATION_KEY: seeds},
            f"arm {arm.name} of experiment {spec.name} (--population)",
        )
        populations.append(
            PopulationRun(
                arm=arm.name,
                seeds=seeds,
                config=arm.config,
                overrides=dict(arm.overrides),
                workdir=os.path.join(root, arm.name, "population"),
            )
        )
    return populations
