"""Fakes shared by the experiment-runner tests: a toy experiment, a project folder holding
it (the ``project`` fixture), a fake train launch that leaves a finished workdir, and the
helpers that run the command and read its one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest
from conftest import REPO

from mixer_vit import cli
from mixer_vit.experiment.command import define_flags, run_command, split_name

TOY = '''
import ml_collections

def get_config():
    c = ml_collections.ConfigDict()
    c.claim = "pooling is as good as attention"
    c.base_config = "digits_mixer.py:attention,num_heads=4"
    c.base_overrides = {"train": {"num_epochs": 3}, "optim": {"lr_mults": "head:10, pos_embed:0.1"}}
    c.arms = {"attention": {}, "pooling": {"config": "digits_mixer.py:pooling",
                                           "optim": {"lr": 0.002}}}
    c.seeds = 2
    c.published = dict(source="PoolFormer Table 5", values={"pooling": 77.2})
    c.rule = "pooling >= 0.95 * attention"
    return c
'''


@pytest.fixture
def project(tmp_path, monkeypatch, digits_data_dir):
    """A project directory with experiments/configs/ (the digits configs) and an
    experiments/toy.py; the current directory for the test. The default data dir is the
    session's, where digits are prepared."""
    monkeypatch.setenv("TFDS_DATA_DIR", digits_data_dir)
    configs = tmp_path / "experiments" / "configs"
    configs.mkdir(parents=True)
    for name in ("digits.py", "digits_mixer.py"):
        shutil.copy(os.path.join(REPO, "experiments", "configs", name), configs / name)
    (tmp_path / "experiments" / "toy.py").write_text(TOY)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_experiment(project, name, body):
    (project / "experiments" / f"{name}.py").write_text(body)


def run_cli(args, capsys):
    rc = cli.main(args)
    out, err = capsys.readouterr()
    return rc, out, err


# -- a fake train command --------------------------------------------------------------


DEFAULT_ACCURACY = 0.75  # of arms other than attention and pooling


def accuracy_of(run) -> float:
    """A made-up but deterministic test accuracy per arm and seed."""
    return {"attention": 0.90, "pooling": 0.88}.get(run.arm, DEFAULT_ACCURACY) + 0.01 * run.seed


def fake_finished_workdir(run) -> None:
    """The files a finished `mixer-vit train` run leaves in its workdir."""
    os.makedirs(run.workdir, exist_ok=True)
    config = {"seed": run.seed, "data": {"test_split": "test", "eval_split": "validation"}}
    for path, value in run.overrides.items():
        *parents, leaf = path.split(".")
        node = config
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    with open(os.path.join(run.workdir, "config.json"), "w") as f:
        json.dump(config, f)
    now = time.time()
    lines = [
        {"step": 5, "split": "train", "time": now, "loss": 2.0, "img_per_s": 100.0},
        {"step": 10, "split": "train", "time": now, "loss": 1.0, "img_per_s": 300.0},
        {"step": 15, "split": "train", "time": now, "loss": 0.5, "img_per_s": 200.0},
        {"step": 15, "split": "validation", "time": now, "accuracy": 0.5, "loss": 1.0},
        {"step": 15, "split": "test", "time": now, "accuracy": accuracy_of(run), "loss": 0.3,
         "count": 359},
    ]
    with open(os.path.join(run.workdir, "metrics.jsonl"), "w") as f:
        f.writelines(json.dumps(line) + "\n" for line in lines)
    with open(os.path.join(run.workdir, "test_report.json"), "w") as f:
        json.dump({"accuracy": accuracy_of(run)}, f)


class FakeTrain:
    """Launches nothing: logs a first step, waits ``seconds`` (so the runner's progress
    loop sees the run going), then leaves a finished workdir (or fails for ``fail_arm``)."""

    def __init__(self, fail_arm: str | None = None, seconds: float = 0.0):
        self.launched, self.fail_arm, self.seconds = [], fail_arm, seconds

    def __call__(self, run, log_path) -> int:
        self.launched.append(run.key)
        if run.arm == self.fail_arm:
            with open(log_path, "a") as f:
                f.write("error: data set sklearn_digits is missing\n")
            return 2
        with open(os.path.join(run.workdir, "metrics.jsonl"), "w") as f:
            f.write(json.dumps({"step": 5, "split": "train", "time": time.time()}) + "\n")
        time.sleep(self.seconds)
        fake_finished_workdir(run)
        return 0


def fake_cost(workdir):
    if "broken_cost" in workdir:
        raise FileNotFoundError("no checkpoint")
    return {"params": 1000 if "attention" in workdir else 500, "gflops_per_image": 0.25}


def table_columns_agree(markdown: str) -> bool:
    """The results table's header, separator and rows have the same number of cells."""
    rows = [line for line in markdown.splitlines() if line.startswith("| ") or
            line.startswith("|---")]
    return len({line.count("|") for line in rows}) == 1 and len(rows) >= 3


def untimed(arms):
    """Stands in for the inference timing (real timing: the tests that ask for it)."""
    return {"device": "none (tests)", "arms": {arm: {"error": "not timed"} for arm in arms}}


def run_experiment(args, launch, capsys, inference_speed=untimed):
    name, rest = split_name(args)
    fv = cli._parse(rest, define_flags)
    try:
        rc = run_command(name, fv, args, launch=launch, model_cost=fake_cost,
                         inference_speed=inference_speed)
    except ValueError as e:  # what cli.main turns into "error: ..." and status 2
        rc = 2
        print(f"error: {e}", file=__import__("sys").stderr)
    out, err = capsys.readouterr()
    return rc, out, err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]
