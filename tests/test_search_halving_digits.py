"""Successive halving on the embedded digits data set: the promoted candidate's run
resumes from its rung-0 checkpoint, and only the finished candidate reads the test set."""

from __future__ import annotations

import os

from test_search_digits import run_search_command, write_search_config


def test_successive_halving_resumes_candidates_from_checkpoints(digits_data_dir, tmp_path):
    from mixer_vit.search.history import read_history

    config = write_search_config(tmp_path / "sh.py", digits_data_dir, "random_search", 2,
                                  constraints='"max_params": 20000')
    workdir = str(tmp_path / "work")
    assert run_search_command(config, workdir, strategy="successive_halving") == 0
    history = read_history(workdir)
    assert [(r["rung"], r["epochs"], r["final"]) for r in history] == [
        (0, 1, False), (0, 1, False), (1, 2, True)]
    promoted = max(history[:2], key=lambda r: (r["validation_accuracy"], -r["step"]))
    assert history[2]["name"] == promoted["name"]
    assert history[0]["test_accuracy"] is None and history[2]["test_accuracy"] is not None
    run = os.path.join(workdir, "candidates", promoted["name"])
    # one run: config.json from rung 0, a resumed config from rung 1
    assert any(n.startswith("config.resumed_") for n in os.listdir(run))
    assert all(r["params"] <= 20000 for r in history)
