"""Train-step metrics kept on the device until the loop asks for them.

Every step appends its metrics (scalar ``jax.Array``s, still being computed) without
waiting; ``sync`` fetches everything since the last sync in one ``jax.device_get`` and
checks it for non-finite values, so the host waits for the device only at log steps and
before checkpoints. The per-step history makes the first bad step exact.
"""

from __future__ import annotations

import math

import jax
import numpy as np

from mixer_vit.errors import UserError


class NonFiniteStep(Exception):
    """The loss or gradient norm of ``step`` was NaN or infinite (``values``: its metrics)."""

    def __init__(self, step: int, values: dict[str, float]):
        super().__init__(f"non-finite metrics at step {step}: {values}")
        self.step = step
        self.values = values


class StepMetrics:
    """Per-step metrics since the last log step: on device until ``sync``, then on host."""

    def __init__(self):
        self._pending: list[tuple[int, dict[str, jax.Array]]] = []
        self._fetched: list[tuple[int, dict[str, float]]] = []
        self._host: dict[int, dict[str, float]] = {}

    def add(self, step: int, metrics: dict[str, jax.Array], **host_values: float) -> None:
        """Records ``step``'s device metrics (no transfer) and host-side numbers."""
        self._pending.append((step, metrics))
        self._host[step] = host_values

    def sync(self) -> None:
        """Fetches the pending metrics (one ``device_get``); raises ``NonFiniteStep`` for
        the first step whose ``loss`` or ``grad_norm`` is not finite."""
        if not self._pending:
            return
        steps = [step for step, _ in self._pending]
        values = jax.device_get([metrics for _, metrics in self._pending])
        self._pending = []
        for step, step_values in zip(steps, values):
            row = {key: float(value) for key, value in step_values.items()}
            row.update(self._host.pop(step, {}))
            if not (math.isfinite(row["loss"]) and math.isfinite(row["grad_norm"])):
                raise NonFiniteStep(step, row)
            self._fetched.append((step, row))

    def summary(self) -> dict[str, float]:
        """Syncs, then returns the mean of every metric since the last summary (and
        ``steps``: how many steps it covers); starts a new window."""
        self.sync()
        rows = [row for _, row in self._fetched]
        self._fetched = []
        if not rows:
            return {"steps": 0}
        means = {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}
        return {**means, "steps": len(rows)}


def non_finite_error(bad: NonFiniteStep, checkpoints, directory: str) -> UserError:
    """Removes the checkpoints that cannot be trusted after the non-finite step ``bad.step``
    and returns the error to raise.

    The parameters that produced the bad step are those after step ``bad.step - 1``; a
    checkpoint of that step (or later) would only diverge again on resume, so it is removed
    and the resume point is the checkpoint before it.
    """
    checkpoints.wait()
    removed = [s for s in checkpoints.all_steps() if s >= bad.step - 1]
    for step in removed:
        checkpoints.delete(step)
    said = ""
    if removed:
        names = ", ".join(str(s) for s in sorted(removed))
        said = f"removed the checkpoint of step {names} whose parameters gave it; "
    good = checkpoints.latest_step()
    return UserError(
        f"loss became non-finite at step {bad.step} (loss={bad.values['loss']:.4g}, "
        f"grad_norm={bad.values['grad_norm']:.4g}); {said}the last good checkpoint is "
        f"{f'step {good}' if good is not None else 'none'} in {directory}; lower "
        f"--config.optim.lr or set --config.optim.grad_clip_norm"
    )
