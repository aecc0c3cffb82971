"""Orbax checkpoints of the train state, the data iterator position and run metadata.

Each checkpoint step directory holds three items: ``state`` (the sharded TrainState),
``data`` (the input iterator's JSON state, so a resumed run sees exactly the batches it
would have seen) and ``meta`` (which model the parameters belong to).
"""

from __future__ import annotations

import os
from typing import Any

import orbax.checkpoint as ocp

from mixer_vit.errors import UserError
from mixer_vit.train.state import TrainState


class Checkpointer:
    """Saves every ``every_steps`` steps (asynchronously) and restores the latest."""

    def __init__(self, directory: str, every_steps: int, max_to_keep: int = 3):
        self.directory = os.path.abspath(directory)
        self.every_steps = every_steps
        self._manager = ocp.CheckpointManager(
            self.directory,
            item_names=("state", "data", "meta"),
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=False),
        )

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def read_meta(self, step: int) -> dict[str, Any]:
        return self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))[
            "meta"
        ]

    def should_save(self, step: int) -> bool:
        return step % self.every_steps == 0

    def save(
        self, step: int, state: TrainState, data_state: dict[str, Any], meta: dict[str, Any]
    ) -> None:
        os.makedirs(self.directory, exist_ok=True)
        self._manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state),
                data=ocp.args.JsonSave(data_state),
                meta=ocp.args.JsonSave(meta),
            ),
            force=True,
        )

    def restore(self, step: int, target: TrainState) -> tuple[TrainState, dict[str, Any]]:
        """Restores step ``step`` onto the shapes, dtypes and shardings of ``target``."""
        if step not in self.all_steps():
            raise UserError(
                f"no checkpoint for step {step} in {self.directory}; "
                f"available steps: {self.all_steps() or 'none'}"
            )
        restored = self._manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(target), data=ocp.args.JsonRestore()
            ),
        )
        return restored["state"], restored["data"]

    def delete(self, step: int) -> None:
        self._manager.delete(step)

    def wait(self) -> None:
        """Blocks until asynchronous saves have landed on disk."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.close()
