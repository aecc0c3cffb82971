"""Hyperband on the embedded digits data set, end to end: two brackets over a space of
two candidates, so the second bracket draws both again; the one already trained to the
end reuses its record, the other continues its run from its rung-0 checkpoint."""

from __future__ import annotations

import json
import os

from test_search_digits import CONFIGS, run_search_command


def write_config(path, data_dir):
    path.write_text(f'''
import ml_collections

def get_config():
    c = ml_collections.ConfigDict()
    c.train = {os.path.join(CONFIGS, "digits_mixer.py:identity")!r}
    c.train_overrides = {{"data": {{"data_dir": {data_dir!r}}},
                          "train": {{"global_batch_size": 64, "log_every_steps": 10}},
                          "optim": {{"warmup": "1ep"}}}}
    c.space = {{"mixer": ("identity",), "depth": (1,), "width": (16,), "mlp_ratio": (1.0,),
               "patch_size": (2, 4)}}
    c.strategy = "hyperband"
    c.halving = {{"min_epochs": 1, "max_epochs": 2, "eta": 2}}
    c.budget = 2
    c.seed = 0
    return c
''')
    return str(path)


def read_metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_hyperband_brackets_reuse_and_continue_runs(digits_data_dir, tmp_path):
    from mixer_vit.search.history import read_history
    from mixer_vit.search.loop import total_trials
    from mixer_vit.search.settings import load_settings

    config = write_config(tmp_path / "hb.py", digits_data_dir)
    workdir = str(tmp_path / "work")
    assert run_search_command(config, workdir) == 0
    history = read_history(workdir)
    # s_max = 1: bracket 1 trains 2 candidates 1 epoch and continues the better to 2;
    # bracket 0 starts 2 candidates at 2 epochs: the same two, drawn again.
    assert total_trials(load_settings(config)) == len(history) == 5
    assert [(r["bracket"], r["rung"], r["epochs"], r["final"]) for r in history] == [
        (1, 0, 1, False), (1, 0, 1, False), (1, 1, 2, True), (0, 0, 2, True), (0, 0, 2, True)]
    first, last = history[:2], history[3:]
    assert len({r["name"] for r in first}) == 2 == len({r["name"] for r in last})
    winner = max(first, key=lambda r: (r["validation_accuracy"], -r["step"]))
    loser = next(r for r in first if r is not winner)
    assert history[2]["name"] == winner["name"]
    # the winner's second full run is its first: reused, not trained
    again = next(r for r in last if r["name"] == winner["name"])
    assert not again["trained"]
    assert (again["validation_accuracy"], again["test_accuracy"]) == (
        history[2]["validation_accuracy"], history[2]["test_accuracy"])
    # the loser continues its one run from the rung-0 checkpoint: steps go on, one
    # evaluation per epoch, the first epoch's the one bracket 1 judged it by
    continued = next(r for r in last if r["name"] == loser["name"])
    assert continued["trained"] and continued["test_accuracy"] is not None
    run = os.path.join(workdir, "candidates", loser["name"])
    assert any(n.startswith("config.resumed_") for n in os.listdir(run))
    rows = read_metrics(run)
    train_steps = [r["step"] for r in rows if r["split"] == "train"]
    val = [r for r in rows if r["split"] == "validation"]
    epoch = val[0]["step"]
    assert [r["step"] for r in val] == [epoch, 2 * epoch]
    assert train_steps == sorted(set(train_steps)) and train_steps[-1] == 2 * epoch
    assert any(epoch < step < 2 * epoch for step in train_steps)
    assert val[0]["accuracy"] == loser["validation_accuracy"]
    assert val[1]["accuracy"] == continued["validation_accuracy"]
    results = open(os.path.join(workdir, "results.md")).read()
    assert "## Brackets and rungs" in results
    assert "| 0 | 0 | 2 | 2/2 | 1 | " in results
