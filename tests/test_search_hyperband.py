"""Hyperband on synthetic fitness (nothing trains): the bracket schedule against numbers
derived by hand from the paper's formulas, promotion of exactly the top floor(n / eta)
of every rung (against a NumPy ranking), exact total_trials, redrawn candidates, resuming
a killed search, the bad configs, and results.md's bracket table."""

from __future__ import annotations

import numpy as np
import pytest

from mixer_vit.errors import UserError
from mixer_vit.search.candidate_training import candidate_overrides
from mixer_vit.search.loop import run_search, total_trials
from mixer_vit.search.rungs_table import rung_lines
from mixer_vit.search.strategies.hyperband import hyperband_brackets, max_bracket
from mixer_vit.search.strategies.successive_halving import next_in_bracket
from search_fakes import SPACE, Killed, fake_cost, fake_fitness, settings

# Hand derivation (Li et al. 2018, Algorithm 1), R = max / min, s_max = floor(log_eta R),
# n_s = ceil((s_max + 1) / (s + 1) * eta^s), rung i of bracket s: floor(n_s / eta^i)
# candidates at r_s * eta^i = max * eta^(i - s) epochs (budget = eta^s_max: the paper's).
#
# min 1, max 9, eta 3: R = 9, s_max = 2.
#   s = 2: n = ceil(3/3 * 9) = 9 at 9/9 = 1 epoch; then floor(9/3) = 3 at 3, 1 at 9.
#   s = 1: n = ceil(3/2 * 3) = ceil(4.5) = 5 at 9/3 = 3 epochs; then floor(5/3) = 1 at 9.
#   s = 0: n = ceil(3/1 * 1) = 3 at 9 epochs.            trials: 13 + 6 + 3 = 22.
# min 1, max 4, eta 2: R = 4, s_max = 2.
#   s = 2: n = ceil(3/3 * 4) = 4 at 1 epoch; 2 at 2; 1 at 4.
#   s = 1: n = ceil(3/2 * 2) = 3 at 2 epochs; floor(3/2) = 1 at 4.
#   s = 0: n = ceil(3/1 * 1) = 3 at 4 epochs.            trials: 7 + 4 + 3 = 14.
SCHEDULE_1_9_3 = [(2, [1, 3, 9], [9, 3, 1]), (1, [3, 9], [5, 1]), (0, [9], [3])]
SCHEDULE_1_4_2 = [(2, [1, 2, 4], [4, 2, 1]), (1, [2, 4], [3, 1]), (0, [4], [3])]


def test_bracket_schedule_matches_the_paper():
    assert max_bracket(1, 9, 3) == 2 and max_bracket(1, 4, 2) == 2
    assert hyperband_brackets(1, 9, 3, budget=9) == SCHEDULE_1_9_3
    assert hyperband_brackets(1, 4, 2, budget=4) == SCHEDULE_1_4_2
    # the paper's Table 1 (R = 81, eta = 3): n_i per bracket s = 4 .. 0
    assert [sizes for _, _, sizes in hyperband_brackets(1, 81, 3, 81)] == [
        [81, 27, 9, 3, 1], [34, 11, 3, 1], [15, 5, 1], [8, 2], [5]]
    # max / min not a power of eta: R = 10, s_max = 2; epochs floor(10 / 3^k): 1, 3, 10
    assert hyperband_brackets(1, 10, 3, 9) == [
        (2, [1, 3, 10], [9, 3, 1]), (1, [3, 10], [5, 1]), (0, [10], [3])]
    # min 2, max 9, eta 3: R = 4.5, s_max = 1; 9 // 3 = 3 >= min; n_1 = ceil(2/2 * 3) = 3
    assert hyperband_brackets(2, 9, 3, 3) == [(1, [3, 9], [3, 1]), (0, [9], [2])]
    # budget 12 = 3 x eta^s_max scales n_s: ceil(12 * 3 * 2^s / ((s + 1) * 4)) = 12, 9, 9
    assert hyperband_brackets(1, 4, 2, 12) == [
        (2, [1, 2, 4], [12, 6, 3]), (1, [2, 4], [9, 4]), (0, [4], [9])]
    # max < min * eta: s_max = 0, one bracket of full runs
    assert hyperband_brackets(3, 5, 2, 1) == [(0, [5], [1])]


@pytest.mark.parametrize("low, high, eta, budget, eval_every", [
    (1, 10, 3, 9, 1), (3, 9, 3, 3, 3), (2, 8, 2, 4, 2), (3, 12, 2, 4, 3)])
def test_runs_evaluate_at_every_rung_of_every_bracket(low, high, eta, budget, eval_every):
    s = settings(strategy="hyperband", min_epochs=low, max_epochs=high, eta=eta, budget=budget)
    overrides = candidate_overrides(s, {"mixer": "identity", "depth": 1, "width": 16,
                                        "mlp_ratio": 1.0, "patch_size": 2, "heads": None})
    assert overrides["train.num_epochs"] == high
    assert overrides["train.eval_every_epochs"] == eval_every
    assert all(e % eval_every == 0 for _, epochs, _ in hyperband_brackets(low, high, eta, budget)
               for e in epochs)


def val_of(candidate, epochs) -> float:
    """Validation accuracy: the fake fitness, deeper models slower to learn (so rankings
    change between rungs); patch size and heads play no part (ties: the earlier trial)."""
    return round(fake_fitness(candidate) - 0.06 * candidate["depth"] / epochs, 6)


def evaluate(trial, name):
    val = val_of(trial.candidate, trial.epochs)
    return {"validation_accuracy": val, "test_accuracy": val - 0.01 if trial.final else None}


def run(tmp_path, name="run", **changes):
    s = settings(**{"strategy": "hyperband", "min_epochs": 1, "max_epochs": 9, "eta": 3,
                    "budget": 9, **changes})
    return s, run_search(s, str(tmp_path / name), evaluate, fake_cost)


def test_every_rung_keeps_the_top_by_validation(tmp_path):
    s, history = run(tmp_path)
    assert total_trials(s) == len(history) == 22
    assert [(r["bracket"], r["rung"], r["epochs"]) for r in history] == [
        (b, i, epochs[i]) for b, epochs, sizes in SCHEDULE_1_9_3
        for i in range(len(sizes)) for _ in range(sizes[i])]
    for bracket, epochs, sizes in SCHEDULE_1_9_3:
        rungs = [[r for r in history if r["bracket"] == bracket and r["rung"] == i]
                 for i in range(len(sizes))]
        assert all(r["origin"] == {"kind": "random"} for r in rungs[0])
        for below, above in zip(rungs, rungs[1:]):
            vals = np.array([r["validation_accuracy"] for r in below])
            top = np.argsort(-vals, kind="stable")[:len(below) // 3]
            assert [r["name"] for r in above] == [below[i]["name"] for i in top]
            assert [r["origin"]["from_step"] for r in above] == [below[i]["step"] for i in top]
        for i, rung in enumerate(rungs):
            last = i == len(sizes) - 1
            assert all(r["final"] == last and (r["test_accuracy"] is not None) == last
                       for r in rung)
            assert all(r["validation_accuracy"] == pytest.approx(
                val_of(r["candidate"], r["epochs"])) for r in rung)
    ties = [r for r in history if r["rung"] == 0 and r["bracket"] == 2]
    assert len({r["validation_accuracy"] for r in ties}) < len(ties)  # the tie rule ran
    # every bracket starts candidates no earlier bracket drew (the space has enough)
    firsts = [r["name"] for r in history if r["rung"] == 0]
    assert len(firsts) == len(set(firsts)) == 9 + 5 + 3
    assert all(r["trained"] for r in history)
    # the record names its bracket right after its rung
    assert list(history[0])[4:7] == ["rung", "bracket", "final"]


def test_other_strategies_records_have_no_bracket(tmp_path):
    s = settings(strategy="successive_halving", budget=4, eta=2, min_epochs=1, max_epochs=4)
    history = run_search(s, str(tmp_path), evaluate, fake_cost)
    assert len(history) == 7 and not any("bracket" in r for r in history)
    # results.md shows successive halving's rungs as one bracket
    lines = rung_lines(s, history)
    assert lines[0] == "## Rungs"
    assert [line.split(" | ")[:4] for line in lines[-3:]] == [
        ["| 0", "1", "4/4", "4"], ["| 1", "2", "2/2", "2"], ["| 2", "4", "1/1", "1"]]
    assert rung_lines(settings(budget=4), history[:4]) == []
    # a bracket promotes records, so its rungs stay full when rung 0 repeats a candidate
    # (here four draws from a space of two): total_trials stays exact
    small = {**SPACE, "mixer": ("identity",), "depth": (1, 2), "width": (16,),
             "mlp_ratio": (1.0,), "patch_size": (2,)}
    s = settings(small, strategy="successive_halving", budget=4, eta=2, min_epochs=1,
                 max_epochs=4)
    history = run_search(s, str(tmp_path / "small"), evaluate, fake_cost)
    assert [r["rung"] for r in history] == [0] * 4 + [1] * 2 + [2]
    assert total_trials(s) == len(history) and len({r["name"] for r in history}) == 2


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_redrawn_candidates_reuse_or_continue_their_run(tmp_path, seed):
    """A space of two candidates (depth 1 or 2) under min 1, max 4, eta 2 (14 trials):
    every bracket starts with both (distinct within the bracket first), then repeats."""
    space = {**SPACE, "mixer": ("identity",), "depth": (1, 2), "width": (16,),
             "mlp_ratio": (1.0,), "patch_size": (2,)}
    s, history = run(tmp_path, space=space, min_epochs=1, max_epochs=4, eta=2, budget=4,
                     seed=seed)
    assert total_trials(s) == len(history) == 14
    assert [(r["bracket"], r["rung"], r["epochs"]) for r in history] == [
        (b, i, epochs[i]) for b, epochs, sizes in SCHEDULE_1_4_2
        for i in range(len(sizes)) for _ in range(sizes[i])]
    for bracket, _, sizes in SCHEDULE_1_4_2:
        first = [r["name"] for r in history if r["bracket"] == bracket and r["rung"] == 0]
        assert len(first) == sizes[0] and len(set(first[:2])) == 2
    # a (candidate, epochs) evaluated before is reused, not trained; values agree
    seen = {}
    for r in history:
        key = (r["name"], r["epochs"])
        assert r["trained"] == (key not in seen)
        seen.setdefault(key, r["validation_accuracy"])
        assert r["validation_accuracy"] == seen[key]


def test_bracket_promotes_records_ties_to_the_earlier_step():
    """One bracket by hand: rung 0 of four records (two of one candidate, as a redraw in
    a small space gives), sizes [4, 2]: the best two records by validation accuracy,
    ties to the earlier step, each record once."""
    def record(step, name, val, rung=0, origin=None):
        return {"step": step, "name": name, "candidate": {"id": name}, "rung": rung,
                "validation_accuracy": val, "origin": origin or {"kind": "random"}}

    records = [record(0, "c", 0.5), record(1, "a", 0.7), record(2, "a", 0.7),
               record(3, "b", 0.7)]

    def draw():
        raise AssertionError("rung 0 is full")

    trial = next_in_bracket(records, [1, 2], [4, 2], draw, bracket=1)
    assert (trial.candidate, trial.epochs, trial.rung, trial.bracket, trial.final) == (
        {"id": "a"}, 2, 1, 1, True)
    assert trial.origin == {"kind": "promotion", "from_step": 1}
    records.append(record(4, "a", 0.8, rung=1, origin=trial.origin))
    trial = next_in_bracket(records, [1, 2], [4, 2], draw, bracket=1)
    assert trial.candidate == {"id": "a"} and trial.origin["from_step"] == 2
    records.append(record(5, "a", 0.8, rung=1, origin=trial.origin))
    assert next_in_bracket(records, [1, 2], [4, 2], draw) is None
    # an unfilled rung 0 draws
    trial = next_in_bracket(records[:3], [1, 2], [4, 2], lambda: {"id": "new"}, bracket=1)
    assert (trial.candidate, trial.epochs, trial.rung, trial.final) == ({"id": "new"}, 1, 0,
                                                                         False)


@pytest.mark.parametrize("kill_at", [1, 4, 9, 13])
def test_killed_search_resumes_to_identical_history(tmp_path, kill_at):
    changes = dict(min_epochs=1, max_epochs=4, eta=2, budget=4)
    _, whole = run(tmp_path, "whole", **changes)
    calls = []

    def dying(trial, name):
        if len(calls) == kill_at:
            raise Killed
        calls.append(name)
        return evaluate(trial, name)

    s = settings(strategy="hyperband", **changes)
    with pytest.raises(Killed):
        run_search(s, str(tmp_path / "resumed"), dying, fake_cost)
    resumed = run_search(s, str(tmp_path / "resumed"), evaluate, fake_cost)
    assert len(whole) == 14 and resumed == whole


@pytest.mark.parametrize("changes, message", [
    (dict(eta=1), "halving.eta must be an integer >= 2, got 1"),
    (dict(eta=2.5), "halving.eta must be an integer >= 2, got 2.5"),
    (dict(min_epochs=5, max_epochs=4), "halving.max_epochs 4 is below min_epochs 5"),
    (dict(budget=3), "budget 3 is below eta\\*\\*s_max = 4"),
])
def test_bad_config_is_a_one_line_error(changes, message):
    with pytest.raises(UserError, match=message) as error:
        settings(**{"strategy": "hyperband", "min_epochs": 1, "max_epochs": 4, "eta": 2,
                    "budget": 4, **changes})
    assert "\n" not in str(error.value)


def test_results_table_shows_each_bracket_and_rung(tmp_path):
    s, history = run(tmp_path)
    lines = rung_lines(s, history)
    assert lines[0] == "## Brackets and rungs"
    rows = [line for line in lines if line.startswith("| ") and line[2].isdigit()]
    expected = []
    for bracket, epochs, sizes in SCHEDULE_1_9_3:
        for i, (e, n) in enumerate(zip(epochs, sizes)):
            rung = [r for r in history if r["bracket"] == bracket and r["rung"] == i]
            best = max(rung, key=lambda r: r["validation_accuracy"])
            expected.append(f"| {bracket} | {i} | {e} | {n}/{n} | {n} | {best['name']} "
                            f"({100 * best['validation_accuracy']:.1f}) |")
    assert rows == expected
    # half-way: planned sizes, counts so far, "-" for rungs not started
    partial = [line for line in rung_lines(s, history[:10]) if line.startswith("| 1 | 0 ")]
    assert partial == ["| 1 | 0 | 3 | 0/5 | 0 | - |"]
