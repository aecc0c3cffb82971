"""The search loop: ask the strategy for a trial, evaluate it, record it; resumable.

Step ``k``'s random draws come from ``np.random.default_rng([seed, k])`` and the strategy
sees only the recorded history, so a search killed anywhere and run again makes the same
proposals; a killed candidate's training resumes from its checkpoint
(candidate_training.py), and costs come back from ``costs.jsonl``: the history ends as
an uninterrupted search's would. A trial whose candidate and epochs were already
evaluated reuses that result (``"trained": false``): same seed, same result.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from mixer_vit.search import history as history_file
from mixer_vit.search.constraints import CostFunction, CostTable
from mixer_vit.search.settings import SearchSettings
from mixer_vit.search.strategies import Trial, make_strategy
from mixer_vit.search.strategies.proposals import Proposer

Evaluate = Callable[[Trial, str], dict]  # (trial, name) -> validation/test accuracy


def step_rng(seed: int, step: int) -> np.random.Generator:
    return np.random.default_rng([seed, step])


def run_search(
    settings: SearchSettings,
    workdir: str,
    evaluate: Evaluate,
    measure_cost: CostFunction,
    *,
    on_record: Callable[[dict], None] = lambda record: None,
    before_trials: Callable[[], object] = lambda: None,
) -> list[dict]:
    """Brings the search in ``workdir`` to its end; returns the history.

    ``evaluate(trial, name)`` trains the trial's candidate and returns
    ``{"validation_accuracy": float, "test_accuracy": float | None}`` (test only for a
    final trial); ``measure_cost(candidate)`` returns its ``{"params", "gflops"[,
    "latency_ms"]}``. ``on_record`` is called with each new record (progress).
    ``before_trials()`` runs once the search's checks passed, before its first trial
    (the hand-designed references, references.py); it sees nothing of the history.
    """
    os.makedirs(workdir, exist_ok=True)
    history_file.check_identity(workdir, settings.identity())
    records = history_file.read_history(workdir)
    costs = CostTable(workdir, measure_cost)
    proposer = Proposer(settings.space, settings.constraints, costs, settings.max_samples)
    proposer.check_feasible()
    before_trials()
    strategy = make_strategy(settings)
    while True:
        step = len(records)
        trial = strategy.next_trial(records, step_rng(settings.seed, step), proposer)
        if trial is None:
            return records
        record = evaluate_trial(trial, step, records, settings, costs, evaluate)
        history_file.append_record(workdir, record)
        records.append(record)
        on_record(record)


def evaluate_trial(trial: Trial, step: int, records: list[dict], settings: SearchSettings,
                   costs: CostTable, evaluate: Evaluate) -> dict:
    """The history record of ``trial`` at ``step``, training it unless already done."""
    name = settings.space.name(trial.candidate)
    cost = costs.cost(name, trial.candidate)
    earlier = next((r for r in records if r["name"] == name and r["epochs"] == trial.epochs),
                   None)
    if earlier is not None:
        result, trained = {k: earlier[k] for k in ("validation_accuracy", "test_accuracy")}, False
    else:
        result, trained = evaluate(trial, name), True
    return {
        "step": step,
        "name": name,
        "candidate": trial.candidate,
        "epochs": trial.epochs,
        "rung": trial.rung,
        **({} if trial.bracket is None else {"bracket": trial.bracket}),
        "final": trial.final,
        "origin": trial.origin,
        **cost,
        "validation_accuracy": float(result["validation_accuracy"]),
        "test_accuracy": (None if result.get("test_accuracy") is None
                          else float(result["test_accuracy"])),
        "trained": trained,
    }


def total_trials(settings: SearchSettings) -> int:
    return make_strategy(settings).total_trials()
