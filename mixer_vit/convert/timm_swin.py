"""timm Swin Transformer state dicts -> ``mixer_vit.models.swin`` parameters.

Key mapping (timm -> ours; Linear weights transposed, the conv to HWIO)::

    patch_embed.proj.*                        -> patch_embed/proj/*
    patch_embed.norm.*                        -> patch_embed_norm/*
    layers.{s}.downsample.norm.*              -> stages_{s}/downsample/norm/*
    layers.{s}.downsample.reduction.weight    -> stages_{s}/downsample/reduction/kernel
    layers.{s}.blocks.{i}.norm1|norm2.*       -> stages_{s}/blocks_{i}/norm1|norm2/*
    layers.{s}.blocks.{i}.attn.qkv|proj.*     -> stages_{s}/blocks_{i}/mixer/qkv|proj/*
    layers.{s}.blocks.{i}.attn.relative_position_bias_table
                                  -> stages_{s}/blocks_{i}/mixer/relative_position_bias_table
    layers.{s}.blocks.{i}.mlp.fc1|fc2.*       -> stages_{s}/blocks_{i}/mlp/fc1|fc2/*
    norm.*                                    -> norm/*
    head.fc.*                                 -> head/*

Buffers (``relative_position_index``, ``attn_mask``) are derived, not loaded. The original
Microsoft checkpoints (patch merging at the end of a stage, ``head.weight``) are
renumbered to timm's layout first, as timm does. The qkv output axis is already ordered
``(3, heads, head_dim)`` in both layouts.
"""

from __future__ import annotations

import re
from typing import Mapping

import flax.linen as nn
import numpy as np

from mixer_vit.convert.timm_registry import register_timm
from mixer_vit.convert.torch_layouts import conv_kernel, linear_kernel

DERIVED_BUFFERS = ("relative_position_index", "attn_mask")

_BLOCK = re.compile(r"^layers\.(\d+)\.blocks\.(\d+)\.(.+)$")
_DOWNSAMPLE = re.compile(r"^layers\.(\d+)\.downsample\.(.+)$")
_BLOCK_PARTS = {
    "attn.qkv": "mixer/qkv",
    "attn.proj": "mixer/proj",
    "mlp.fc1": "mlp/fc1",
    "mlp.fc2": "mlp/fc2",
    "norm1": "norm1",
    "norm2": "norm2",
}
_TOP_LEVEL = {"patch_embed.norm": "patch_embed_norm", "norm": "norm", "head.fc": "head"}


def _to_timm_layout(state_dict: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Drops derived buffers; renumbers original (Microsoft) checkpoints to timm's keys."""
    original = "layers.0.downsample.reduction.weight" in state_dict
    out = {}
    for key, value in state_dict.items():
        if key.rsplit(".", 1)[-1] in DERIVED_BUFFERS:
            continue
        if original:
            key = re.sub(
                r"^layers\.(\d+)\.downsample", lambda m: f"layers.{int(m[1]) + 1}.downsample", key
            )
            key = re.sub(r"^head\.(weight|bias)$", r"head.fc.\1", key)
        out[key] = np.asarray(value)
    return out


def _leaf(module_path: str, param: str, value: np.ndarray) -> tuple[str, np.ndarray]:
    """A torch Linear / LayerNorm leaf -> (our ``params/...`` key, array in flax layout)."""
    if param == "weight" and value.ndim == 2:
        return f"params/{module_path}/kernel", linear_kernel(value)
    if param == "weight":
        return f"params/{module_path}/scale", value  # LayerNorm
    return f"params/{module_path}/{param}", value


def _our_key(key: str, value: np.ndarray) -> tuple[str, np.ndarray]:
    """One timm key -> our flat key and array. A key that is not Swin's is returned as it
    is, so ``assign_flat`` lists it among the unexpected keys."""
    if key == "patch_embed.proj.weight":
        return "params/patch_embed/proj/kernel", conv_kernel(value)
    if key == "patch_embed.proj.bias":
        return "params/patch_embed/proj/bias", value
    module, _, param = key.rpartition(".")
    if module in _TOP_LEVEL:
        return _leaf(_TOP_LEVEL[module], param, value)
    if match := _DOWNSAMPLE.match(key):
        stage, rest = match[1], match[2]
        sub, _, param = rest.rpartition(".")
        if sub in ("norm", "reduction"):
            return _leaf(f"stages_{stage}/downsample/{sub}", param, value)
    if match := _BLOCK.match(key):
        stage, block, rest = match[1], match[2], match[3]
        prefix = f"stages_{stage}/blocks_{block}"
        if rest == "attn.relative_position_bias_table":
            return f"params/{prefix}/mixer/relative_position_bias_table", value
        sub, _, param = rest.rpartition(".")
        if sub in _BLOCK_PARTS:
            return _leaf(f"{prefix}/{_BLOCK_PARTS[sub]}", param, value)
    return key, value


def convert_swin(state_dict: Mapping[str, np.ndarray], model: nn.Module) -> dict[str, np.ndarray]:
    """timm ``SwinTransformer`` state dict (numpy, torch layouts) -> flat ``params/...`` dict.

    ``model`` is unused (the mapping is fixed by the keys); ``convert_timm`` checks every
    name and shape against it, so a wrong size or window fails there, naming the keys.
    """
    del model
    return dict(_our_key(k, v) for k, v in _to_timm_layout(state_dict).items())


register_timm("swin_t", "swin_tiny_patch4_window7_224", convert_swin)
register_timm("swin_s", "swin_small_patch4_window7_224", convert_swin)
register_timm("swin_b", "swin_base_patch4_window7_224", convert_swin)
