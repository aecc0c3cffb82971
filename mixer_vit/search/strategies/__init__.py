"""Search strategies. Each is built from the search settings and answers
``next_trial(history, rng, proposer) -> Trial | None`` (None: the search is done), a pure
function of the history so far and the step's random generator, and
``total_trials()`` (for the progress bar, exact). Successive halving and Hyperband also
answer ``brackets()``: ``[(bracket, rung epochs, rung sizes)]`` (results.md)."""

from mixer_vit.search.strategies.hyperband import Hyperband
from mixer_vit.search.strategies.random_search import RandomSearch
from mixer_vit.search.strategies.regularized_evolution import RegularizedEvolution
from mixer_vit.search.strategies.successive_halving import SuccessiveHalving
from mixer_vit.search.strategies.trial import Trial

STRATEGY_CLASSES = {
    "random_search": RandomSearch,
    "regularized_evolution": RegularizedEvolution,
    "successive_halving": SuccessiveHalving,
    "hyperband": Hyperband,
}


def make_strategy(settings):
    return STRATEGY_CLASSES[settings.strategy](settings)


__all__ = ["STRATEGY_CLASSES", "Trial", "make_strategy"]
