"""Successive halving (Jamieson & Talwalkar 2016; one Hyperband bracket, Li et al.
2018): bad candidates stop early.

Rung 0 trains ``budget`` random candidates (distinct where the space allows) for
``min_epochs``; rung r+1 continues the best ``floor(n_r / eta)`` of rung r (by
validation accuracy at rung r, ties: the earlier trial; at least one) from their
checkpoints to ``min_epochs * eta**(r+1)`` epochs, the last rung to ``max_epochs``.
Every candidate's learning-rate schedule spans ``max_epochs``, so a candidate that
reaches the last rung has trained exactly as one uninterrupted run would.
"""

from __future__ import annotations

import numpy as np

from mixer_vit.search.strategies.proposals import Proposer
from mixer_vit.search.strategies.trial import Trial


def rung_epochs(min_epochs: int, max_epochs: int, eta: int) -> list[int]:
    """[min, min*eta, min*eta^2, ..., max] (each below max, then max)."""
    epochs = [min_epochs]
    while epochs[-1] * eta < max_epochs:
        epochs.append(epochs[-1] * eta)
    if epochs[-1] != max_epochs:
        epochs.append(max_epochs)
    return epochs


def rung_sizes(budget: int, eta: int, rungs: int) -> list[int]:
    """Candidates per rung: budget, budget // eta, ... (at least 1)."""
    return [max(1, budget // eta**r) for r in range(rungs)]


def promoted(records: list[dict], count: int) -> list[str]:
    """Names of the ``count`` best records by validation accuracy (ties: earlier step)."""
    ranked = sorted(records, key=lambda r: (-r["validation_accuracy"], r["step"]))
    return [r["name"] for r in ranked[:count]]


class SuccessiveHalving:
    def __init__(self, settings):
        self.budget, self.eta = settings.budget, settings.eta
        self.epochs = rung_epochs(settings.min_epochs, settings.max_epochs, settings.eta)
        self.sizes = rung_sizes(settings.budget, settings.eta, len(self.epochs))

    def total_trials(self) -> int:
        return sum(self.sizes)

    def next_trial(self, history: list[dict], rng: np.random.Generator,
                   proposer: Proposer) -> Trial | None:
        last = len(self.epochs) - 1
        first_rung = [r for r in history if r["rung"] == 0]
        if len(first_rung) < self.sizes[0]:
            seen = {record["name"] for record in history}
            candidate = proposer.sample(rng, avoid=seen)
            return Trial(candidate, self.epochs[0], final=last == 0,
                         origin={"kind": "random"}, rung=0)
        for rung in range(1, len(self.epochs)):
            below = [r for r in history if r["rung"] == rung - 1]
            done = {r["name"] for r in history if r["rung"] == rung}
            for name in promoted(below, self.sizes[rung]):
                if name not in done:
                    record = next(r for r in below if r["name"] == name)
                    return Trial(record["candidate"], self.epochs[rung], final=rung == last,
                                 origin={"kind": "promotion", "from_step": record["step"]},
                                 rung=rung)
        return None
