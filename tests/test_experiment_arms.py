"""``mixer-vit experiment NAME --arms A,B``: only the chosen arms train (with the runs they
need), the report keeps every arm that has summaries, and bad selections are one-line
errors that write nothing."""

from __future__ import annotations

import json

import pytest
from experiment_fakes import (  # noqa: F401 - project is a fixture
    FakeTrain,
    one_error_line,
    project,
    run_cli,
    run_experiment,
    write_experiment,
)

from mixer_vit.experiment.arm_selection import chosen_arms

TEACHER_STUDENT = '''
import ml_collections

def get_config():
    c = ml_collections.ConfigDict()
    c.claim = "a teacher helps"
    c.base_config = "digits_mixer.py:attention,num_heads=4"
    c.arms = {
        "student": {"distill": {"teacher_workdir": "{workdir:teacher}", "alpha": 0.5}},
        "plain": {},
        "teacher": {"config": "digits_mixer.py:pooling"},
    }
    c.seeds = 1
    return c
'''


def test_dry_run_prints_only_the_chosen_arms(project, capsys):
    rc, out, err = run_cli(["experiment", "toy", "--dry-run", "--arms", "pooling"], capsys)
    assert rc == 0, err
    workdirs = [line.split()[5] for line in out.splitlines()]
    assert workdirs == [
        "workdirs/experiments/toy/pooling/seed_0",
        "workdirs/experiments/toy/pooling/seed_1",
    ]


def test_chosen_arms_train_and_the_report_keeps_the_others(project, capsys):
    results_dir = project / "experiments" / "results" / "toy"
    first = FakeTrain()
    rc, _, err = run_experiment(["toy", "--arms", "pooling"], first, capsys)
    assert rc == 0, err
    assert first.launched == ["pooling__seed_0", "pooling__seed_1"]
    results = json.loads((results_dir / "results.json").read_text())
    assert list(results["table"]) == ["pooling"]
    assert not results["verdict"].startswith("held")  # attention has no runs yet

    second = FakeTrain()
    rc, _, err = run_experiment(["toy", "--arms", "attention"], second, capsys)
    assert rc == 0, err
    assert second.launched == ["attention__seed_0", "attention__seed_1"]
    results = json.loads((results_dir / "results.json").read_text())
    assert list(results["table"]) == ["attention", "pooling"]  # the file's order
    assert results["table"]["pooling"]["test_accuracy"]["mean"] == pytest.approx(0.885)
    assert results["verdict"].startswith("held")  # 0.885 >= 0.95 * 0.905
    assert "| pooling |" in (results_dir / "results.md").read_text()


def test_a_chosen_student_brings_its_teacher(project, capsys):
    write_experiment(project, "distill", TEACHER_STUDENT)
    rc, out, err = run_cli(["experiment", "distill", "--dry-run", "--arms", "student"], capsys)
    assert rc == 0, err
    assert [line.split()[5] for line in out.splitlines()] == [
        "workdirs/experiments/distill/teacher/seed_0",
        "workdirs/experiments/distill/student/seed_0",
    ]
    fake = FakeTrain()
    rc, _, err = run_experiment(["distill", "--arms", "student"], fake, capsys)
    assert rc == 0, err
    assert fake.launched == ["teacher__seed_0", "student__seed_0"]


@pytest.mark.parametrize(
    "arms, message",
    [
        ("poolng", "--arms names unknown arm 'poolng'; this experiment's arms are: "
                   "attention, pooling"),
        (" , ", "--arms names no arm; give some of: attention, pooling"),
    ],
)
def test_bad_selections_are_one_line_errors_that_write_nothing(project, capsys, arms, message):
    for extra in (["--dry-run"], []):
        rc, out, err = run_cli(["experiment", "toy", "--arms", arms, *extra], capsys)
        assert rc == 2 and out == ""
        assert one_error_line(err) == f"error: {message}"
    assert not (project / "experiments" / "results").exists()
    assert not (project / "workdirs").exists()


def test_selection_keeps_the_file_order_and_drops_repeats():
    arms = ["a", "b", "c"]
    assert chosen_arms(arms, None) == arms
    assert chosen_arms(arms, "c,a,c") == ["a", "c"]


def test_population_dry_run_prints_the_chosen_arm_only(project, capsys):
    rc, out, err = run_cli(
        ["experiment", "toy", "--dry-run", "--population", "--arms", "attention"], capsys
    )
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == 1
    assert "--workdir workdirs/experiments/toy/attention/population" in lines[0]
    assert "--config.train.population=2" in lines[0]
