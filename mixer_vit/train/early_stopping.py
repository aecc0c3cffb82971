"""Early stopping on a validation metric, with patience and a minimum improvement."""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass
class EarlyStopping:
    """Tracks the best value of a metric; ``update`` says whether it improved and whether to
    stop. An improvement must beat the best by more than ``min_delta`` (in the metric's
    direction); training stops once ``patience`` evaluations in a row brought none.

    State (``best``, ``best_step``, ``bad_evaluations``) is plain data so it can live in a
    checkpoint.
    """

    patience: int
    min_delta: float = 0.0
    mode: str = "max"  # "max" for accuracy, "min" for loss
    best: float = dataclasses.field(default=math.nan)
    best_step: int = -1
    bad_evaluations: int = 0

    def __post_init__(self):
        if self.mode not in ("max", "min"):
            raise ValueError(f"early stopping mode must be 'max' or 'min', got {self.mode!r}")
        if self.patience < 1:
            raise ValueError(f"early stopping patience must be >= 1, got {self.patience}")

    def _improves(self, value: float) -> bool:
        if math.isnan(self.best):
            return True
        if self.mode == "max":
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def update(self, value: float, step: int) -> tuple[bool, bool]:
        """Records ``value`` measured at ``step``; returns (improved, should_stop)."""
        if self._improves(value):
            self.best, self.best_step, self.bad_evaluations = value, step, 0
            return True, False
        self.bad_evaluations += 1
        return False, self.bad_evaluations >= self.patience

    def state(self) -> dict:
        return {
            "best": self.best,
            "best_step": self.best_step,
            "bad_evaluations": self.bad_evaluations,
        }

    def restore(self, state: dict) -> None:
        self.best = float(state["best"])
        self.best_step = int(state["best_step"])
        self.bad_evaluations = int(state["bad_evaluations"])
