"""timm PoolFormer (``poolformer_s12`` ... ``poolformer_m48``) -> ``HierarchicalMetaFormer``.

timm keys (NCHW, 1x1-conv MLP) and ours::

    stem.conv.{weight,bias}                     params/stem/conv/{kernel,bias}
    stages.S.downsample.conv.{weight,bias}      params/stages_S/downsample/conv/{kernel,bias}
    stages.S.blocks.B.norm{1,2}.{weight,bias}   params/stages_S/blocks_B/norm{1,2}/{scale,bias}
    stages.S.blocks.B.mlp.fc{1,2}.{weight,bias} params/stages_S/blocks_B/mlp/fc{1,2}/{kernel,bias}
    stages.S.blocks.B.layer_scale{1,2}.scale    params/stages_S/blocks_B/layer_scale{1,2}/scale
    head.norm.{weight,bias}                     params/norm/{scale,bias}
    head.fc.{weight,bias}                       params/head/{kernel,bias}
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import flax.linen as nn
import numpy as np

from mixer_vit.convert.timm_registry import register_timm
from mixer_vit.convert.torch_layouts import conv_kernel, linear_kernel
from mixer_vit.convert.tree_assign import ConversionError
from mixer_vit.models.poolformer import POOLFORMER_SIZES

_NORM_PARAM = {"weight": "scale", "bias": "bias"}


def _weight(name: str, value: np.ndarray) -> np.ndarray:
    """A torch weight in our layout: conv OIHW -> HWIO, 1x1 conv / linear -> [in, out]."""
    if value.ndim == 4 and value.shape[2:] == (1, 1):
        return linear_kernel(value[:, :, 0, 0])
    if value.ndim == 4:
        return conv_kernel(value)
    if value.ndim == 2:
        return linear_kernel(value)
    raise ConversionError(f"unexpected weight {name} of shape {value.shape}")


def _target(key: str) -> tuple[str, bool]:
    """Our flat key for timm's ``key`` and whether its value is a kernel to re-layout."""
    patterns = [
        (r"stem\.conv\.(weight|bias)", "stem/conv/{}"),
        (r"stages\.(\d+)\.downsample\.conv\.(weight|bias)", "stages_{}/downsample/conv/{}"),
        (
            r"stages\.(\d+)\.blocks\.(\d+)\.mlp\.(fc[12])\.(weight|bias)",
            "stages_{}/blocks_{}/mlp/{}/{}",
        ),
        (r"stages\.(\d+)\.blocks\.(\d+)\.(layer_scale[12])\.scale", "stages_{}/blocks_{}/{}/scale"),
        (r"head\.fc\.(weight|bias)", "head/{}"),
    ]
    for pattern, template in patterns:
        match = re.fullmatch(pattern, key)
        if match:
            *parts, last = match.groups()
            if template.endswith("/scale"):
                return "params/" + template.format(*parts, last), False
            kind = "kernel" if last == "weight" else "bias"
            return "params/" + template.format(*parts, kind), last == "weight"
    match = re.fullmatch(r"stages\.(\d+)\.blocks\.(\d+)\.(norm[12])\.(weight|bias)", key)
    if match:
        s, b, norm, kind = match.groups()
        return f"params/stages_{s}/blocks_{b}/{norm}/{_NORM_PARAM[kind]}", False
    match = re.fullmatch(r"head\.norm\.(weight|bias)", key)
    if match:
        return f"params/norm/{_NORM_PARAM[match.group(1)]}", False
    raise ConversionError(f"unexpected timm PoolFormer key {key!r}")


def convert_poolformer(state_dict: Mapping[str, np.ndarray], model: nn.Module) -> dict:
    """timm PoolFormer state dict (numpy, torch layouts) -> ``{"params/...": array}``."""
    del model  # the layout is fixed by the keys; assign_flat checks the shapes
    flat = {}
    for key, value in state_dict.items():
        target, is_kernel = _target(key)
        flat[target] = _weight(key, value) if is_kernel else np.asarray(value)
    return flat


for _size in POOLFORMER_SIZES:
    register_timm(f"poolformer_{_size}", f"poolformer_{_size}", convert_poolformer)
