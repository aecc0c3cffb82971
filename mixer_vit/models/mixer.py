"""MLP-Mixer variants: MetaFormer with the token-mixing MLP and a global-average-pool head.

Sizes follow Tolstikhin et al. / timm: S, B, L, H with channel MLP 4 x D, token MLP
D / 2 and LayerNorm eps 1e-6. Registered names are ``mixer_{size}{patch}``.
"""

from __future__ import annotations

import functools
from typing import Any

from .metaformer import MetaFormer, metaformer_variant
from .registry import register_model

# size -> (embed_dim, depth, tokens_mlp_dim); channels_mlp_dim is 4 * embed_dim.
MIXER_SIZES = {
    "s": (512, 8, 256),
    "b": (768, 12, 384),
    "l": (1024, 24, 512),
    "h": (1280, 32, 640),
}
# registered (size, patch_size) pairs, as in the MLP-Mixer paper.
MIXER_VARIANTS = (("s", 16), ("s", 32), ("b", 16), ("b", 32), ("l", 16), ("l", 32), ("h", 14))


def mlp_mixer(
    *, patch_size: int, embed_dim: int, depth: int, tokens_mlp_dim: int, **overrides: Any
) -> MetaFormer:
    """An MLP-Mixer MetaFormer; ``overrides`` are MetaFormer fields.

    ``dropout_rate`` also sets the token-mixing MLP dropout (as timm's ``drop_rate``);
    ``mixer_kwargs`` are merged over ``{"tokens_mlp_dim": ..., "dropout": ...}`` unless
    ``mixer`` is overridden to another mixer.
    """
    fields = dict(
        patch_size=patch_size,
        embed_dim=embed_dim,
        depth=depth,
        mlp_ratio=4.0,
        use_class_token=False,
        use_pos_embed=False,
        pool="gap",
        norm_eps=1e-6,
    )
    mixer_kwargs = {"tokens_mlp_dim": tokens_mlp_dim, "dropout": overrides.get("dropout_rate", 0.0)}
    return metaformer_variant("mlp", mixer_kwargs, fields, overrides)


for _size, _patch in MIXER_VARIANTS:
    _dim, _depth, _tokens_dim = MIXER_SIZES[_size]
    register_model(f"mixer_{_size}{_patch}")(
        functools.partial(
            mlp_mixer, patch_size=_patch, embed_dim=_dim, depth=_depth, tokens_mlp_dim=_tokens_dim
        )
    )
