"""Regularized (ageing) evolution (Real et al. 2019, "Regularized Evolution for Image
Classifier Architecture Search", Algorithm 1).

The first ``population`` (P) trials are random candidates. After that, trial ``k``:
the population is the P most recent trials ``k-P .. k-1`` (each trial adds its child
and the oldest member dies: ageing, not the worst); ``sample_size`` (S) members are
drawn without replacement, the one with the highest validation accuracy (ties: the
younger) is the parent, and the child is the parent with one dimension mutated
(within the space and the constraints). ``budget`` trials in all, each trained for
``epochs``. Only validation accuracy is ever compared.
"""

from __future__ import annotations

import numpy as np

from mixer_vit.search.strategies.proposals import Proposer
from mixer_vit.search.strategies.trial import Trial


def tournament_parent(population: list[dict], sample: np.ndarray) -> dict:
    """The member of ``population[sample]`` with the highest validation accuracy (ties:
    the most recent step)."""
    entrants = [population[int(i)] for i in sample]
    return max(entrants, key=lambda r: (r["validation_accuracy"], r["step"]))


class RegularizedEvolution:
    def __init__(self, settings):
        self.budget, self.epochs = settings.budget, settings.epochs
        self.population, self.sample_size = settings.population, settings.sample_size

    def total_trials(self) -> int:
        return self.budget

    def next_trial(self, history: list[dict], rng: np.random.Generator,
                   proposer: Proposer) -> Trial | None:
        step = len(history)
        if step >= self.budget:
            return None
        if step < self.population:
            seen = {record["name"] for record in history}
            candidate = proposer.sample(rng, avoid=seen)
            return Trial(candidate, self.epochs, final=True, origin={"kind": "random"})
        population = history[step - self.population:step]
        sample = rng.choice(self.population, size=self.sample_size, replace=False)
        parent = tournament_parent(population, sample)
        child, dimension = proposer.mutate(parent["candidate"], rng)
        return Trial(child, self.epochs, final=True, origin={
            "kind": "mutation", "parent": parent["step"], "dimension": dimension,
        })
