"""Training batches placed on the devices ahead of the step that uses them.

While step ``t`` runs, the batches of steps ``t + 1 .. t + depth`` are already being
copied to the devices (``jax.make_array_from_process_local_data`` with the batch
sharding; both the copy and the step are dispatched asynchronously), so the device does
not wait for its input on a host that keeps up.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Any

import jax
from jax.sharding import Mesh

from mixer_vit import parallel


class DeviceBatches(Iterator[dict[str, jax.Array]]):
    """Wraps a host batch iterator (``TrainIterator``): yields global device arrays
    (``image`` [B, H, W, C], ``label`` [B], sharded over the batch axes of ``mesh``),
    keeping ``depth`` batches in flight (0: copy each batch when it is asked for).
    ``place(host_batch, mesh)`` puts a batch on the devices (default
    ``parallel.shard_batch``; a population's stacked batches have their own).

    ``get_state`` / ``set_state`` speak of the batches handed out, not those in flight,
    so a checkpoint resumes exactly at the next unused batch.
    """

    def __init__(self, host_batches, mesh: Mesh, depth: int = 1, place=None):
        if depth < 0:
            raise ValueError(f"device prefetch depth must be >= 0, got {depth}")
        self._host = host_batches
        self._mesh = mesh
        self._depth = depth
        self._place = place or parallel.shard_batch
        self._in_flight: collections.deque = collections.deque()

    def _fill(self) -> None:
        while len(self._in_flight) < self._depth:
            self._in_flight.append(self._place(next(self._host), self._mesh))

    def __next__(self) -> dict[str, jax.Array]:
        if not self._in_flight:
            self._fill()
        batch = (
            self._in_flight.popleft()
            if self._in_flight
            else self._place(next(self._host), self._mesh)
        )
        self._fill()  # start copying the next batches before this one's step is dispatched
        return batch

    def get_state(self) -> dict[str, Any]:
        state = self._host.get_state()
        return {**state, "step": state["step"] - len(self._in_flight)}

    def set_state(self, state: dict[str, Any]) -> None:
        self._in_flight.clear()
        self._host.set_state(state)
