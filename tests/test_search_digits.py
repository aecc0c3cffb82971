"""A tiny real search on the embedded digits data set, end to end: history, results.md,
pareto.png, and an exported config that `mixer-vit train` runs."""

from __future__ import annotations

import json
import os

import pytest
from absl import flags

from conftest import REPO

CONFIGS = os.path.join(REPO, "experiments", "configs")


def write_search_config(path, data_dir, strategy, budget, constraints=""):
    path.write_text(f'''
import ml_collections

def get_config():
    c = ml_collections.ConfigDict()
    c.train = {os.path.join(CONFIGS, "digits_mixer.py:identity")!r}
    c.train_overrides = {{"data": {{"data_dir": {data_dir!r}}},
                          "train": {{"global_batch_size": 64, "log_every_steps": 10}},
                          "optim": {{"warmup": "1ep"}}}}
    c.space = {{"mixer": ("attention", "pooling", "identity"), "depth": (1,), "width": (16, 32),
               "mlp_ratio": (1.0,), "patch_size": (2, 4), "heads": (2,)}}
    c.constraints = {{{constraints}}}
    c.strategy = {strategy!r}
    c.epochs = 1
    c.halving = {{"min_epochs": 1, "max_epochs": 2, "eta": 2}}
    c.budget = {budget}
    c.seed = 0
    return c
''')
    return str(path)


def run_search_command(config_path, workdir, **flag_values):
    from mixer_vit.search.command import define_flags, run_command

    fv = flags.FlagValues()
    define_flags(fv)
    fv(["search", f"--workdir={workdir}"] + [f"--{k}={v}" for k, v in flag_values.items()])
    return run_command(config_path, fv)


@pytest.fixture(scope="module")
def random_search(digits_data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("search")
    config = write_search_config(tmp / "search.py", digits_data_dir, "random_search", 2)
    workdir = str(tmp / "work")
    assert run_search_command(config, workdir) == 0
    return config, workdir


def test_random_search_writes_history_results_plot_and_configs(random_search):
    from mixer_vit.search.history import read_history
    from mixer_vit.train.loop import train_and_evaluate

    _, workdir = random_search
    history = read_history(workdir)
    assert [r["step"] for r in history] == [0, 1]
    for r in history:
        assert 0.0 <= r["validation_accuracy"] <= 1.0 and r["params"] > 0 and r["gflops"] > 0
        with open(os.path.join(workdir, "candidates", r["name"], "test_report.json")) as f:
            report = json.load(f)  # the candidate's own run, finished: its test accuracy
        assert r["test_accuracy"] == pytest.approx(report["top1"])
    results = open(os.path.join(workdir, "results.md")).read()
    assert "| rank | candidate |" in results and history[0]["name"] in results
    assert os.path.getsize(os.path.join(workdir, "pareto.png")) > 5000
    # the best exported config trains as an ordinary run and builds the same model
    best = max(history, key=lambda r: (r["validation_accuracy"], -r["gflops"], -r["step"]))
    exported = os.path.join(workdir, "best_configs", f"{best['name']}.py")
    assert f"mixer-vit train --config {exported}" in results
    from mixer_vit.config_file import load_config_file

    config = load_config_file(exported)
    assert config.model.overrides.embed_dim == best["candidate"]["width"]
    assert config.model.overrides.mixer == best["candidate"]["mixer"]
    config.train.num_epochs = 1
    result = train_and_evaluate(config, os.path.join(workdir, "retrain"))
    assert result["steps"] > 0


def test_rerunning_a_finished_search_trains_nothing_and_keeps_history(random_search):
    from mixer_vit.search.history import read_history

    config, workdir = random_search
    before = read_history(workdir)

    assert run_search_command(config, workdir) == 0
    assert read_history(workdir) == before
