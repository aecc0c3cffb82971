"""timm ViT, DeiT and MLP-Mixer state dicts -> our MetaFormer / DistilledViT trees.

timm keys -> ours (``blocks.{i}`` -> ``blocks_{i}``; Linear/Conv layouts transposed):

    patch_embed.proj (Mixer: stem.proj)   -> patch_embed/proj
    cls_token, dist_token, pos_embed      -> same names (pos_embed resampled, see below)
    blocks.i.norm1 / norm2                -> blocks_i/norm1 / norm2
    blocks.i.attn.{qkv, proj}             -> blocks_i/mixer/{qkv, proj}
    blocks.i.mlp_tokens.{fc1, fc2}        -> blocks_i/mixer/mlp/{fc1, fc2}      (Mixer)
    blocks.i.mlp (Mixer: mlp_channels)    -> blocks_i/mlp
    norm, head, head_dist                 -> norm, head, head_dist

When the target image size gives another patch grid than the one the weights were
trained on, ``pos_embed`` is resampled (bicubic, as timm) with the prefix rows kept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import flax.linen as nn
import numpy as np

from mixer_vit.convert.timm_reader import TimmReader
from mixer_vit.convert.timm_registry import register_timm
from mixer_vit.convert.tree_assign import ConversionError
from mixer_vit.layers import resample_pos_embed


def pos_embed_for_grid(
    pos_embed: np.ndarray, num_prefix_tokens: int, patch_size: int, image_size: int | None
) -> np.ndarray:
    """``pos_embed [1, P + n*n, D]`` (a square grid) fitted to ``image_size`` square images."""
    if image_size is None:
        return pos_embed
    old_side = math.isqrt(pos_embed.shape[1] - num_prefix_tokens)
    if old_side * old_side != pos_embed.shape[1] - num_prefix_tokens:
        raise ConversionError(
            f"pos_embed with {pos_embed.shape[1]} rows is not {num_prefix_tokens} prefix rows "
            "plus a square grid"
        )
    new_side = image_size // patch_size
    return resample_pos_embed(
        pos_embed, (old_side, old_side), (new_side, new_side), num_prefix_tokens
    )


def _transformer_blocks(reader: TimmReader) -> None:
    for i in range(reader.num_indexed("blocks")):
        src, dst = f"blocks.{i}", f"blocks_{i}"
        reader.norm(f"{src}.norm1", f"{dst}/norm1")
        reader.linear(f"{src}.attn.qkv", f"{dst}/mixer/qkv")
        reader.linear(f"{src}.attn.proj", f"{dst}/mixer/proj")
        reader.norm(f"{src}.norm2", f"{dst}/norm2")
        reader.linear(f"{src}.mlp.fc1", f"{dst}/mlp/fc1")
        reader.linear(f"{src}.mlp.fc2", f"{dst}/mlp/fc2")


def convert_vit(
    state_dict: Mapping[str, np.ndarray], model: nn.Module, image_size: int | None = None
) -> dict[str, np.ndarray]:
    """timm ``VisionTransformer`` / ``VisionTransformerDistilled`` (DeiT) -> ViT, DeiT.

    Covers the class token, the DeiT distillation token and head, and position
    embeddings learned at another resolution than ``image_size``.
    """
    reader = TimmReader(state_dict)
    reader.conv("patch_embed.proj", "patch_embed/proj")
    prefix_tokens = [name for name in ("cls_token", "dist_token") if reader.has(name)]
    for name in prefix_tokens:
        reader.copy(name, name)
    if reader.has("pos_embed"):
        pos_embed = reader.take("pos_embed")
        reader.put(
            "pos_embed",
            pos_embed_for_grid(pos_embed, len(prefix_tokens), model.patch_size, image_size),
        )
    _transformer_blocks(reader)
    reader.norm("norm", "norm")
    for head in ("head", "head_dist"):
        if reader.has(f"{head}.weight"):
            reader.linear(head, head)
    return reader.result()


def convert_mixer(state_dict: Mapping[str, np.ndarray], model: nn.Module) -> dict[str, np.ndarray]:
    """timm ``MlpMixer`` -> our Mixer (token MLP as the ``"mlp"`` token mixer)."""
    del model
    reader = TimmReader(state_dict)
    reader.conv("stem.proj", "patch_embed/proj")
    for i in range(reader.num_indexed("blocks")):
        src, dst = f"blocks.{i}", f"blocks_{i}"
        reader.norm(f"{src}.norm1", f"{dst}/norm1")
        reader.linear(f"{src}.mlp_tokens.fc1", f"{dst}/mixer/mlp/fc1")
        reader.linear(f"{src}.mlp_tokens.fc2", f"{dst}/mixer/mlp/fc2")
        reader.norm(f"{src}.norm2", f"{dst}/norm2")
        reader.linear(f"{src}.mlp_channels.fc1", f"{dst}/mlp/fc1")
        reader.linear(f"{src}.mlp_channels.fc2", f"{dst}/mlp/fc2")
    reader.norm("norm", "norm")
    if reader.has("head.weight"):
        reader.linear("head", "head")
    return reader.result()


VIT_TIMM_NAMES = {
    "vit_ti16": "vit_tiny_patch16_224",
    "vit_s16": "vit_small_patch16_224",
    "vit_s32": "vit_small_patch32_224",
    "vit_b8": "vit_base_patch8_224",
    "vit_b16": "vit_base_patch16_224",
    "vit_b32": "vit_base_patch32_224",
    "vit_l16": "vit_large_patch16_224",
    "vit_l32": "vit_large_patch32_224",
    "vit_h14": "vit_huge_patch14_224",
    "vit_b16_gap": "vit_base_patch16_gap_224",
    "vit_h14_gap": "vit_huge_patch14_gap_224",
    "deit_ti16": "deit_tiny_patch16_224",
    "deit_s16": "deit_small_patch16_224",
    "deit_b16": "deit_base_patch16_224",
    "deit_b16_384": "deit_base_patch16_384",
    "deit_ti16_distilled": "deit_tiny_distilled_patch16_224",
    "deit_s16_distilled": "deit_small_distilled_patch16_224",
    "deit_b16_distilled": "deit_base_distilled_patch16_224",
    "deit_b16_distilled_384": "deit_base_distilled_patch16_384",
}
MIXER_TIMM_NAMES = {
    f"mixer_{size}{patch}": f"mixer_{size}{patch}_224"
    for size in ("s", "b", "l")
    for patch in (16, 32)
}

for _ours, _theirs in VIT_TIMM_NAMES.items():
    register_timm(_ours, _theirs, convert_vit)
for _ours, _theirs in MIXER_TIMM_NAMES.items():
    register_timm(_ours, _theirs, convert_mixer)

# Models timm has no named variant of: timm's ViT built with these keyword arguments.
VIT_TIMM_KWARGS = {
    "vit_mini_p4": (
        "vit_tiny_patch16_224",
        dict(img_size=28, patch_size=4, embed_dim=128, depth=6, num_heads=4, num_classes=10),
    ),
}
for _ours, (_theirs, _kwargs) in VIT_TIMM_KWARGS.items():
    register_timm(_ours, _theirs, convert_vit, _kwargs)
