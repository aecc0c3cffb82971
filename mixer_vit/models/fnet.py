"""FNet-style vision models: the isotropic MetaFormer with the Fourier token mixer.

FNet (Lee-Thorp et al., 2021) replaces self-attention by the real part of a 2-D DFT over
tokens and channels. Here it mixes ViT-sized patch tokens: learned position embedding
(the DFT mixes all tokens; the embedding tells it where each one came from), no class
token, global average pooling, MLP ratio 4, LayerNorm eps 1e-6. Because the backbone is
pre-norm, the mixer uses the unitary (``"ortho"``) DFT; see ``layers/fourier_mixer.py``.
Registered names ``fnet_{ti,s,b}16``.
"""

from __future__ import annotations

import functools
from typing import Any

from .metaformer import MetaFormer, metaformer_variant
from .registry import register_model

# size -> (embed_dim, depth), as ViT's
FNET_SIZES = {"ti": (192, 12), "s": (384, 12), "b": (768, 12)}


def fnet(*, patch_size: int, embed_dim: int, depth: int, **overrides: Any) -> MetaFormer:
    """An FNet MetaFormer; ``overrides`` are MetaFormer fields. ``mixer_kwargs`` are merged
    over ``{"implementation": "fft", "normalization": "ortho"}`` unless ``mixer`` changes."""
    fields = dict(
        patch_size=patch_size,
        embed_dim=embed_dim,
        depth=depth,
        mlp_ratio=4.0,
        use_class_token=False,
        use_pos_embed=True,
        pool="gap",
        norm_eps=1e-6,
    )
    mixer_kwargs = {"implementation": "fft", "normalization": "ortho"}
    return metaformer_variant("fourier", mixer_kwargs, fields, overrides)


for _size, (_dim, _depth) in FNET_SIZES.items():
    register_model(f"fnet_{_size}16")(
        functools.partial(fnet, patch_size=16, embed_dim=_dim, depth=_depth)
    )
