"""Random search: ``budget`` independent draws from the space (within the constraints),
each new if the space allows, each trained for ``epochs``."""

from __future__ import annotations

import numpy as np

from mixer_vit.search.strategies.proposals import Proposer
from mixer_vit.search.strategies.trial import Trial


class RandomSearch:
    def __init__(self, settings):
        self.budget, self.epochs = settings.budget, settings.epochs

    def total_trials(self) -> int:
        return self.budget

    def next_trial(self, history: list[dict], rng: np.random.Generator,
                   proposer: Proposer) -> Trial | None:
        if len(history) >= self.budget:
            return None
        seen = {record["name"] for record in history}
        candidate = proposer.sample(rng, avoid=seen)
        return Trial(candidate, self.epochs, final=True, origin={"kind": "random"})
