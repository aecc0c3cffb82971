"""Successive halving (Jamieson & Talwalkar 2016; one Hyperband bracket, Li et al.
2018): bad candidates stop early.

Rung 0 trains ``budget`` random candidates (distinct where the space allows) for
``min_epochs``; rung r+1 continues the best ``floor(n_r / eta)`` of rung r (by
validation accuracy at rung r, ties: the earlier trial; at least one) from their
checkpoints to ``min_epochs * eta**(r+1)`` epochs, the last rung to ``max_epochs``.
Every candidate's learning-rate schedule spans ``max_epochs``, so a candidate that
reaches the last rung has trained exactly as one uninterrupted run would.

``next_in_bracket`` runs one such bracket over given rung epochs and sizes; Hyperband
(hyperband.py) runs several with it.
"""

from __future__ import annotations

from collections.abc import Callable

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


def promoted(records: list[dict], count: int) -> list[dict]:
    """The ``count`` best records by validation accuracy (ties: earlier step)."""
    ranked = sorted(records, key=lambda r: (-r["validation_accuracy"], r["step"]))
    return ranked[:count]


def next_in_bracket(records: list[dict], epochs: list[int], sizes: list[int],
                    draw: Callable[[], dict], bracket: int | None = None) -> Trial | None:
    """The next trial of one successive-halving bracket, or None when it is done.

    ``records``: the bracket's history records so far, in step order; rung ``i`` trains
    ``sizes[i]`` candidates to ``epochs[i]`` (the last rung is the end of the schedule:
    final). Rung 0 takes ``draw()`` candidates (called only when one is needed); rung
    ``i + 1`` promotes the best ``sizes[i + 1]`` records of rung ``i`` (``promoted``), each
    record once (a candidate drawn twice into rung 0 is two records), so rung ``i`` ends
    with exactly ``sizes[i]`` records. ``bracket`` goes into each trial (Hyperband).
    """
    last = len(epochs) - 1
    first_rung = [r for r in records if r["rung"] == 0]
    if len(first_rung) < sizes[0]:
        return Trial(draw(), epochs[0], final=last == 0, origin={"kind": "random"}, rung=0,
                     bracket=bracket)
    for rung in range(1, len(epochs)):
        below = [r for r in records if r["rung"] == rung - 1]
        done = {r["origin"]["from_step"] for r in records if r["rung"] == rung}
        for record in promoted(below, sizes[rung]):
            if record["step"] not in done:
                return Trial(record["candidate"], epochs[rung], final=rung == last,
                             origin={"kind": "promotion", "from_step": record["step"]},
                             rung=rung, bracket=bracket)
    return None


class SuccessiveHalving:
    def __init__(self, settings):
        self.budget, self.eta = settings.budget, settings.eta
        self.epochs = rung_epochs(settings.min_epochs, settings.max_epochs, settings.eta)
        self.sizes = rung_sizes(settings.budget, settings.eta, len(self.epochs))

    def total_trials(self) -> int:
        return sum(self.sizes)

    def brackets(self) -> list[tuple[int | None, list[int], list[int]]]:
        """``[(bracket, rung epochs, rung sizes)]``: the one bracket (no number)."""
        return [(None, self.epochs, self.sizes)]

    def next_trial(self, history: list[dict], rng: np.random.Generator,
                   proposer: Proposer) -> Trial | None:
        seen = {record["name"] for record in history}
        return next_in_bracket(history, self.epochs, self.sizes,
                               lambda: proposer.sample(rng, avoid=seen))
