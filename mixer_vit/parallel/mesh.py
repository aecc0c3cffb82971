"""The device mesh and the batch's place on it.

Three named axes, outermost first: ``data`` (pure data parallelism: parameters
replicated), ``fsdp`` (fully-sharded data parallelism: the batch is split over it too, and
parameters and optimizer state are sharded over it by the rules in ``rules.py``) and
``model`` (tensor parallelism: attention heads and MLP hidden units split over it, the
batch replicated). ``data = devices / (fsdp * model)``. The same code serves one CPU,
``--xla_force_host_platform_device_count`` simulated devices, a GPU node and several hosts
(each process passes its own slice of the batch to ``shard_batch``).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from mixer_vit.errors import UserError

DATA_AXIS = "data"
FSDP_AXIS = "fsdp"
MODEL_AXIS = "model"
MESH_AXES = (DATA_AXIS, FSDP_AXIS, MODEL_AXIS)
# The batch is split over both data-parallel axes (and replicated over ``model``).
BATCH_AXES = (DATA_AXIS, FSDP_AXIS)


def make_mesh(num_devices: int | None = None, *, fsdp: int = 1, model: int = 1) -> Mesh:
    """A ``(data, fsdp, model)`` mesh over the first ``num_devices`` devices (all of them,
    across every process, by default); ``data`` takes what ``fsdp * model`` leaves.

    ``jax.devices()`` lists each process's devices together, and ``model`` then ``fsdp``
    vary fastest: with ``fsdp * model`` <= the devices of one host, the parameter
    all-gathers and reduce-scatters stay inside a host and only the gradient all-reduce of
    ``data`` crosses hosts.
    """
    devices = jax.devices()
    if num_devices is not None and jax.process_count() > 1 and num_devices != len(devices):
        raise UserError(
            f"num_devices={num_devices} would leave out devices of some of the "
            f"{jax.process_count()} processes; leave --config.num_devices unset in a "
            f"multi-process run"
        )
    if num_devices is not None:
        if not 1 <= num_devices <= len(devices):
            raise UserError(
                f"asked for {num_devices} devices but {len(devices)} are available; "
                f"set --config.num_devices between 1 and {len(devices)} (or leave it unset)"
            )
        devices = devices[:num_devices]
    n = len(devices)
    if fsdp < 1 or model < 1 or n % (fsdp * model):
        raise UserError(
            f"mesh.fsdp={fsdp} x mesh.model={model} does not divide the {n} devices; set "
            f"--config.mesh.fsdp and --config.mesh.model to positive numbers whose product "
            f"divides {n}"
        )
    shape = (n // (fsdp * model), fsdp, model)
    return Mesh(np.asarray(devices).reshape(shape), MESH_AXES)


def batch_shard_count(mesh: Mesh) -> int:
    """Into how many slices the batch is split (``data * fsdp``)."""
    return int(np.prod([mesh.shape[axis] for axis in BATCH_AXES]))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) dimension split over the ``data`` and ``fsdp`` axes."""
    return NamedSharding(mesh, PartitionSpec(BATCH_AXES))


def replicated(mesh: Mesh) -> NamedSharding:
    """The same full copy on every device."""
    return NamedSharding(mesh, PartitionSpec())


def check_global_batch(global_batch_size: int, mesh: Mesh) -> None:
    """Raises ``UserError`` unless the global batch splits evenly over the batch shards."""
    n = batch_shard_count(mesh)
    if global_batch_size % n:
        lower = global_batch_size // n * n or n
        raise UserError(
            f"global batch size {global_batch_size} is not divisible by the {n} devices it is "
            f"split over; set --config.train.global_batch_size to a multiple of {n} "
            f"(e.g. {lower})"
        )


def shard_batch(local_batch: dict[str, Any], mesh: Mesh) -> dict[str, jax.Array]:
    """Turns this process's slice of the batch (numpy, leading dim = local batch) into
    global arrays sharded over the batch axes."""
    sharding = batch_sharding(mesh)
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local_batch
    )
