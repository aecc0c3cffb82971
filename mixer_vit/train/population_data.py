"""The training batches of a population: each member's own data order, stacked.

Member i reads the batches a separate run with its seed reads (its own ``TrainIterator``,
from ``RunPlan.train_batches`` of the member's plan); step t's batches are stacked into
``[N, B, ...]``. The iterator state is the shared step plus each member's state, so a
checkpoint resumes every member at its next unused batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np


class PopulationBatches(Iterator[dict[str, np.ndarray]]):
    """Wraps N host batch iterators (``get_state``/``set_state`` as ``TrainIterator``'s);
    yields ``{"image": [N, B, H, W, C], "label": [N, B]}``."""

    def __init__(self, members: list):
        if not members:
            raise ValueError("a population needs at least one member iterator")
        self._members = members

    def __next__(self) -> dict[str, np.ndarray]:
        batches = [next(member) for member in self._members]
        return {key: np.stack([b[key] for b in batches]) for key in batches[0]}

    def get_state(self) -> dict[str, Any]:
        """``{"step": batches handed out, "members": [each member's state]}``."""
        states = [member.get_state() for member in self._members]
        return {"step": states[0]["step"], "members": states}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continues every member from ``state["step"]`` (which ``DeviceBatches`` may have
        moved back to the first batch not yet used)."""
        saved = state["members"]
        if len(saved) != len(self._members):
            raise ValueError(
                f"the saved data state has {len(saved)} members, this population "
                f"{len(self._members)}"
            )
        for member, member_state in zip(self._members, saved):
            member.set_state({**member_state, "step": state["step"]})
