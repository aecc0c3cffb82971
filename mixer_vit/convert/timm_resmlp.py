"""timm ResMLP (``resmlp_{12,24,36}_224``) -> ``ResMlp``.

timm keys and ours::

    stem.proj.{weight,bias}                     params/patch_embed/proj/{kernel,bias}
    blocks.I.norm{1,2}.{alpha,beta} [1,1,D]     params/blocks_I/norm{1,2}/{alpha,beta} [D]
    blocks.I.linear_tokens.{weight,bias}        params/blocks_I/mixer/linear/{kernel,bias}
    blocks.I.ls{1,2} [D]                        params/blocks_I/layer_scale{1,2}/scale
    blocks.I.mlp_channels.fc{1,2}.{weight,bias} params/blocks_I/mlp/fc{1,2}/{kernel,bias}
    norm.{alpha,beta}                           params/norm/{alpha,beta}
    head.{weight,bias}                          params/head/{kernel,bias}
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import flax.linen as nn
import numpy as np

from mixer_vit.convert.timm_registry import register_timm
from mixer_vit.convert.torch_layouts import conv_kernel, linear_kernel
from mixer_vit.convert.tree_assign import ConversionError
from mixer_vit.models.resmlp import RESMLP_LAYER_SCALE


def _convert_key(key: str, value: np.ndarray) -> tuple[str, np.ndarray]:
    if key in ("stem.proj.weight", "stem.proj.bias"):
        kind = key.rsplit(".", 1)[1]
        return (
            ("params/patch_embed/proj/kernel", conv_kernel(value))
            if kind == "weight"
            else ("params/patch_embed/proj/bias", value)
        )
    match = re.fullmatch(r"(?:blocks\.(\d+)\.)?(norm[12]?)\.(alpha|beta)", key)
    if match:
        block, norm, kind = match.groups()
        prefix = "params/" if block is None else f"params/blocks_{block}/"
        return f"{prefix}{norm}/{kind}", np.reshape(value, (-1,))
    match = re.fullmatch(r"blocks\.(\d+)\.ls([12])", key)
    if match:
        return f"params/blocks_{match.group(1)}/layer_scale{match.group(2)}/scale", value
    match = re.fullmatch(r"blocks\.(\d+)\.(linear_tokens|mlp_channels\.fc[12])\.(weight|bias)", key)
    if match:
        block, layer, kind = match.groups()
        layer = "mixer/linear" if layer == "linear_tokens" else "mlp/" + layer.split(".")[1]
        path = f"params/blocks_{block}/{layer}/"
        return (
            (path + "kernel", linear_kernel(value)) if kind == "weight" else (path + "bias", value)
        )
    match = re.fullmatch(r"head\.(weight|bias)", key)
    if match:
        weight = match.group(1) == "weight"
        return (
            ("params/head/kernel", linear_kernel(value)) if weight else ("params/head/bias", value)
        )
    raise ConversionError(f"unexpected timm ResMLP key {key!r}")


def convert_resmlp(state_dict: Mapping[str, np.ndarray], model: nn.Module) -> dict:
    """timm ResMLP state dict (numpy, torch layouts) -> ``{"params/...": array}``."""
    del model  # the layout is fixed by the keys; assign_flat checks the shapes
    return dict(_convert_key(key, np.asarray(value)) for key, value in state_dict.items())


for _depth in RESMLP_LAYER_SCALE:
    register_timm(f"resmlp_{_depth}", f"resmlp_{_depth}_224", convert_resmlp)
