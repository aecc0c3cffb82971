"""Vision Transformer (ViT) variants: MetaFormer with attention, class token, pos embed.

Sizes follow Dosovitskiy et al. / timm: Ti, S, B, L, H with MLP ratio 4 and
LayerNorm eps 1e-6. Registered names are ``vit_{size}{patch}`` (``vit_b16``, ...).
"""

from __future__ import annotations

import functools
from typing import Any

from .metaformer import MetaFormer, metaformer_variant
from .registry import register_model

# size -> (embed_dim, depth, num_heads)
VIT_SIZES = {
    "ti": (192, 12, 3),
    "s": (384, 12, 6),
    "b": (768, 12, 12),
    "l": (1024, 24, 16),
    "h": (1280, 32, 16),
}
# registered (size, patch_size) pairs: the standard ones from the ViT / AugReg papers.
VIT_VARIANTS = (
    ("ti", 16),
    ("s", 16),
    ("s", 32),
    ("b", 8),
    ("b", 16),
    ("b", 32),
    ("l", 16),
    ("l", 32),
    ("h", 14),
)


def vit(
    *, patch_size: int, embed_dim: int, depth: int, num_heads: int, **overrides: Any
) -> MetaFormer:
    """A ViT MetaFormer; ``overrides`` are MetaFormer fields.

    ``dropout_rate`` also sets the attention output dropout (``proj_drop``), as timm's
    ``drop_rate`` does; ``mixer_kwargs`` are merged over ``{"num_heads": ..., "proj_drop": ...}``
    unless ``mixer`` is overridden to another mixer.
    """
    fields = dict(
        patch_size=patch_size,
        embed_dim=embed_dim,
        depth=depth,
        mlp_ratio=4.0,
        use_class_token=True,
        use_pos_embed=True,
        pool="token",
        norm_eps=1e-6,
    )
    mixer_kwargs = {"num_heads": num_heads, "proj_drop": overrides.get("dropout_rate", 0.0)}
    return metaformer_variant("attention", mixer_kwargs, fields, overrides)


for _size, _patch in VIT_VARIANTS:
    _dim, _depth, _heads = VIT_SIZES[_size]
    register_model(f"vit_{_size}{_patch}")(
        functools.partial(vit, patch_size=_patch, embed_dim=_dim, depth=_depth, num_heads=_heads)
    )

# Global-average-pool ViTs without a class token (timm's ``vit_*_gap_224``: 16 heads,
# position embedding over the patches only). Any ViT becomes one with the overrides
# ``use_class_token=False, pool="gap"``; the sin-cos position embedding of big_vision's
# "simple ViT" is ``pos_embed_type="sincos2d"``.
VIT_GAP_VARIANTS = (("b", 16), ("h", 14))

for _size, _patch in VIT_GAP_VARIANTS:
    _dim, _depth, _ = VIT_SIZES[_size]
    register_model(f"vit_{_size}{_patch}_gap")(
        functools.partial(
            vit,
            patch_size=_patch,
            embed_dim=_dim,
            depth=_depth,
            num_heads=16,
            use_class_token=False,
            pool="gap",
        )
    )

# A small ViT for small images (28x28, 10 classes, e.g. MNIST / Fashion-MNIST): patch 4
# gives a 7x7 grid plus the class token, 50 tokens of width 128 in 6 blocks of 4 heads.
register_model("vit_mini_p4", default_image_size=28)(
    functools.partial(vit, patch_size=4, embed_dim=128, depth=6, num_heads=4, num_classes=10)
)
