"""Every experiment file committed in ``experiments/`` loads and plans.

``load_experiment`` checks each arm's overrides against its base config and the rule's arm
names against the arms, so a refactor of a shared config (a preset, the pixel statistics,
a renamed key) that breaks a committed experiment fails here, not hours into a run.
"""

import pytest

from mixer_vit.experiment.plan import plan_runs
from mixer_vit.experiment.spec import experiment_names, load_experiment
from mixer_vit.experiment.verdict import rule_names

COMMITTED = experiment_names()


def test_the_experiments_folder_is_found():
    assert {"baselines", "token_mixers", "early_convolutions"} <= set(COMMITTED)


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_experiment_loads_and_plans_every_arm_and_seed(name, tmp_path):
    spec = load_experiment(name)
    assert spec.arms, f"{name} has no arms"
    if spec.rule:  # a sweep without a claim has none
        assert set(rule_names(spec.rule)) <= set(spec.arms)
    runs = plan_runs(spec, seeds=spec.seeds, root=str(tmp_path))
    assert sorted((r.arm, r.seed) for r in runs) == sorted(
        (arm, seed) for arm in spec.arms for seed in range(spec.seeds)
    )
    assert len({r.workdir for r in runs}) == len(runs)
