"""The experiment runner: planning and --dry-run lines, skipping finished runs, resuming a
killed run, aggregation over seeds, the report, and one-line errors for bad input.

Most tests inject a fake train launch that writes the files a finished ``mixer-vit train``
workdir holds; one test kills a real train process after a checkpoint and checks that the
rerun continues from it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest
from experiment_fakes import (  # noqa: F401 - project is a fixture
    DEFAULT_ACCURACY,
    TOY,
    FakeTrain,
    fake_finished_workdir,
    one_error_line,
    project,
    run_cli,
    run_experiment,
    table_columns_agree,
    write_experiment,
)

from mixer_vit import cli
from mixer_vit.errors import UserError
from mixer_vit.experiment import aggregate, execute
from mixer_vit.experiment.plan import plan_runs
from mixer_vit.experiment.spec import load_experiment
from mixer_vit.experiment.verdict import evaluate_rule, verdict_line


def test_dry_run_prints_one_shell_quoted_train_line_per_run(project, capsys):
    rc, out, err = run_cli(["experiment", "toy", "--dry-run", "--root", "runs dir"], capsys)
    assert rc == 0, err
    common = "'--config.optim.lr_mults=head:10, pos_embed:0.1' --config.train.num_epochs=3"
    attention = "experiments/configs/digits_mixer.py:attention,num_heads=4"
    pooling = "experiments/configs/digits_mixer.py:pooling"
    assert out.splitlines() == [
        f"mixer-vit train --config {attention} --workdir 'runs dir/attention/seed_0' "
        f"--config.seed=0 {common}",
        f"mixer-vit train --config {attention} --workdir 'runs dir/attention/seed_1' "
        f"--config.seed=1 {common}",
        f"mixer-vit train --config {pooling} --workdir 'runs dir/pooling/seed_0' "
        f"--config.seed=0 {common} --config.optim.lr=0.002",
        f"mixer-vit train --config {pooling} --workdir 'runs dir/pooling/seed_1' "
        f"--config.seed=1 {common} --config.optim.lr=0.002",
    ]
    assert not (project / "experiments" / "results").exists()
    rc, out, _ = run_cli(["experiment", "toy", "--dry-run", "--seeds", "1"], capsys)
    assert [line.split()[5] for line in out.splitlines()] == [
        "workdirs/experiments/toy/attention/seed_0",
        "workdirs/experiments/toy/pooling/seed_0",
    ]


def test_dry_run_lines_parse_back_into_the_arm_config(project, capsys):
    """The printed flags, parsed by the train command's own flag parser, give the config
    the arm asks for (quoting and value spelling survive the round trip)."""
    import shlex

    from ml_collections import config_flags

    run_cli(["experiment", "toy", "--dry-run", "--seeds", "1"], capsys)
    spec = load_experiment("toy")
    line = plan_runs(spec, 1, "w")[1].shell_line()
    args = shlex.split(line)[2:]

    def define(fv):
        config_flags.DEFINE_config_file("config", None, "", flag_values=fv)
        cli.flags.DEFINE_string("workdir", None, "", flag_values=fv)

    fv = cli._parse(args, define)
    assert fv.config.model.overrides.mixer == "pooling"
    assert fv.config.optim.lr == 0.002
    assert fv.config.optim.lr_mults == "head:10, pos_embed:0.1"
    assert fv.config.train.num_epochs == 3 and fv.config.seed == 0



def test_runs_write_summaries_and_results_then_are_skipped(project, capsys):
    fake = FakeTrain(seconds=1.5)
    rc, out, err = run_experiment(["toy", "--jobs", "2"], fake, capsys)
    assert rc == 0, err
    assert sorted(fake.launched) == [
        "attention__seed_0", "attention__seed_1", "pooling__seed_0", "pooling__seed_1"
    ]
    results_dir = project / "experiments" / "results" / "toy"
    summary = json.loads((results_dir / "runs" / "pooling__seed_1.json").read_text())
    assert summary["test_accuracy"] == pytest.approx(0.89)
    assert summary["train_img_per_s"] == 200.0  # median of the logged train windows
    assert summary["overrides"]["optim.lr"] == 0.002 and summary["seed"] == 1
    assert summary["params"] == 500 and summary["wall_time_from"] == "runner launches"
    results = json.loads((results_dir / "results.json").read_text())
    attention = results["table"]["attention"]["test_accuracy"]
    assert attention["mean"] == pytest.approx(np.mean([0.90, 0.91]))
    assert attention["std"] == pytest.approx(np.std([0.90, 0.91], ddof=1))
    assert results["verdict"].startswith("held")  # 0.885 >= 0.95 * 0.905
    markdown = (results_dir / "results.md").read_text()
    assert (
        "| pooling | config=experiments/configs/digits_mixer.py:pooling, optim.lr=0.002 | 2 |"
        " 88.50 ± 0.71 | 0.001M | 0.25 | 200 ± 0 |"
    ) in markdown
    assert "77.2" in markdown and "mixer-vit experiment toy --jobs 2" in markdown
    assert (results_dir / "accuracy.png").stat().st_size > 1000
    assert "pooling__seed_1: 0step" in err  # a progress line per run, from its start
    assert err.count("done, test accuracy") == 4

    # Rerun: every run has its summary, nothing is launched, the results are the same.
    again = FakeTrain()
    rc, _, err = run_experiment(["toy"], again, capsys)
    assert rc == 0 and again.launched == []
    assert err.count(": skipped") == 4
    assert json.loads((results_dir / "results.json").read_text())["table"] == results["table"]

    # A lost summary is rebuilt from its finished workdir, without training again.
    (results_dir / "runs" / "attention__seed_0.json").unlink()
    rc, _, err = run_experiment(["toy"], again, capsys)
    assert rc == 0 and again.launched == [] and "attention__seed_0: collected" in err
    assert (results_dir / "runs" / "attention__seed_0.json").exists()


def test_a_run_whose_model_cost_fails_still_counts(project, capsys):
    rc, _, err = run_experiment(["toy", "--seeds", "1", "--root", "broken_cost"], FakeTrain(),
                                capsys)
    assert rc == 0, err
    summary = json.loads(
        (project / "experiments/results/toy/runs/attention__seed_0.json").read_text())
    assert summary["params"] is None and summary["test_accuracy"] == pytest.approx(0.90)
    assert summary["cost_error"] == "FileNotFoundError: no checkpoint"
    markdown = (project / "experiments/results/toy/results.md").read_text()
    assert "| attention | config=experiments/configs/digits_mixer.py:attention,num_heads=4 | 1 |" \
        " 90.00 | - | - |" in markdown


def test_failed_runs_are_reported_and_finished_ones_kept(project, capsys):
    rc, _, err = run_experiment(["toy"], FakeTrain(fail_arm="pooling"), capsys)
    assert rc == 2
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "2 of 4 runs failed, first pooling__seed_0" in error_lines[0]
    assert "data set sklearn_digits is missing" in error_lines[0]
    results = json.loads((project / "experiments/results/toy/results.json").read_text())
    assert results["missing_runs"] == ["pooling__seed_0", "pooling__seed_1"]
    assert results["verdict"] == "not decided (no finished runs of pooling)"
    # The fixed rerun trains only the failed runs.
    fake = FakeTrain()
    assert run_experiment(["toy"], fake, capsys)[0] == 0
    assert fake.launched == ["pooling__seed_0", "pooling__seed_1"]


def test_interrupted_run_is_relaunched_in_its_workdir(project, capsys):
    """The rerun launches an unfinished run again in the same workdir, keeping what the
    killed launch left there (the train command resumes from it); fast twin of the slow
    test with a real train process below."""
    seen = []

    def killed_after_a_checkpoint_then_resumed(run, log_path):
        marker = os.path.join(run.workdir, "checkpoints", "10")
        seen.append((run.key, os.path.isdir(marker)))
        if not os.path.isdir(marker):
            os.makedirs(marker)
            return -9
        fake_finished_workdir(run)
        return 0

    rc, _, err = run_experiment(["toy", "--seeds", "1"], killed_after_a_checkpoint_then_resumed,
                                capsys)
    assert rc == 2 and "2 of 2 runs failed, first attention__seed_0: exit status -9" in err
    rc, _, err = run_experiment(["toy", "--seeds", "1"], killed_after_a_checkpoint_then_resumed,
                                capsys)
    assert rc == 0, err
    assert seen == [("attention__seed_0", False), ("pooling__seed_0", False),
                    ("attention__seed_0", True), ("pooling__seed_0", True)]
    attempts = (project / "workdirs/experiments/toy/pooling/seed_0/experiment_attempts.jsonl")
    assert [json.loads(a)["returncode"] for a in attempts.read_text().splitlines()] == [-9, 0]


# -- aggregation and the rule ------------------------------------------------------------


def test_aggregation_matches_numpy_on_fabricated_summaries():
    rng = np.random.default_rng(0)
    accuracies = {"a": rng.uniform(0.5, 1.0, size=5), "b": rng.uniform(0.5, 1.0, size=3),
                  "c": rng.uniform(0.5, 1.0, size=1)}
    summaries = [
        {"arm": arm, "seed": seed, "test_accuracy": float(acc), "wall_time_s": 10.0 * seed,
         "params": 7}
        for arm, values in accuracies.items()
        for seed, acc in enumerate(values)
    ]
    rng.shuffle(summaries)
    table = aggregate.aggregate(summaries, ["c", "a", "b", "never_ran"])
    assert list(table) == ["c", "a", "b"]
    for arm in ("a", "b"):
        row = table[arm]["test_accuracy"]
        assert row["mean"] == pytest.approx(np.mean(accuracies[arm]), abs=1e-12)
        assert row["std"] == pytest.approx(np.std(accuracies[arm], ddof=1), abs=1e-12)
        assert row["n"] == len(accuracies[arm])
    assert table["a"]["seeds"] == [0, 1, 2, 3, 4]
    assert table["c"]["test_accuracy"]["std"] is None  # one seed: no spread to report
    assert table["a"]["params"] == {"mean": 7.0, "std": 0.0, "n": 5}
    assert table["a"]["train_img_per_s"] == {"mean": None, "std": None, "n": 0}


def test_rule_verdicts():
    assert evaluate_rule("pooling >= 0.95 * attention", {"pooling": 0.9, "attention": 0.94})
    assert not evaluate_rule("pooling >= 0.95 * attention", {"pooling": 0.8, "attention": 0.94})
    assert evaluate_rule("0.92 * a <= b <= a and not b > 1", {"a": 0.9, "b": 0.85})
    assert verdict_line("", {}).startswith("not decided")
    assert verdict_line("a > b", {"a": 0.5, "b": 0.6}) == "did not hold (rule: a > b)"
    with pytest.raises(UserError, match="only arm names"):
        evaluate_rule("__import__('os')", {})


def test_plot_against_a_numeric_override_one_line_per_series(tmp_path):
    """plot_x / plot_series: each series' points sorted by x, error bars from the std."""
    import matplotlib.image

    from mixer_vit.experiment.plot import plot_results

    arms, table = {}, {}
    for family in ("vit", "resnet"):
        for fraction in (0.05, 1.0, 0.2):
            arm = f"{family}_{int(100 * fraction)}"
            arms[arm] = {"config": f"{family}.py", "overrides": {"data.fraction": fraction}}
            table[arm] = {"test_accuracy": {"mean": 0.5 + 0.4 * fraction, "std": 0.01, "n": 3}}
    results = {"experiment": "data_efficiency", "arms": arms, "table": table,
               "plot_x": "data.fraction", "plot_series": "config"}
    path = plot_results(results, str(tmp_path / "plot" / "accuracy.png"))
    assert matplotlib.image.imread(path).shape[2] in (3, 4)
    bars = plot_results({**results, "plot_x": "", "plot_series": ""}, str(tmp_path / "b.png"))
    assert os.path.getsize(bars) > 1000


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arms, message",
    [
        ('{"a": {"train": {"num_epoch": 3}}}', "arm a of experiment bad: unknown config key "
         "train.num_epoch"),
        ('{"a": {"modle": {"name": "vit_s16"}}}', "unknown config key modle.name"),
        ('{"a": {"optim.lr": 0.1}}', "key optim.lr contains one.; write nested dicts"),
        ('{"a": {"train": {"num_epochs": "many"}}}',
         "config key train.num_epochs cannot be 'many'"),
        ('{"bad-name": {}}', "arm name 'bad-name'"),
        ('{"a": {"config": "nowhere.py"}}', "config file 'nowhere.py' not found"),
    ],
)
def test_bad_arm_is_one_line_error_before_anything_runs(project, capsys, arms, message):
    write_experiment(project, "bad", TOY.replace(
        'c.arms = {"attention": {}, "pooling": {"config": "digits_mixer.py:pooling",\n'
        '                                           "optim": {"lr": 0.002}}}',
        f"c.arms = {arms}").replace('c.rule = "pooling >= 0.95 * attention"', "").replace(
        'values={"pooling": 77.2}', "values={}"))
    rc, out, err = run_cli(["experiment", "bad", "--dry-run"], capsys)
    assert rc == 2 and out == ""
    assert message in one_error_line(err)


def test_unknown_experiment_rule_arm_and_flags(project, capsys):
    rc, _, err = run_cli(["experiment", "nope"], capsys)
    assert rc == 2
    assert one_error_line(err) == (
        "error: unknown experiment 'nope' (no experiments/nope.py); experiments: toy"
    )
    write_experiment(project, "badrule", TOY.replace("0.95 * attention", "0.95 * atention"))
    rc, _, err = run_cli(["experiment", "badrule", "--dry-run"], capsys)
    assert rc == 2 and "rule 'pooling >= 0.95 * atention' names unknown arm 'atention'" in (
        one_error_line(err))
    rc, _, err = run_cli(["experiment", "toy", "--seeds", "0"], capsys)
    assert rc == 2 and "--seeds and --jobs must be >= 1" in one_error_line(err)
    rc, _, err = run_cli(["experiment", "--dry-run"], capsys)
    assert rc == 2 and "missing experiment NAME" in one_error_line(err)


def test_experiment_help_lists_its_flags(capsys):
    rc, out, _ = run_cli(["experiment", "--help"], capsys)
    assert rc == 0 and out.startswith("usage: mixer-vit experiment NAME ")
    listed = {line.split(":")[0].strip() for line in out.splitlines()[1:] if ": " in line}
    assert {"--seeds", "--jobs", "--[no]dry_run", "--root", "--results"} <= listed


def test_missing_data_set_is_one_line_error_before_any_run(project, tmp_path, capsys):
    empty = tmp_path / "empty_data_dir"
    empty.mkdir()
    write_experiment(project, "fashion", TOY.replace(
        '"train": {"num_epochs": 3}',
        f'"train": {{"num_epochs": 3}}, "data": {{"name": "fashion_mnist", "data_dir": "{empty}"}}'
    ))
    fake = FakeTrain()
    rc, _, err = run_experiment(["fashion"], fake, capsys)
    assert rc == 2 and fake.launched == []
    assert "Dataset 'fashion_mnist' is not prepared in" in one_error_line(err)
    assert "mixer-vit prepare fashion_mnist" in err
    assert not (project / "experiments" / "results" / "fashion").exists()


def folder_digest(path) -> dict:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*")) if p.is_file()
    }


def test_results_folder_of_another_experiment_is_not_overwritten(project, capsys):
    assert run_experiment(["toy", "--seeds", "1"], FakeTrain(), capsys)[0] == 0
    toy_results = project / "experiments" / "results" / "toy"
    before = folder_digest(toy_results)
    write_experiment(project, "other", TOY)
    fake = FakeTrain()
    rc, _, err = run_experiment(["other", "--results", str(toy_results)], fake, capsys)
    assert rc == 2 and fake.launched == []
    assert f"results folder {toy_results} holds results of experiment 'toy', not 'other'" in (
        one_error_line(err))
    assert folder_digest(toy_results) == before

    # The same experiment with an arm changed under finished results: refused, not mixed.
    write_experiment(project, "toy", TOY.replace('"lr": 0.002', '"lr": 0.003'))
    rc, _, err = run_experiment(["toy", "--seeds", "1"], fake, capsys)
    assert rc == 2 and fake.launched == []
    assert "runs/pooling__seed_0.json was made with other settings than arm pooling" in (
        one_error_line(err))
    assert folder_digest(toy_results) == before


def test_workdir_started_with_other_settings_is_not_resumed(project, capsys):
    assert run_experiment(["toy", "--seeds", "1"], FakeTrain(), capsys)[0] == 0
    shutil.rmtree(project / "experiments" / "results")
    write_experiment(project, "toy", TOY.replace('"lr": 0.002', '"lr": 0.003'))
    fake = FakeTrain()
    rc, _, err = run_experiment(["toy", "--seeds", "1"], fake, capsys)
    assert rc == 2 and fake.launched == []
    assert one_error_line(err) == (
        "error: workdir workdirs/experiments/toy/pooling/seed_0 was started with "
        "optim.lr=0.002 (now 0.003); delete it or pass another --root (nothing was run)"
    )


# -- a real train process, killed after a checkpoint ---------------------------------------


@pytest.mark.slow  # two train processes: ~25 s on an idle 2-core machine
def test_killed_run_resumes_from_its_checkpoint(project, digits_data_dir, capsys):
    """SIGKILL the train process once checkpoint 10 is on disk; the rerun of the experiment
    continues from it (no step logged twice) and finishes the run."""
    write_experiment(project, "tiny", f'''
def get_config():
    return dict(
        claim="a tiny run", base_config="digits.py", seeds=1, arms={{"vit": {{}}}},
        base_overrides={{
            "data.data_dir": {digits_data_dir!r},
            "model.overrides": {{"embed_dim": 32, "depth": 1, "mlp_ratio": 2.0,
                                "mixer_kwargs.num_heads": 2}},
            "train": {{"num_epochs": 2, "global_batch_size": 32, "log_every_steps": 5,
                      "checkpoint_every_steps": 10}},
            "optim.warmup": "1ep",
        }},
    )
''')
    run = plan_runs(load_experiment("tiny"), 1, "wd")[0]

    def launch_and_kill(run, log_path):
        with open(log_path, "a") as log:
            child = subprocess.Popen(run.process_arguments(), stdout=log, stderr=log)
        checkpoint = os.path.join(run.workdir, "checkpoints", "10")
        deadline = time.time() + 240
        while not os.path.isdir(checkpoint) and child.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        return child.wait()

    rc, _, err = run_experiment(["tiny", "--root", "wd"], launch_and_kill, capsys)
    assert rc == 2 and "1 of 1 runs failed" in err
    steps_before = [json.loads(line)["step"] for line in open(f"{run.workdir}/metrics.jsonl")]
    assert 10 <= max(steps_before) < 78

    rc, _, err = run_experiment(["tiny", "--root", "wd"], execute.launch_train_process, capsys)
    assert rc == 0, err
    log = open(os.path.join(run.workdir, "train.log")).read()
    assert "resumed from step" in log
    resumed_from = int(log.split("resumed from step ")[1].split()[0])
    assert resumed_from >= 10
    train_steps = [
        json.loads(line)["step"] for line in open(f"{run.workdir}/metrics.jsonl")
        if json.loads(line)["split"] == "train"
    ]
    assert train_steps.count(5) == 1  # the first steps were not trained again
    assert max(train_steps) == 78
    summary = json.loads(open("experiments/results/tiny/runs/vit__seed_0.json").read())
    assert summary["steps"] == 78 and 0.0 <= summary["test_accuracy"] <= 1.0
    attempts = open(os.path.join(run.workdir, "experiment_attempts.jsonl")).read().splitlines()
    assert [json.loads(a)["returncode"] for a in attempts] == [-9, 0]
    assert summary["wall_time_s"] == pytest.approx(
        sum(json.loads(a)["seconds"] for a in attempts))


# -- report-time measurements: inference img/s and training-set size -----------------------


def test_inference_img_per_s_is_measured_per_arm_and_skippable(project, capsys):
    """The default timing (a child process, real models) gives every arm a positive img/s
    at the eval batch size; the column and the accuracy-vs-throughput plot appear; with
    --noinference_timing neither does and nothing is timed."""
    from mixer_vit.experiment.inference_speed import measure_in_child

    rc, _, err = run_experiment(["toy", "--seeds", "1"], FakeTrain(), capsys,
                                inference_speed=lambda arms: measure_in_child(arms, seconds=0.1))
    assert rc == 0, err
    results_dir = project / "experiments" / "results" / "toy"
    results = json.loads((results_dir / "results.json").read_text())
    inference = results["inference"]
    assert inference["device"].startswith(f"{__import__('jax').device_count()} x ")
    for arm in ("attention", "pooling"):
        row = inference["arms"][arm]
        assert row["img_per_s"] > 0 and row["img_per_s_min"] <= row["img_per_s"]
        assert (row["batch_size"], row["dtype"], row["image_shape"]) == (64, "float32", [8, 8, 1])
        assert 3 <= row["repeats"] <= 20
    markdown = (results_dir / "results.md").read_text()
    assert "| train img/s | inference img/s | wall time (s) |" in markdown
    assert table_columns_agree(markdown)
    rate = round(inference["arms"]["pooling"]["img_per_s"])
    assert f"| 0.25 | 200 | {rate} |" in markdown  # one seed: no spread
    assert "![test accuracy against inference img/s](accuracy_vs_throughput.png)" in markdown
    assert (results_dir / "accuracy_vs_throughput.png").stat().st_size > 1000
    # The toy arms read all of sklearn_digits' train split: 1258 of its 1797 images.
    assert results["table"]["attention"]["train_examples"]["mean"] == 1258

    (results_dir / "accuracy_vs_throughput.png").unlink()
    timed = []
    rc, _, err = run_experiment(["toy", "--seeds", "1", "--noinference_timing"], FakeTrain(),
                                capsys, inference_speed=lambda arms: timed.append(arms))
    assert rc == 0 and timed == []
    results = json.loads((results_dir / "results.json").read_text())
    markdown = (results_dir / "results.md").read_text()
    assert results["inference"] is None and "accuracy_vs_throughput" not in markdown
    assert "Inference img/s: not measured" in markdown
    assert not (results_dir / "accuracy_vs_throughput.png").exists()


DATA_EFFICIENCY = '''
def get_config():
    return dict(
        claim="more data helps", base_config="digits_mixer.py:attention,num_heads=4", seeds=1,
        base_overrides={"data": {"name": "sklearn_digits"}},
        arms={
            "attention_50pct": {"series": "attention", "data.train_split": "train[:50%]"},
            "attention_full": {"series": "attention"},
            "pooling_50pct": {"config": "digits_mixer.py:pooling", "series": "pooling",
                              "data.train_split": "train[:50%]"},
        },
        plot_x="train_examples", plot_series="series",
    )
'''


def test_train_examples_recorded_per_run_and_plotted_per_series(project, capsys):
    """Each summary records the examples its split holds (TFDS's count of the split
    expression: half of digits' 1258 training images is 629); plot_x train_examples draws
    one line per series label on a log axis."""
    from mixer_vit.experiment.plot import series_points, x_scale

    write_experiment(project, "data_eff", DATA_EFFICIENCY)
    spec = load_experiment("data_eff")
    assert spec.arms["pooling_50pct"].series == "pooling"
    assert "series" not in spec.arms["pooling_50pct"].overrides  # a label, not a flag
    rc, out, _ = run_cli(["experiment", "data_eff", "--dry-run"], capsys)
    assert rc == 0 and "series" not in out
    rc, _, err = run_experiment(["data_eff"], FakeTrain(), capsys)
    assert rc == 0, err
    results_dir = project / "experiments" / "results" / "data_eff"
    runs = results_dir / "runs"
    assert json.loads((runs / "attention_50pct__seed_0.json").read_text())["train_examples"] == 629
    assert json.loads((runs / "attention_full__seed_0.json").read_text())["train_examples"] == 1258
    results = json.loads((results_dir / "results.json").read_text())
    assert results["arms"]["pooling_50pct"]["series"] == "pooling"
    accuracy = 100 * DEFAULT_ACCURACY
    assert series_points(results) == {
        "attention": [(629.0, accuracy, 0.0), (1258.0, accuracy, 0.0)],
        "pooling": [(629.0, accuracy, 0.0)],
    }
    assert x_scale(results) == "log"
    assert (results_dir / "accuracy.png").stat().st_size > 1000
    markdown = (results_dir / "results.md").read_text()
    assert "| inference img/s | train examples | wall time (s) |" in markdown
    assert table_columns_agree(markdown)
    assert "| 629 |" in markdown and "| 1258 |" in markdown


@pytest.mark.parametrize(
    "plot, message",
    [
        ('plot_x="train_example"', "plot key 'train_example' is not an override of any arm"),
        ('plot_x="series"', "plot key 'series' is not an override of any arm"),
        ('plot_x="train_examples", plot_series="series"',
         "plot_series is 'series' but no arm has a series label"),
    ],
)
def test_bad_plot_keys_are_one_line_errors(project, capsys, plot, message):
    write_experiment(project, "badplot", DATA_EFFICIENCY.replace(
        'plot_x="train_examples", plot_series="series"', plot).replace(
        '"series": "attention", ', "").replace('"series": "attention"', "").replace(
        '"series": "pooling",', ""))
    rc, out, err = run_cli(["experiment", "badplot", "--dry-run"], capsys)
    assert rc == 2 and out == "" and message in one_error_line(err)


def test_rewriting_the_report_keeps_the_machine_the_runs_trained_on(project, capsys):
    assert run_experiment(["toy", "--seeds", "1"], FakeTrain(), capsys)[0] == 0
    path = project / "experiments" / "results" / "toy" / "results.json"
    results = json.loads(path.read_text())
    results["machine"]["cpu"] = "The Training CPU"
    path.write_text(json.dumps(results))
    assert run_experiment(["toy", "--seeds", "1"], FakeTrain(), capsys)[0] == 0  # all skipped
    assert json.loads(path.read_text())["machine"]["cpu"] == "The Training CPU"
    assert "Machine (training runs): The Training CPU, " in (path.parent / "results.md").read_text()
    (path.parent / "runs" / "pooling__seed_0.json").unlink()  # collected here: this machine
    assert run_experiment(["toy", "--seeds", "1"], FakeTrain(), capsys)[0] == 0
    assert json.loads(path.read_text())["machine"]["cpu"] != "The Training CPU"


def test_arm_with_a_tuple_override_is_skipped_once_finished(project, capsys):
    """A summary stores a tuple override as a JSON list; the rerun still recognises it as
    the same arm and skips the run instead of refusing the results folder."""
    (project / "experiments" / "configs" / "with_tuple.py").write_text(
        "import os\n"
        "from mixer_vit.config_file import load_config_file\n"
        "def get_config(arg=None):\n"
        "    here = os.path.dirname(os.path.abspath(__file__))\n"
        "    c = load_config_file(os.path.join(here, 'digits_mixer.py') + ':pooling')\n"
        "    c.model.overrides.pool_sizes = (3, 3)\n"
        "    return c\n"
    )
    write_experiment(project, "toy", TOY.replace(
        '"config": "digits_mixer.py:pooling"',
        '"config": "with_tuple.py", "model": {"overrides": {"pool_sizes": (3, 5)}}'))
    rc, _, err = run_experiment(["toy", "--seeds", "1"], FakeTrain(), capsys)
    assert rc == 0, err
    summary = project / "experiments" / "results" / "toy" / "runs" / "pooling__seed_0.json"
    assert json.loads(summary.read_text())["overrides"]["model.overrides.pool_sizes"] == [3, 5]
    again = FakeTrain()
    rc, _, err = run_experiment(["toy", "--seeds", "1"], again, capsys)
    assert rc == 0, err
    assert again.launched == [] and err.count(": skipped") == 2
