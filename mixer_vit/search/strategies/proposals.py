"""Drawing candidates that meet the constraints: random samples and mutations, each
retried up to ``max_samples`` times; and the check that the constraints can be met at
all (a one-line ``UserError`` otherwise)."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

from mixer_vit.errors import UserError
from mixer_vit.search.constraints import Constraints, CostTable
from mixer_vit.search.space import SearchSpace


@dataclasses.dataclass
class Proposer:
    """Valid candidates of ``space`` (a ``SearchSpace`` or a ``StagedSearchSpace``)
    within ``constraints`` (costs from ``costs``)."""

    space: SearchSpace
    constraints: Constraints
    costs: CostTable
    max_samples: int = 200

    def allowed(self, candidate: Mapping[str, Any]) -> bool:
        """In the space and within the constraints (cost measured only when limited)."""
        if self.space.invalid_reason(candidate) is not None:
            return False
        if not (self.constraints.max_params or self.constraints.max_gflops
                or self.constraints.measures_latency):
            return True
        cost = self.costs.cost(self.space.name(candidate), candidate)
        return self.constraints.violation(cost) is None

    def sample(self, rng: np.random.Generator, avoid: Collection[str] = ()) -> dict:
        """A random allowed candidate, preferring names not in ``avoid`` (a repeat only
        when ``max_samples`` draws found nothing new)."""
        repeat = None
        for _ in range(self.max_samples):
            candidate = self.space.sample(rng)
            if not self.allowed(candidate):
                continue
            if self.space.name(candidate) not in avoid:
                return candidate
            repeat = repeat or candidate
        if repeat is not None:
            return repeat
        raise self._impossible("random samples")

    def mutate(self, parent: Mapping[str, Any], rng: np.random.Generator):
        """``(child, dimension)``: an allowed one-dimension mutation of ``parent``."""
        for _ in range(self.max_samples):
            child, dim = self.space.mutate(parent, rng)
            if child is None:
                raise UserError(
                    "regularized_evolution: the space has a single candidate, nothing to "
                    "mutate; give some dimension two or more choices"
                )
            if self.allowed(child):
                return child, dim
        raise self._impossible(f"mutations of {self.space.name(parent)}")

    def check_feasible(self) -> None:
        """``UserError`` when a parameter or FLOPs limit is below every smallest model
        of the space (``space.smallest_candidates()``: least depth, width and MLP ratio;
        each mixer and patch size)."""
        if not (self.constraints.max_params or self.constraints.max_gflops):
            return
        best = None
        for candidate in self.space.smallest_candidates():
            name = self.space.name(candidate)
            cost = self.costs.cost(name, candidate)
            limited = {k: v for k, v in cost.items() if k != "latency_ms"}
            if Constraints(self.constraints.max_params, self.constraints.max_gflops
                           ).violation(limited) is None:
                return
            if best is None or (cost["params"], cost["gflops"]) < (best[1]["params"],
                                                                   best[1]["gflops"]):
                best = (name, cost)
        name, cost = best
        raise UserError(
            f"impossible constraints ({self.constraints.described()}): even the smallest "
            f"model of the space, {name} ({cost['params']:,} params, {cost['gflops']:.4g} "
            f"GFLOPs), exceeds them; raise the limits or add smaller choices"
        )

    def _impossible(self, what: str) -> UserError:
        return UserError(
            f"impossible constraints ({self.constraints.described()}): none of "
            f"{self.max_samples} {what} meets them; loosen the constraints, shrink the space "
            f"toward smaller models, or raise max_samples"
        )
