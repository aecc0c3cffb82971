"""Hyperband (Li et al. 2018, "Hyperband: A Novel Bandit-Based Approach to
Hyperparameter Optimization", Algorithm 1): successive halving in several brackets,
from many candidates stopped early to a few trained to the end.

With m = ``min_epochs``, M = ``max_epochs``, R = M / m and
``s_max = floor(log_eta(R))`` (the largest s with m * eta**s <= M, in integers), the
brackets s = s_max, s_max - 1, ..., 0 run one after the other. Bracket s:

- starts ``n_s = ceil(budget * (s_max + 1) * eta**s / ((s + 1) * eta**s_max))`` random
  candidates. With ``budget = eta**s_max`` that is the paper's
  ``n_s = ceil((s_max + 1) / (s + 1) * eta**s)``; another budget scales every bracket's
  candidates by ``budget / eta**s_max`` (the brackets keep the paper's proportions), and
  bracket s_max then starts ``budget`` candidates, as successive halving's one bracket
  does. ``budget`` must be at least ``eta**s_max`` (settings.py), so every rung keeps a
  candidate;
- rung i = 0..s trains ``floor(n_s / eta**i)`` candidates (the best ``floor(n_{i-1} /
  eta)`` of rung i - 1 by validation accuracy, ties: the earlier trial) to
  ``floor(M / eta**(s - i))`` epochs: the paper's ``r_i = R * eta**(i - s)`` resource
  units of m epochs, i.e. ``M * eta**(i - s)`` epochs, rounded down to whole epochs.
  That is never below m (``m * eta**(s - i) <= M`` for s <= s_max), rises strictly
  within a bracket, and the last rung of every bracket is M (final: the test split is
  read). Bracket s_max's first rung lies in [m, m * eta).

Each bracket is successive_halving.next_in_bracket; records carry ``"bracket": s`` and
``"rung": i``. Every candidate's schedule spans M epochs and every rung ends on an
evaluation (candidate_training.py evaluates every ``gcd`` of all rung epochs), so a
candidate's run is one deterministic run whichever bracket asks for it.

Rung 0 draws candidates not yet seen in any bracket (where the space, within the
constraints, still has some; else, one not yet in this bracket; else any). A candidate
drawn again is the same run: a trial at epochs it already has a record for reuses that
record (loop.py), one at fewer epochs than its run reached reads the validation
accuracy logged there, one at more continues its run from its checkpoint.
"""

from __future__ import annotations

import numpy as np

from mixer_vit.search.strategies.proposals import Proposer
from mixer_vit.search.strategies.successive_halving import next_in_bracket
from mixer_vit.search.strategies.trial import Trial


def max_bracket(min_epochs: int, max_epochs: int, eta: int) -> int:
    """s_max = floor(log_eta(max_epochs / min_epochs)), exactly (integers only)."""
    s = 0
    while min_epochs * eta ** (s + 1) <= max_epochs:
        s += 1
    return s


def bracket_size(budget: int, s: int, s_max: int, eta: int) -> int:
    """n_s = ceil(budget * (s_max + 1) * eta^s / ((s + 1) * eta^s_max)), exactly."""
    return -(-budget * (s_max + 1) * eta**s // ((s + 1) * eta**s_max))


def hyperband_brackets(min_epochs: int, max_epochs: int, eta: int, budget: int
                       ) -> list[tuple[int, list[int], list[int]]]:
    """``[(s, rung epochs, rung sizes)]`` for s = s_max .. 0, in the order they run."""
    s_max = max_bracket(min_epochs, max_epochs, eta)
    brackets = []
    for s in range(s_max, -1, -1):
        n = bracket_size(budget, s, s_max, eta)
        epochs = [max_epochs // eta ** (s - i) for i in range(s + 1)]
        sizes = [n // eta**i for i in range(s + 1)]
        brackets.append((s, epochs, sizes))
    return brackets


class Hyperband:
    def __init__(self, settings):
        self.schedule = hyperband_brackets(settings.min_epochs, settings.max_epochs,
                                           settings.eta, settings.budget)

    def total_trials(self) -> int:
        return sum(sum(sizes) for _, _, sizes in self.schedule)

    def brackets(self) -> list[tuple[int, list[int], list[int]]]:
        """``[(s, rung epochs, rung sizes)]`` in the order they run."""
        return self.schedule

    def next_trial(self, history: list[dict], rng: np.random.Generator,
                   proposer: Proposer) -> Trial | None:
        seen = {record["name"] for record in history}
        for s, epochs, sizes in self.schedule:
            records = [r for r in history if r.get("bracket") == s]
            in_bracket = {r["name"] for r in records}
            trial = next_in_bracket(
                records, epochs, sizes,
                lambda avoid=in_bracket: draw_new(proposer, rng, seen, avoid), bracket=s)
            if trial is not None:
                return trial
        return None


def draw_new(proposer: Proposer, rng: np.random.Generator, seen: set[str],
             in_bracket: set[str]) -> dict:
    """A candidate not in ``seen`` (any bracket) where the space allows, else one not in
    ``in_bracket``, else any (proposals.py's repeat)."""
    candidate = proposer.sample(rng, avoid=seen)
    if proposer.space.name(candidate) in in_bracket:
        candidate = proposer.sample(rng, avoid=in_bracket)
    return candidate
