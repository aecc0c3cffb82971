"""The runner's report metrics and arm-to-arm workdir references: ``metrics`` columns
(mean +- std of test-report numbers, checked against NumPy), rules over ``ARM.PATH``, and
``"{workdir:ARM}"`` overrides (the named arm's same-seed workdir, trained first)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from experiment_fakes import (  # noqa: F401 - project is a fixture
    FakeTrain,
    fake_finished_workdir,
    one_error_line,
    project,
    run_cli,
    run_experiment,
    table_columns_agree,
    write_experiment,
)

from mixer_vit.experiment.plan import plan_runs
from mixer_vit.experiment.spec import load_experiment
from mixer_vit.experiment.verdict import evaluate_rule, rule_references

CALIBRATION = '''
import ml_collections

def get_config():
    c = ml_collections.ConfigDict()
    c.claim = "label smoothing lowers ECE"
    c.base_config = "digits_mixer.py:attention,num_heads=4"
    c.base_overrides = {"train": {"num_epochs": 1}}
    c.arms = {"plain": {}, "smooth": {"loss": {"label_smoothing": 0.1}}}
    c.seeds = 3
    c.metrics = (("calibration.ece", "ECE"), ("temperature", "T"))
    c.rule = "RULE"
    return c
'''


def ece_of(run) -> float:
    return {"plain": 0.10, "smooth": 0.04}[run.arm] + 0.01 * run.seed ** 2


class ReportingTrain(FakeTrain):
    """A fake train that leaves a nested test report: numbers, a list and text."""

    def __call__(self, run, log_path) -> int:
        status = super().__call__(run, log_path)
        report = {
            "accuracy": 0.8,
            "calibration": {"ece": ece_of(run), "bins": [1, 2, 3], "name": "15 bins"},
            "temperature": 1.5 + run.seed,
            "flag": True,
        }
        with open(os.path.join(run.workdir, "test_report.json"), "w") as f:
            json.dump(report, f)
        return status


def test_metric_columns_and_rules_over_report_numbers(project, capsys):
    rule = "smooth.calibration.ece < plain.calibration.ece and plain.temperature > 2"
    write_experiment(project, "calib", CALIBRATION.replace("RULE", rule))
    rc, _, err = run_experiment(["calib"], ReportingTrain(), capsys)
    assert rc == 0, err
    results_dir = project / "experiments" / "results" / "calib"
    summary = json.loads((results_dir / "runs" / "plain__seed_2.json").read_text())
    # Every number of the report, by dotted path; lists, text and booleans left out.
    assert summary["report"] == {"accuracy": 0.8, "calibration.ece": 0.14, "temperature": 3.5}
    results = json.loads((results_dir / "results.json").read_text())
    for arm in ("plain", "smooth"):
        eces = [{"plain": 0.10, "smooth": 0.04}[arm] + 0.01 * s ** 2 for s in range(3)]
        stats = results["table"][arm]["metrics"]["calibration.ece"]
        assert stats["mean"] == pytest.approx(np.mean(eces))
        assert stats["std"] == pytest.approx(np.std(eces, ddof=1)) and stats["n"] == 3
    assert results["verdict"].startswith("held")  # 0.0567 < 0.1167 and 2.5 > 2
    markdown = (results_dir / "results.md").read_text()
    assert "| test accuracy (%) | ECE | T |" in markdown
    assert "| 0.1167 ± 0.021 | 2.5 ± 1 |" in markdown  # plain: ECE, T
    assert table_columns_agree(markdown)

    write_experiment(project, "calib2", CALIBRATION.replace("RULE", "plain.temperature > 3"))
    rc, _, _ = run_experiment(["calib2"], ReportingTrain(), capsys)
    results = json.loads((project / "experiments/results/calib2/results.json").read_text())
    assert rc == 0 and results["verdict"] == "did not hold (rule: plain.temperature > 3)"


def test_rule_references_and_values():
    assert rule_references("a.x.y < a and b > 0.5 * a.x.y") == [("a", ""), ("a", "x.y"),
                                                                ("b", "")]
    means = {"a": 0.9, "a.x.y": 0.2, "b": 0.3}
    assert evaluate_rule("a.x.y < a and b > a.x.y", means)
    assert not evaluate_rule("a.x.y > b", means)
    # A path part that is a Python keyword.
    assert rule_references("a.open_set.global.f1 < a.x") == [("a", "open_set.global.f1"),
                                                             ("a", "x")]
    assert evaluate_rule("a.open_set.global.f1 < b", {"a.open_set.global.f1": 0.1, "b": 0.3})


@pytest.mark.parametrize(
    "rule, message",
    [
        ("plain.ece < 0.1", "rule 'plain.ece < 0.1' uses plain.ece, but 'ece' is not a key of "
                            "metrics; add it there (metrics: calibration.ece, temperature)"),
        ("(plain + smooth).temperature > 1", "is not ARM or ARM.METRIC"),
        ("nope.temperature > 1", "names unknown arm 'nope'"),
    ],
)
def test_rule_over_an_undeclared_metric_is_a_one_line_error(project, capsys, rule, message):
    write_experiment(project, "calib", CALIBRATION.replace("RULE", rule))
    rc, _, err = run_cli(["experiment", "calib", "--dry-run"], capsys)
    assert rc == 2 and message in one_error_line(err)


DISTILL = '''
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
    c.seeds = 2
    return c
'''


class OrderCheckingTrain(FakeTrain):
    """Records, for each student launch, whether its teacher workdir was finished."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.teacher_finished_at_launch = []

    def __call__(self, run, log_path) -> int:
        if run.arm == "student":
            teacher = run.overrides["distill.teacher_workdir"]
            self.teacher_finished_at_launch.append(
                os.path.isfile(os.path.join(teacher, "test_report.json"))
            )
        return super().__call__(run, log_path)


def test_workdir_reference_names_the_same_seed_and_trains_first(project, capsys):
    write_experiment(project, "distill", DISTILL)
    runs = plan_runs(load_experiment("distill"), 2, "root")
    assert [r.key for r in runs] == [  # (a ConfigDict sorts its keys: plain, student, teacher)
        "plain__seed_0", "plain__seed_1", "teacher__seed_0", "teacher__seed_1",
        "student__seed_0", "student__seed_1",
    ]
    student = runs[5]
    assert student.overrides["distill.teacher_workdir"] == os.path.join("root", "teacher",
                                                                        "seed_1")
    assert student.needs == (os.path.join("root", "teacher", "seed_1"),)
    assert "--config.distill.teacher_workdir=root/teacher/seed_1" in student.shell_line()

    fake = OrderCheckingTrain(seconds=0.5)
    rc, _, err = run_experiment(["distill", "--jobs", "3"], fake, capsys)
    assert rc == 0, err
    assert fake.teacher_finished_at_launch == [True, True]
    assert set(fake.launched[:4]) == {"plain__seed_0", "plain__seed_1", "teacher__seed_0",
                                      "teacher__seed_1"}


def test_student_of_a_failed_teacher_is_not_launched(project, capsys):
    write_experiment(project, "distill", DISTILL)
    fake = FakeTrain(fail_arm="teacher")
    rc, _, err = run_experiment(["distill"], fake, capsys)
    assert rc != 0
    assert not any(key.startswith("student") for key in fake.launched)
    assert "4 of 6 runs failed, first teacher__seed_0" in err  # its 2 students too


def test_finished_teacher_is_not_retrained_for_a_new_student(project, capsys):
    write_experiment(project, "distill", DISTILL)
    for run in plan_runs(load_experiment("distill"), 1, "workdirs/experiments/distill"):
        if run.arm == "teacher":
            fake_finished_workdir(run)
    fake = FakeTrain()
    rc, _, err = run_experiment(["distill", "--seeds", "1"], fake, capsys)
    assert rc == 0, err
    assert fake.launched == ["plain__seed_0", "student__seed_0"]


@pytest.mark.parametrize(
    "arms, message",
    [
        ('{"a": {"distill": {"teacher_workdir": "{workdir:b}"}}}',
         "arm a's distill.teacher_workdir names the workdir of unknown arm 'b'"),
        ('{"a": {"distill": {"teacher_workdir": "{workdir:b}"}},'
         ' "b": {"distill": {"teacher_workdir": "{workdir:a}"}}}',
         "arms name each other's workdirs (a -> b -> a)"),
    ],
)
def test_bad_workdir_references_are_one_line_errors(project, capsys, arms, message):
    body = DISTILL.split("c.arms = {")[0] + f"c.arms = {arms}\n    return c\n"
    write_experiment(project, "bad", body)
    rc, _, err = run_cli(["experiment", "bad", "--dry-run"], capsys)
    assert rc == 2 and message in one_error_line(err)


def test_workdir_reference_refuses_population_runs(project, capsys):
    write_experiment(project, "distill", DISTILL)
    rc, _, err = run_cli(["experiment", "distill", "--population", "--dry-run"], capsys)
    assert rc == 2
    assert "differs per seed; run it without --population" in one_error_line(err)


def test_population_refuses_an_arm_with_its_own_member_values(project, capsys):
    body = DISTILL.split("c.arms = {")[0] + (
        'c.arms = {"sweep": {"train": {"population_hparams": "optim.lr=0.1,0.2"}}}\n'
        "    return c\n"
    )
    write_experiment(project, "sweep", body)
    rc, _, err = run_cli(["experiment", "sweep", "--population", "--dry-run"], capsys)
    assert rc == 2 and "sets train.population_hparams" in one_error_line(err)
