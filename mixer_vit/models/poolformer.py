"""PoolFormer (Yu et al., "MetaFormer is actually what you need for vision"): the
hierarchical MetaFormer with the pooling token mixer.

Sizes follow the paper / timm: GroupNorm(1 group, eps 1e-5) block norms, MLP ratio 4,
exact GELU, layer-scale 1e-5 (S12, S24) or 1e-6 (S36, M36, M48), stem 7x7 stride 4.
Registered names ``poolformer_{s12,s24,s36,m36,m48}``.
"""

from __future__ import annotations

import functools
from typing import Any

from .hierarchical_metaformer import HierarchicalMetaFormer
from .registry import register_model

# name -> (depths, dims, layer_scale_init)
POOLFORMER_SIZES = {
    "s12": ((2, 2, 6, 2), (64, 128, 320, 512), 1e-5),
    "s24": ((4, 4, 12, 4), (64, 128, 320, 512), 1e-5),
    "s36": ((6, 6, 18, 6), (64, 128, 320, 512), 1e-6),
    "m36": ((6, 6, 18, 6), (96, 192, 384, 768), 1e-6),
    "m48": ((8, 8, 24, 8), (96, 192, 384, 768), 1e-6),
}


def poolformer(
    *, depths: tuple[int, ...], dims: tuple[int, ...], layer_scale_init: float, **overrides: Any
) -> HierarchicalMetaFormer:
    """A PoolFormer; ``overrides`` are ``HierarchicalMetaFormer`` fields (``mixer`` too)."""
    fields = dict(
        depths=depths,
        dims=dims,
        mixer="pooling",
        mixer_kwargs={"pool_size": 3},
        mlp_ratio=4.0,
        patch_size=4,
        stem_kernel_size=7,
        stem_padding=2,
        norm="group",
        norm_eps=1e-5,
        head_norm_eps=1e-6,
        layer_scale_init=layer_scale_init,
    )
    if "mixer" in overrides and "mixer_kwargs" not in overrides:
        fields["mixer_kwargs"] = {}  # pooling's settings do not apply to another mixer
    return HierarchicalMetaFormer(**{**fields, **overrides})


for _name, (_depths, _dims, _ls) in POOLFORMER_SIZES.items():
    register_model(f"poolformer_{_name}")(
        functools.partial(poolformer, depths=_depths, dims=_dims, layer_scale_init=_ls)
    )
