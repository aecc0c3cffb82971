"""Search strategies on synthetic fitness (nothing trains): regularized evolution
improves on its initial population and follows a hand-traced small case; successive
halving promotes the right candidates; a killed search resumes to the identical history."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mixer_vit.search.constraints import Constraints
from mixer_vit.search.candidates_table import pareto_front, ranked
from mixer_vit.search.loop import run_search
from mixer_vit.search.strategies.successive_halving import rung_epochs, rung_sizes
from search_fakes import SPACE, Killed, fake_cost, fake_evaluate, fake_fitness, settings


def test_regularized_evolution_beats_its_initial_population(tmp_path):
    s = settings(strategy="regularized_evolution", budget=40, population=8, sample_size=3,
                 constraints=Constraints(max_params=20_000))
    history = run_search(s, str(tmp_path), fake_evaluate, fake_cost)
    assert len(history) == 40
    initial = max(r["validation_accuracy"] for r in history[:8])
    best = max(r["validation_accuracy"] for r in history)
    assert best > initial + 0.05
    # the optimum under the constraint, by enumerating the space (heads do not matter)
    optimum = max(
        fake_fitness(c) - 0.1
        for c in (dict(zip(("mixer", "depth", "width", "mlp_ratio", "patch_size"), v),
                       heads=1) for v in itertools.product(*(SPACE[d] for d in (
                           "mixer", "depth", "width", "mlp_ratio", "patch_size"))))
        if fake_cost(c)["params"] <= 20_000
    )
    assert optimum - 0.03 <= best <= optimum
    for record in history[8:]:
        origin = record["origin"]
        assert origin["kind"] == "mutation"
        assert record["step"] - 8 <= origin["parent"] < record["step"]  # ageing window
        parent = history[origin["parent"]]["candidate"]
        assert record["candidate"][origin["dimension"]] != parent[origin["dimension"]]
        assert fake_cost(record["candidate"])["params"] <= 20_000


def test_regularized_evolution_hand_traced():
    """Space: only depth varies (1 or 2), fitness grows with depth, P = S = 2, so every
    tournament sees the whole population and every mutation flips the depth."""
    space = {**SPACE, "mixer": ("identity",), "depth": (1, 2), "width": (16,),
             "mlp_ratio": (1.0,), "patch_size": (2,)}
    s = settings(space, strategy="regularized_evolution", budget=7, population=2,
                 sample_size=2)
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        history = run_search(s, d, fake_evaluate, fake_cost)
    depths = [r["candidate"]["depth"] for r in history]
    # steps 0, 1: both candidates, in some order (random, distinct)
    assert sorted(depths[:2]) == [1, 2]
    # step k >= 2: population = steps k-2, k-1; parent = the deeper (ties: the younger);
    # child = the other depth.
    expected, parents = list(depths[:2]), []
    for k in range(2, 7):
        window = [(expected[j], j) for j in (k - 2, k - 1)]
        parent_depth, parent_step = max(window)
        parents.append(parent_step)
        expected.append(3 - parent_depth)
    assert depths == expected
    assert [r["origin"]["parent"] for r in history[2:]] == parents
    # a repeat of an evaluated candidate reuses its result instead of training again
    assert [r["trained"] for r in history] == [True, True] + [False] * 5
    assert history[2]["validation_accuracy"] == history[depths.index(depths[2])][
        "validation_accuracy"]


def test_successive_halving_promotes_the_best_by_validation(tmp_path):
    rng = np.random.default_rng(7)
    table = {}  # fabricated accuracies per (candidate name, epochs), test reversed

    def evaluate(trial, name):
        key = (name, trial.epochs)
        table.setdefault(key, float(rng.uniform(0.2, 0.9)))
        val = table[key]
        return {"validation_accuracy": val, "test_accuracy": 1 - val if trial.final else None}

    s = settings(strategy="successive_halving", budget=8, eta=2, min_epochs=1, max_epochs=4,
                 constraints=settings().constraints)
    assert rung_epochs(1, 4, 2) == [1, 2, 4] and rung_epochs(1, 5, 2) == [1, 2, 4, 5]
    assert rung_sizes(8, 2, 3) == [8, 4, 2] and rung_sizes(3, 2, 3) == [3, 1, 1]
    history = run_search(s, str(tmp_path), evaluate, fake_cost)
    assert [r["rung"] for r in history] == [0] * 8 + [1] * 4 + [2] * 2
    assert [r["epochs"] for r in history] == [1] * 8 + [2] * 4 + [4] * 2
    rung0 = history[:8]
    top4 = [rung0[i]["name"] for i in np.argsort([-r["validation_accuracy"] for r in rung0],
                                                 kind="stable")[:4]]
    assert [r["name"] for r in history[8:12]] == top4
    rung1 = history[8:12]
    top2 = [rung1[i]["name"] for i in np.argsort([-r["validation_accuracy"] for r in rung1],
                                                 kind="stable")[:2]]
    assert [r["name"] for r in history[12:]] == top2
    assert len({r["name"] for r in rung0}) == 8
    # test accuracy only where a candidate finished its schedule, and it chose nothing
    assert [r["test_accuracy"] is not None for r in history] == [False] * 12 + [True] * 2
    assert ranked(history)[0]["name"] == max(history[12:], key=lambda r: r[
        "validation_accuracy"])["name"]


def test_random_search_draws_distinct_candidates_within_constraints(tmp_path):
    history = run_search(settings(budget=12), str(tmp_path), fake_evaluate, fake_cost)
    assert len({r["name"] for r in history}) == 12
    assert all(r["params"] <= 6000 and r["params"] == fake_cost(r["candidate"])["params"]
               for r in history)
    assert all(r["validation_accuracy"] == pytest.approx(fake_fitness(r["candidate"]) - 0.1)
               for r in history)


def test_pareto_front():
    points = [(1.0, 0.5), (2.0, 0.4), (2.0, 0.7), (0.5, 0.3), (3.0, 0.7), (4.0, 0.9)]
    assert pareto_front(points) == [3, 0, 2, 5]


@pytest.mark.parametrize("strategy, kill_at", [
    ("regularized_evolution", 3), ("regularized_evolution", 9), ("successive_halving", 9),
])
def test_killed_search_resumes_to_identical_history(tmp_path, strategy, kill_at):
    s = settings(strategy=strategy, budget=12, population=4, sample_size=2, eta=2,
                 min_epochs=1, max_epochs=4)
    whole = run_search(s, str(tmp_path / "whole"), fake_evaluate, fake_cost)

    calls = []

    def dying(trial, name):
        if len(calls) == kill_at:
            raise Killed
        calls.append(name)
        return fake_evaluate(trial, name)

    measured = []

    def measure(candidate):
        measured.append(s.space.name(candidate))
        return fake_cost(candidate)

    resumed_dir = str(tmp_path / "resumed")
    with pytest.raises(Killed):
        run_search(s, resumed_dir, dying, measure)
    first_measured = list(measured)
    resumed = run_search(s, resumed_dir, fake_evaluate, measure)
    assert resumed == whole
    # the rerun read every cost measured before the kill from costs.jsonl
    assert not set(first_measured) & set(measured[len(first_measured):])


def test_resuming_with_other_settings_is_refused(tmp_path):
    from mixer_vit.errors import UserError

    run_search(settings(budget=2), str(tmp_path), fake_evaluate, fake_cost)
    with pytest.raises(UserError, match="budget differs"):
        run_search(settings(budget=3), str(tmp_path), fake_evaluate, fake_cost)
