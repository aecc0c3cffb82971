"""What a strategy asks for next: train one candidate to a number of epochs."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Trial:
    """One evaluation: ``candidate`` (space.py's dict) trained to ``epochs``; ``final``
    when that is the end of its schedule (the test set is read then, and only then);
    ``origin`` says how the strategy chose it (recorded in the history); ``rung`` is
    the successive-halving rung (0 for the other strategies); ``bracket`` Hyperband's
    bracket ``s`` (None for the other strategies: their records have no such key)."""

    candidate: dict[str, Any]
    epochs: int
    final: bool
    origin: dict[str, Any]
    rung: int = 0
    bracket: int | None = None
