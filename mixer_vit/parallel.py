"""Device mesh and shardings for the data-parallel train step.

One mesh axis, ``data``: the batch is split along it and parameters are replicated.
The same code serves one CPU, ``--xla_force_host_platform_device_count`` simulated
devices, a GPU node and several hosts (each process passes its own slice of the batch
to ``shard_batch``).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from mixer_vit.errors import UserError

DATA_AXIS = "data"


def make_mesh(num_devices: int | None = None) -> Mesh:
    """A 1-D mesh over the first ``num_devices`` devices (all of them by default)."""
    devices = jax.devices()
    if num_devices is not None:
        if not 1 <= num_devices <= len(devices):
            raise UserError(
                f"asked for {num_devices} devices but {len(devices)} are available; "
                f"set --config.num_devices between 1 and {len(devices)} (or leave it unset)"
            )
        devices = devices[:num_devices]
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) dimension split over the ``data`` axis."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    """The same full copy on every device."""
    return NamedSharding(mesh, PartitionSpec())


def check_global_batch(global_batch_size: int, mesh: Mesh) -> None:
    """Raises ``UserError`` unless the global batch splits evenly over the devices."""
    n = mesh.devices.size
    if global_batch_size % n:
        lower = global_batch_size // n * n or n
        raise UserError(
            f"global batch size {global_batch_size} is not divisible by the {n} devices; "
            f"set --config.train.global_batch_size to a multiple of {n} (e.g. {lower})"
        )


def shard_batch(local_batch: dict[str, Any], mesh: Mesh) -> dict[str, jax.Array]:
    """Turns this process's slice of the batch (numpy, leading dim = local batch) into
    global arrays sharded on the ``data`` axis."""
    sharding = batch_sharding(mesh)
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local_batch
    )
