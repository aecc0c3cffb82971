"""Train-step metrics of a population: one ``StepMetrics`` per member.

Each step's metrics (``loss``, ``accuracy``, ``grad_norm``, each ``[N]``, still on the
device) are kept until ``sync``, which fetches them in one ``jax.device_get`` and hands
member i its row; a non-finite step of any member raises ``NonFiniteStep`` with
``member`` (its index) among its values.
"""

from __future__ import annotations

import jax

from mixer_vit.train.step_metrics import NonFiniteStep, StepMetrics


class PopulationMetrics:
    def __init__(self, size: int):
        self.members = [StepMetrics() for _ in range(size)]
        self._pending: list = []

    def add(self, step: int, metrics: dict[str, jax.Array], **host_values: float) -> None:
        """Records ``step``'s device metrics ([N] each; no transfer) and host numbers."""
        self._pending.append((step, metrics, host_values))

    def sync(self) -> None:
        if not self._pending:
            return
        values = jax.device_get([metrics for _, metrics, _ in self._pending])
        for (step, _, host_values), step_values in zip(self._pending, values):
            for i, member in enumerate(self.members):
                member.add(step, {k: v[i] for k, v in step_values.items()}, **host_values)
        self._pending = []
        for i, member in enumerate(self.members):
            try:
                member.sync()
            except NonFiniteStep as bad:
                raise NonFiniteStep(bad.step, {**bad.values, "member": i}) from None

    def summaries(self) -> list[dict[str, float]]:
        """Syncs; each member's ``StepMetrics.summary()``."""
        self.sync()
        return [member.summary() for member in self.members]
