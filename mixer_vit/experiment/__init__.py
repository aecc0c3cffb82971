"""The experiment runner: an experiment file names a base config, its arms (config
overrides) and seeds; each arm x seed is an ordinary ``mixer-vit train`` run in its own
workdir; finished runs are summarised into ``experiments/results/NAME/`` and aggregated
into results.md, results.json and a plot. See docs/experiments.md."""

from mixer_vit.experiment.plan import PlannedRun, plan_runs
from mixer_vit.experiment.spec import ExperimentSpec, load_experiment

__all__ = ["ExperimentSpec", "PlannedRun", "load_experiment", "plan_runs"]
