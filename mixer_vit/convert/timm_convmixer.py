"""timm ConvMixer (``convmixer_*``) -> ``ConvMixer``, BatchNorm running statistics included.

timm keys and ours (BatchNorm: weight -> scale, running_mean/var -> batch_stats)::

    stem.0.{weight,bias}              params/stem/conv/{kernel,bias}
    stem.2.*                          stem/norm
    blocks.I.0.fn.0.{weight,bias}     params/blocks_I/dwconv/{kernel,bias}
    blocks.I.0.fn.2.*                 blocks_I/dwnorm
    blocks.I.1.{weight,bias}          params/blocks_I/pwconv/{kernel,bias}
    blocks.I.3.*                      blocks_I/pwnorm
    head.{weight,bias}                params/head/{kernel,bias}

``num_batches_tracked`` (an integer counter) has no counterpart and is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import flax.linen as nn
import numpy as np

from mixer_vit.convert.timm_registry import register_timm
from mixer_vit.convert.torch_layouts import conv_kernel, linear_kernel
from mixer_vit.convert.tree_assign import ConversionError
from mixer_vit.models.convmixer import CONVMIXER_VARIANTS

_MODULES = {
    r"stem\.0": ("stem/conv", "conv"),
    r"stem\.2": ("stem/norm", "norm"),
    r"blocks\.(\d+)\.0\.fn\.0": ("blocks_{}/dwconv", "conv"),
    r"blocks\.(\d+)\.0\.fn\.2": ("blocks_{}/dwnorm", "norm"),
    r"blocks\.(\d+)\.1": ("blocks_{}/pwconv", "conv"),
    r"blocks\.(\d+)\.3": ("blocks_{}/pwnorm", "norm"),
}
_NORM = {
    "weight": "params/{}/scale",
    "bias": "params/{}/bias",
    "running_mean": "batch_stats/{}/mean",
    "running_var": "batch_stats/{}/var",
}


def _convert_key(key: str, value: np.ndarray) -> tuple[str, np.ndarray]:
    if key in ("head.weight", "head.bias"):
        weight = key == "head.weight"
        return (
            ("params/head/kernel", linear_kernel(value)) if weight else ("params/head/bias", value)
        )
    for pattern, (template, kind) in _MODULES.items():
        match = re.fullmatch(pattern + r"\.(\w+)", key)
        if not match:
            continue
        *index, leaf = match.groups()
        path = template.format(*index)
        if kind == "conv" and leaf == "weight":
            return f"params/{path}/kernel", conv_kernel(value)
        if kind == "conv" and leaf == "bias":
            return f"params/{path}/bias", value
        if kind == "norm" and leaf in _NORM:
            return _NORM[leaf].format(path), value
    raise ConversionError(f"unexpected timm ConvMixer key {key!r}")


def convert_convmixer(state_dict: Mapping[str, np.ndarray], model: nn.Module) -> dict:
    """timm ConvMixer state dict (numpy, torch layouts) -> ``{"params/...", "batch_stats/..."}``."""
    del model  # the layout is fixed by the keys; assign_flat checks the shapes
    return dict(
        _convert_key(key, np.asarray(value))
        for key, value in state_dict.items()
        if not key.endswith("num_batches_tracked")
    )


for _name in CONVMIXER_VARIANTS:
    register_timm(_name, _name, convert_convmixer)
