"""``mixer-vit experiment NAME --population``: one train line per arm, and the same per-seed
summaries and results as separate runs (with a fake train launch that writes the member
folders a population run writes)."""

from __future__ import annotations

import json

from experiment_fakes import (  # noqa: F401 - the project fixture
    FakeTrain,
    fake_finished_workdir,
    project,
    run_cli,
    run_experiment,
)

from mixer_vit.experiment.population import PopulationRun
from mixer_vit.train.population_plan import member_workdir


class FakePopulationTrain:
    """Launches nothing: writes every member folder of the population as a finished run."""

    def __init__(self):
        self.launched = []

    def __call__(self, population, log_path) -> int:
        assert isinstance(population, PopulationRun)
        self.launched.append(population.key)
        for member in population.members():
            assert member.workdir == member_workdir(population.workdir, member.seed)
            fake_finished_workdir(member)
        return 0


def test_dry_run_population_prints_one_train_line_per_arm(project, capsys):
    rc, out, err = run_cli(["experiment", "toy", "--dry-run", "--population"], capsys)
    assert rc == 0, err
    common = "'--config.optim.lr_mults=head:10, pos_embed:0.1' --config.train.num_epochs=3"
    attention = "experiments/configs/digits_mixer.py:attention,num_heads=4"
    pooling = "experiments/configs/digits_mixer.py:pooling"
    root = "workdirs/experiments/toy"
    assert out.splitlines() == [
        f"mixer-vit train --config {attention} --workdir {root}/attention/population "
        f"--config.seed=0 {common} --config.train.population=2",
        f"mixer-vit train --config {pooling} --workdir {root}/pooling/population "
        f"--config.seed=0 {common} --config.optim.lr=0.002 --config.train.population=2",
    ]


def test_population_summaries_equal_separate_runs_summaries(project, capsys, tmp_path):
    fake = FakePopulationTrain()
    rc, _, err = run_experiment(["toy", "--population"], fake, capsys)
    assert rc == 0, err
    assert fake.launched == ["attention__population", "pooling__population"]
    results_dir = project / "experiments" / "results" / "toy"
    population_results = json.loads((results_dir / "results.json").read_text())
    summary = json.loads((results_dir / "runs" / "pooling__seed_1.json").read_text())
    assert summary["command"].endswith("--config.train.population=2")
    assert summary["wall_time_from"] == "runner launches"
    member = project / "workdirs/experiments/toy/pooling/population/members/seed_1"
    assert (member / "experiment_attempts.jsonl").exists()

    # The same experiment as separate runs (fake), in another results folder: equal table.
    rc, _, err = run_experiment(["toy", "--results", str(tmp_path / "separate"),
                                 "--root", str(tmp_path / "runs")], FakeTrain(), capsys)
    assert rc == 0, err
    separate = json.loads((tmp_path / "separate" / "results.json").read_text())
    for arm in ("attention", "pooling"):
        for key in ("test_accuracy", "params"):
            assert population_results["table"][arm][key] == separate["table"][arm][key]
    separate_summary = json.loads((tmp_path / "separate/runs/pooling__seed_1.json").read_text())
    for key in ("test_accuracy", "test_loss", "steps", "seed", "arm", "overrides", "params"):
        assert summary[key] == separate_summary[key], key

    # Rerun: every member has its summary, nothing is launched.
    again = FakePopulationTrain()
    rc, _, err = run_experiment(["toy", "--population"], again, capsys)
    assert rc == 0 and again.launched == [] and err.count(": skipped") == 4


def test_a_failed_population_fails_each_member(project, capsys):
    def fails(population, log_path):
        with open(log_path, "a") as f:
            f.write("error: out of memory\n")
        return 1

    rc, _, err = run_experiment(["toy", "--population"], fails, capsys)
    assert rc == 2
    assert "4 of 4 runs failed, first attention__seed_0: exit status 1" in err
    assert "out of memory" in err


def test_population_needs_the_config_key(project, capsys):
    digits = project / "experiments" / "configs" / "digits.py"
    digits.write_text(digits.read_text().replace("config.train.population = 0\n", ""))
    rc, _, err = run_cli(["experiment", "toy", "--dry-run", "--population"], capsys)
    assert rc == 2 and "unknown config key train.population" in err
