"""Multi-host start-up, device mesh, batch sharding and parameter-sharding rules."""

from .mesh import (
    BATCH_AXES,
    DATA_AXIS,
    FSDP_AXIS,
    MESH_AXES,
    MODEL_AXIS,
    batch_shard_count,
    batch_sharding,
    check_global_batch,
    make_mesh,
    replicated,
    shard_batch,
)
from .rules import LOGICAL_RULES, PARAM_LOGICAL_AXES, logical_axes, partition_spec
from .state_sharding import bytes_per_device, tree_shardings

__all__ = [
    "BATCH_AXES",
    "DATA_AXIS",
    "FSDP_AXIS",
    "LOGICAL_RULES",
    "MESH_AXES",
    "MODEL_AXIS",
    "PARAM_LOGICAL_AXES",
    "batch_shard_count",
    "batch_sharding",
    "bytes_per_device",
    "check_global_batch",
    "logical_axes",
    "make_mesh",
    "partition_spec",
    "replicated",
    "shard_batch",
    "tree_shardings",
]
