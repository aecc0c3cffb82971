"""A tiny real staged search on the embedded digits data set (8x8 images, patch 2, two
stages): every candidate trains as an ordinary run of the hierarchical MetaFormer, the
results name the stages, an exported config builds the searched model, and a search
killed during its second trial resumes to the identical history."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from conftest import REPO
from test_search_digits import run_search_command

BASE = os.path.join(REPO, "experiments", "configs", "digits.py:poolformer")


def write_staged_config(path, data_dir):
    path.write_text(f'''
import ml_collections

def get_config():
    c = ml_collections.ConfigDict()
    c.train = {BASE!r}
    c.train_overrides = {{"data": {{"data_dir": {data_dir!r}}},
                          "train": {{"global_batch_size": 128, "log_every_steps": 10}},
                          "optim": {{"warmup": "1ep", "lr": 3e-3}}}}
    c.space = {{"stages": 2, "mixer": (("pooling", "identity"), ("attention", "pooling")),
               "depth": (1,), "width": ((8,), (16,)), "mlp_ratio": (1.0,),
               "patch_size": (2,), "heads": (2,)}}
    c.strategy = "random_search"
    c.epochs = 1
    c.budget = 2
    c.seed = 0
    return c
''')
    return str(path)


@pytest.fixture(scope="module")
def staged_searches(digits_data_dir, tmp_path_factory):
    """(config, the whole search's workdir, a copy killed before its second trial and
    resumed). A search writes a trial's record only once it has trained, so a search
    killed during its second trial's training is the whole one's folder with the first
    record and without the second candidate's run; resuming it retrains that run."""
    from mixer_vit.search.history import HISTORY_FILE, read_history

    tmp = tmp_path_factory.mktemp("staged")
    config = write_staged_config(tmp / "staged.py", digits_data_dir)
    whole, resumed = str(tmp / "whole"), str(tmp / "resumed")
    assert run_search_command(config, whole) == 0

    shutil.copytree(whole, resumed)
    first, second = read_history(whole)
    with open(os.path.join(resumed, HISTORY_FILE), "w") as f:
        f.write(json.dumps(first) + "\n")
    shutil.rmtree(os.path.join(resumed, "candidates", second["name"]))
    assert run_search_command(config, resumed) == 0
    return config, whole, resumed


def test_killed_staged_search_resumes_to_the_identical_history(staged_searches):
    from mixer_vit.search.history import read_history

    _, whole, resumed = staged_searches
    history = read_history(whole)
    assert [r["step"] for r in history] == [0, 1] and history[0]["name"] != history[1]["name"]
    assert read_history(resumed) == history


def test_staged_results_and_exported_config_build_the_searched_model(staged_searches):
    from mixer_vit.bench.flops import param_count
    from mixer_vit.config_file import load_config_file
    from mixer_vit.search.candidate_training import model_and_shape
    from mixer_vit.search.history import read_history

    _, whole, _ = staged_searches
    history = read_history(whole)
    for r in history:
        assert 0.0 <= r["validation_accuracy"] <= 1.0 and r["test_accuracy"] is not None
        assert r["name"].startswith("p2-") and len(r["candidate"]["stages"]) == 2
        assert os.path.isfile(os.path.join(whole, "candidates", r["name"], "test_report.json"))
    results = open(os.path.join(whole, "results.md")).read()
    assert "| rank | candidate | stages | patch | params |" in results
    best = max(history, key=lambda r: (r["validation_accuracy"], -r["gflops"], -r["step"]))
    config = load_config_file(os.path.join(whole, "best_configs", f"{best['name']}.py"))
    stages = best["candidate"]["stages"]
    assert tuple(config.model.overrides.stage_mixers) == tuple(b["mixer"] for b in stages)
    assert tuple(config.model.overrides.dims) == (8, 16)
    model, shape = model_and_shape(config)
    assert shape == (8, 8, 1) and param_count(model, shape) == best["params"]
