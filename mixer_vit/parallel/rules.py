"""Where every parameter lives on the mesh: logical axis names, and the rules that map
them to mesh axes. The one place to change how a model is sharded.

Two steps, the Flax way (``flax.linen.logical_to_mesh_axes``):

1. ``PARAM_LOGICAL_AXES`` names the trailing dimensions of a parameter from its path (the
   first pattern that matches wins): e.g. a fused ``qkv`` kernel ``[D, 3D]`` is
   ``("embed", "heads")``, an MLP's ``fc1`` kernel ``[D, 4D]`` is ``("embed", "mlp")``.
   Leading dimensions beyond those named (the layer axis of ``nn.scan``-stacked blocks)
   are left unsharded. A parameter no pattern names, with at least
   ``FALLBACK_MIN_SIZE`` scalars, calls its largest dimension ``"shard"`` (patch-embedding
   and convolution kernels, heads, position embeddings): FSDP shards it along that one.
2. ``LOGICAL_RULES`` maps the names to mesh axes: ``embed`` and ``shard`` go to ``fsdp``;
   ``heads`` and ``mlp`` (the hidden units that tensor parallelism splits) to ``model``.

A dimension the mesh axes it maps to do not divide evenly stays unsharded, so any model
runs on any mesh. Optimizer state and EMA leaves carry the parameter's path as their
suffix, so they follow their parameter.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import flax.linen as nn
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from .mesh import BATCH_AXES, FSDP_AXIS, MODEL_AXIS

LogicalAxes = tuple[str | None, ...]

# (regex searched in the "/"-joined path, names of the trailing dimensions)
PARAM_LOGICAL_AXES: tuple[tuple[str, LogicalAxes], ...] = (
    # token-mixing MLP of MLP-Mixer: [tokens, hidden] and [hidden, tokens]
    (r"mixer/mlp/fc1/kernel$", (None, "mlp")),
    (r"mixer/mlp/fc1/bias$", ("mlp",)),
    (r"mixer/mlp/fc2/kernel$", ("mlp", None)),
    # attention: fused qkv [D, 3D] / CaiT class attention q, k, v [D, D]; output proj [D, D]
    (r"/(qkv|q|k|v)/kernel$", ("embed", "heads")),
    (r"/(qkv|q|k|v)/bias$", ("heads",)),
    (r"/(mixer|attn)/proj/kernel$", ("heads", "embed")),
    # channel MLP: fc1 [D, H], fc2 [H, D]
    (r"mlp/fc1/kernel$", ("embed", "mlp")),
    (r"mlp/fc1/bias$", ("mlp",)),
    (r"mlp/fc2/kernel$", ("mlp", "embed")),
)

LOGICAL_RULES: tuple[tuple[str, str | tuple[str, ...] | None], ...] = (
    ("batch", BATCH_AXES),
    ("embed", FSDP_AXIS),
    ("shard", FSDP_AXIS),
    ("heads", MODEL_AXIS),
    ("mlp", MODEL_AXIS),
)

# Parameters smaller than this that no pattern names (biases, norms, tokens) stay whole.
FALLBACK_MIN_SIZE = 2**14


def logical_axes(path: str, shape: Sequence[int]) -> LogicalAxes:
    """Logical names of each dimension of the parameter at ``path`` (None = unnamed)."""
    ndim = len(shape)
    for pattern, names in PARAM_LOGICAL_AXES:
        if re.search(pattern, path) and len(names) <= ndim:
            return (None,) * (ndim - len(names)) + names
    if ndim == 0 or int(np.prod(shape)) < FALLBACK_MIN_SIZE:
        return (None,) * ndim
    largest = int(np.argmax(shape))
    return tuple("shard" if i == largest else None for i in range(ndim))


def _axis_size(mesh: Mesh, axes) -> int:
    if axes is None:
        return 1
    axes = (axes,) if isinstance(axes, str) else axes
    return int(np.prod([mesh.shape[a] for a in axes]))


def partition_spec(path: str, shape: Sequence[int], mesh: Mesh) -> PartitionSpec:
    """The mesh placement of the array at ``path``: its logical names through
    ``LOGICAL_RULES``, with every dimension its mesh axes do not divide left whole."""
    spec = nn.logical_to_mesh_axes(logical_axes(path, shape), LOGICAL_RULES)
    return PartitionSpec(
        *(axes if dim % _axis_size(mesh, axes) == 0 else None for dim, axes in zip(shape, spec))
    )
