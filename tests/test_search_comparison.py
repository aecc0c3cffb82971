"""``mixer-vit search CONFIG --compare DIRS --results OUT`` (mixer_vit/search/comparison.py):
the chosen candidate of each search, the per-strategy mean and std over seeds and the
best-so-far curves, checked against NumPy on fake searches; unfinished or foreign
searches refused with one-line errors."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from absl import flags

from mixer_vit.errors import UserError
from mixer_vit.search.comparison import best_so_far, evolution_claim_lines
from test_search_references import REFERENCES, FakeRun, write_fake_config

STRATEGIES = ("random_search", "regularized_evolution")


def _search(run: FakeRun, config: str, workdir: str, strategy: str, seed: int) -> None:
    from mixer_vit.search.command import define_flags, run_command

    fv = flags.FlagValues()
    define_flags(fv)
    fv(["search", f"--workdir={workdir}", f"--strategy={strategy}", f"--seed={seed}"])
    assert run_command(config, fv, evaluate=run.evaluate, measure_cost=run_cost,
                       train_reference=run.train_reference,
                       measure_reference=lambda ref: run_cost(ref.candidate)) == 0


def run_cost(candidate):
    from search_fakes import fake_cost

    return fake_cost(candidate)


def _compare(config: str, patterns: list[str], out: str) -> int:
    from mixer_vit.search.command import define_flags, run_command

    fv = flags.FlagValues()
    define_flags(fv)
    fv(["search", f"--compare={','.join(patterns)}", f"--results={out}"])
    return run_command(config, fv)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compare")
    config = write_fake_config(tmp / "search.py", REFERENCES)
    for strategy in STRATEGIES:
        for seed in (0, 1):
            _search(FakeRun(), config, str(tmp / "runs" / f"{strategy}_{seed}"), strategy, seed)
    out = str(tmp / "out")
    assert _compare(config, [str(tmp / "runs" / "*")], out) == 0
    with open(os.path.join(out, "results.json")) as f:
        results = json.load(f)
    return tmp, config, out, results


def _history(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def _chosen(history):
    """Independently: the best validation accuracy; ties to fewer GFLOPs, then earlier."""
    best = sorted(history, key=lambda r: (-r["validation_accuracy"], r["gflops"], r["step"]))
    return best[0]


def test_per_strategy_numbers_match_numpy(compared):
    tmp, _, _, results = compared
    for strategy in STRATEGIES:
        chosen = [_chosen(_history(tmp / "runs" / f"{strategy}_{seed}" / "history.jsonl"))
                  for seed in (0, 1)]
        row = results["strategies"][strategy]
        assert row["seeds"] == [0, 1]
        for key in ("validation_accuracy", "test_accuracy", "gflops"):
            values = np.array([c[key] for c in chosen])
            assert row[key]["mean"] == pytest.approx(values.mean(), abs=1e-12)
            assert row[key]["std"] == pytest.approx(values.std(ddof=1), abs=1e-12)
            assert row[key]["n"] == 2
        for seed, c in zip((0, 1), chosen):
            assert results["searches"][f"{strategy}_seed{seed}"]["chosen"] == c["name"]


def test_best_so_far_is_the_running_maximum_of_validation_accuracy(compared):
    tmp, _, _, results = compared
    history = _history(tmp / "runs" / "regularized_evolution_1" / "history.jsonl")
    expected = np.maximum.accumulate([r["validation_accuracy"] for r in history])
    curve = results["searches"]["regularized_evolution_seed1"]["best_so_far"]
    np.testing.assert_allclose(curve, expected, rtol=0, atol=0)
    half = results["strategies"]["regularized_evolution"]["half"]
    assert half == len(history) // 2


def test_best_so_far_waits_for_a_finished_schedule():
    history = [{"validation_accuracy": 0.5, "final": False},
               {"validation_accuracy": 0.7, "final": False},
               {"validation_accuracy": 0.6, "final": True},
               {"validation_accuracy": 0.9, "final": False},
               {"validation_accuracy": 0.65, "final": True}]
    assert best_so_far(history) == [0.5, 0.7, 0.6, 0.6, 0.65]


def test_the_comparison_folder_holds_each_search_and_the_plot(compared):
    tmp, _, out, _ = compared
    for strategy in STRATEGIES:
        for seed in (0, 1):
            copy = os.path.join(out, "searches", f"{strategy}_seed{seed}")
            assert _history(os.path.join(copy, "history.jsonl")) == _history(
                tmp / "runs" / f"{strategy}_{seed}" / "history.jsonl")
            for name in ("results.md", "pareto.png", "references.jsonl"):
                assert os.path.isfile(os.path.join(copy, name)), name
            assert os.listdir(os.path.join(copy, "best_configs"))
            assert not os.path.exists(os.path.join(copy, "candidates"))
    assert os.path.getsize(os.path.join(out, "best_so_far.png")) > 1000
    with open(os.path.join(out, "results.md")) as f:
        text = f.read()
    assert "| random_search | 0, 1 | 8 |" in text
    assert "**Claim** (Real et al. 2019" in text


def test_the_claim_verdict_and_the_seed_spread():
    def row(mean, std):
        return {"test_accuracy": {"mean": mean, "std": std, "n": 2}}

    held = evolution_claim_lines({"regularized_evolution": row(0.80, 0.01),
                                  "random_search": row(0.78, 0.005)})
    assert held[2].startswith("**Verdict: held.**") and "(+2.0 points)" in held[2]
    close = evolution_claim_lines({"regularized_evolution": row(0.80, 0.03),
                                   "random_search": row(0.79, 0.01)})
    assert close[2].startswith("**Verdict: did not hold (evolution ahead by 1.0 points, "
                               "within the seed spread of 3.0).**")
    behind = evolution_claim_lines({"regularized_evolution": row(0.785, 0.01),
                                    "random_search": row(0.79, 0.01)})
    assert behind[2].startswith("**Verdict: did not hold (evolution behind by 0.5 points, "
                                "within the seed spread of 1.0).**")
    lost = evolution_claim_lines({"regularized_evolution": row(0.70, 0.01),
                                  "random_search": row(0.79, 0.01)})
    assert lost[2].startswith("**Verdict: did not hold.**")
    assert evolution_claim_lines({"random_search": row(0.79, 0.01)}) == []


def test_an_unfinished_search_is_refused(compared):
    tmp, config, _, _ = compared
    cut = tmp / "cut"
    shutil.copytree(tmp / "runs" / "random_search_0", cut)
    with open(cut / "history.jsonl") as f:
        lines = f.readlines()
    with open(cut / "history.jsonl", "w") as f:
        f.writelines(lines[:3])
    with pytest.raises(UserError, match=r"has 3 of its 8 trials; finish it"):
        _compare(config, [str(cut)], str(tmp / "out_cut"))
    assert not os.path.exists(tmp / "out_cut")


def test_searches_of_another_config_and_bad_arguments_are_refused(compared, tmp_path):
    tmp, _, _, _ = compared
    other = write_fake_config(tmp_path / "other.py", REFERENCES)
    with open(other) as f:
        text = f.read()
    with open(other, "w") as f:
        f.write(text.replace("c.budget = 8", "c.budget = 9"))
    with pytest.raises(UserError, match="searched with other settings"):
        _compare(other, [str(tmp / "runs" / "random_search_0")], str(tmp_path / "o"))
    with pytest.raises(UserError, match="names no folder"):
        _compare(other, [str(tmp_path / "nothing*")], str(tmp_path / "o"))
    with pytest.raises(UserError, match="holds no search"):
        _compare(other, [str(tmp_path)], str(tmp_path / "o"))
