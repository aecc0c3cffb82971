"""timm ``Cait`` state dicts -> our CaiT tree.

timm keys -> ours (Linear layouts transposed; ``gamma_1/2`` are the layer-scale gains):

    patch_embed.proj, pos_embed, cls_token        -> same names (pos_embed resampled)
    blocks.i.{norm1, norm2, mlp.fc1, mlp.fc2}     -> blocks_i/{norm1, norm2, mlp/fc1, mlp/fc2}
    blocks.i.attn.{qkv, proj_l, proj_w, proj}     -> blocks_i/mixer/{qkv, proj_l, proj_w, proj}
    blocks.i.gamma_1, gamma_2                     -> blocks_i/ls1/scale, ls2/scale
    blocks_token_only.j.attn.{q, k, v, proj}      -> cls_blocks_j/attn/{q, k, v, proj}
    blocks_token_only.j.{norm1, norm2, mlp, gamma_1, gamma_2} -> cls_blocks_j/... likewise
    norm, head                                    -> norm, head
"""

from __future__ import annotations

from collections.abc import Mapping

import flax.linen as nn
import numpy as np

from mixer_vit.convert.timm_reader import TimmReader
from mixer_vit.convert.timm_registry import register_timm
from mixer_vit.convert.timm_vit import pos_embed_for_grid


def _layer_scale_block(reader: TimmReader, src: str, dst: str, attn_layers: tuple[str, ...]):
    attn_dst = "mixer" if dst.startswith("blocks_") else "attn"
    reader.norm(f"{src}.norm1", f"{dst}/norm1")
    for layer in attn_layers:
        reader.linear(f"{src}.attn.{layer}", f"{dst}/{attn_dst}/{layer}")
    reader.copy(f"{src}.gamma_1", f"{dst}/ls1/scale")
    reader.norm(f"{src}.norm2", f"{dst}/norm2")
    reader.linear(f"{src}.mlp.fc1", f"{dst}/mlp/fc1")
    reader.linear(f"{src}.mlp.fc2", f"{dst}/mlp/fc2")
    reader.copy(f"{src}.gamma_2", f"{dst}/ls2/scale")


def convert_cait(
    state_dict: Mapping[str, np.ndarray], model: nn.Module, image_size: int | None = None
) -> dict[str, np.ndarray]:
    """timm CaiT -> ours; ``pos_embed`` (no class row) resampled to ``image_size``."""
    reader = TimmReader(state_dict)
    reader.conv("patch_embed.proj", "patch_embed/proj")
    pos_embed = reader.take("pos_embed")
    reader.put("pos_embed", pos_embed_for_grid(pos_embed, 0, model.patch_size, image_size))
    reader.copy("cls_token", "cls_token")
    for i in range(reader.num_indexed("blocks")):
        attn_layers = ("qkv", "proj_l", "proj_w", "proj")
        _layer_scale_block(reader, f"blocks.{i}", f"blocks_{i}", attn_layers)
    for j in range(reader.num_indexed("blocks_token_only")):
        _layer_scale_block(
            reader, f"blocks_token_only.{j}", f"cls_blocks_{j}", ("q", "k", "v", "proj")
        )
    reader.norm("norm", "norm")
    if reader.has("head.weight"):
        reader.linear("head", "head")
    return reader.result()


CAIT_TIMM_NAMES = {
    "cait_xxs24": "cait_xxs24_224",
    "cait_xxs24_384": "cait_xxs24_384",
    "cait_xxs36": "cait_xxs36_224",
    "cait_xxs36_384": "cait_xxs36_384",
    "cait_xs24": "cait_xs24_384",
    "cait_s24": "cait_s24_224",
    "cait_s24_384": "cait_s24_384",
    "cait_s36": "cait_s36_384",
    "cait_m36": "cait_m36_384",
    "cait_m48": "cait_m48_448",
}

for _ours, _theirs in CAIT_TIMM_NAMES.items():
    register_timm(_ours, _theirs, convert_cait)
