"""Generic torch-module state dict -> flat Flax variables, for ConvNets.

timm's ConvNets store convs, BatchNorms / GroupNorms and linear layers under dotted
module paths; here a family-specific list of regex renames turns each module path into
ours and the leaf kind decides the layout:

- ``weight`` 4-D: conv ``[O, I, kH, kW] -> kernel [kH, kW, I, O]``, or, for modules
  ``dense(path)`` says are Dense (1x1 convs on pooled features), ``kernel [I, O]``;
- ``weight`` 2-D: linear ``[O, I] -> kernel [I, O]``;
- ``weight`` 1-D: norm ``scale``; ``bias``: ``bias``;
- ``running_mean`` / ``running_var``: ``batch_stats/.../mean`` / ``var``;
- ``num_batches_tracked``: dropped (Flax keeps no counter).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from mixer_vit.convert.torch_layouts import conv_kernel, linear_kernel
from mixer_vit.convert.tree_assign import ConversionError


def rename_module(path: str, renames: Sequence[tuple[str, str]]) -> str:
    """Applies each ``(pattern, replacement)`` regex in order, then ``.`` -> ``/``."""
    for pattern, replacement in renames:
        path = re.sub(pattern, replacement, path)
    return path.replace(".", "/")


def convert_torch_modules(
    state_dict: Mapping[str, np.ndarray],
    renames: Sequence[tuple[str, str]],
    dense: Callable[[str], bool] = lambda path: False,
) -> dict[str, np.ndarray]:
    """``{"layer1.0.conv1.weight": [O, I, k, k], ...}`` -> ``{"params/layer1_0/conv1/kernel":
    [k, k, I, O], "batch_stats/.../mean": [C], ...}`` (see the module docstring)."""
    flat: dict[str, np.ndarray] = {}
    for key, value in state_dict.items():
        module, leaf = key.rsplit(".", 1)
        if leaf == "num_batches_tracked":
            continue
        path = rename_module(module, renames)
        value = np.asarray(value)
        if leaf == "weight" and value.ndim == 4:
            if dense(path):
                flat[f"params/{path}/kernel"] = linear_kernel(value[:, :, 0, 0])
            else:
                flat[f"params/{path}/kernel"] = conv_kernel(value)
        elif leaf == "weight" and value.ndim == 2:
            flat[f"params/{path}/kernel"] = linear_kernel(value)
        elif leaf == "weight" and value.ndim == 1:
            flat[f"params/{path}/scale"] = value
        elif leaf == "bias":
            flat[f"params/{path}/bias"] = value
        elif leaf == "running_mean":
            flat[f"batch_stats/{path}/mean"] = value
        elif leaf == "running_var":
            flat[f"batch_stats/{path}/var"] = value
        else:
            raise ConversionError(
                f"unexpected key {key!r} of shape {value.shape} in the state dict"
            )
    return flat
