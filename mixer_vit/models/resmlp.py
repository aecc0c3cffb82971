"""ResMLP (Touvron et al., "ResMLP: Feedforward networks for image classification with
data-efficient training").

patch embedding (16x16) -> depth x (Affine -> cross-patch linear -> layer-scale
-> drop path -> residual, Affine -> channel MLP -> layer-scale -> drop path -> residual)
-> Affine -> global average pool -> head.

Layer-scale starts at 1e-4 / 1e-5 / 1e-6 for depth 12 / 24 / 36, as in timm
(``resmlp_{12,24,36}_224``). Registered names ``resmlp_{12,24,36}``. The cross-patch
linear layer is ``[N, N]``, so the image size is fixed by the one used at init.

Parameter tree (``blocks_{i}``)::

    patch_embed/proj/{kernel [16,16,3,384], bias [384]}
    blocks_0/norm1/{alpha, beta}
    blocks_0/mixer/linear/{kernel [N,N], bias [N]}
    blocks_0/layer_scale1/scale [384]
    blocks_0/norm2/{alpha, beta}
    blocks_0/mlp/{fc1 [384,1536], fc2 [1536,384]}/{kernel, bias}
    blocks_0/layer_scale2/scale [384]
    norm/{alpha, beta}
    head/{kernel [384,1000], bias [1000]}
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from mixer_vit.layers import Affine, DropPath, Mlp, PatchEmbed, make_mixer
from mixer_vit.layers.gelu import check_gelu
from mixer_vit.layers.classifier_head import classifier_head
from mixer_vit.layers.layer_scale import LayerScale

from .registry import register_model

# depth -> layer-scale init (timm's resmlp_{depth}_224)
RESMLP_LAYER_SCALE = {12: 1e-4, 24: 1e-5, 36: 1e-6}


class ResMlpBlock(nn.Module):
    """One ResMLP block, ``[B, N, D] -> [B, N, D]``."""

    mlp_dim: int
    layer_scale_init: float
    dropout_rate: float = 0.0
    drop_path_rate: float = 0.0
    dtype: Any = jnp.float32
    gelu: str = "exact"

    @nn.compact
    def __call__(self, x: jax.Array, *, deterministic: bool) -> jax.Array:
        drop_path = DropPath(self.drop_path_rate)
        scale = functools.partial(LayerScale, self.layer_scale_init, dtype=self.dtype)

        y = Affine(dtype=self.dtype, name="norm1")(x)
        y = make_mixer("linear", dtype=self.dtype, name="mixer")(y, deterministic=deterministic)
        x = x + drop_path(scale(name="layer_scale1")(y), deterministic=deterministic)

        y = Affine(dtype=self.dtype, name="norm2")(x)
        mlp = Mlp(
            self.mlp_dim, dropout=self.dropout_rate, dtype=self.dtype, gelu=self.gelu, name="mlp"
        )
        y = mlp(y, deterministic=deterministic)
        x = x + drop_path(scale(name="layer_scale2")(y), deterministic=deterministic)
        self.sow("intermediates", "output", x)  # [B, N, D]; only when collected
        return x


class ResMlp(nn.Module):
    """ResMLP classifier: images ``[B, H, W, C]`` -> logits ``[B, num_classes]`` (float32).

    H and W must be multiples of ``patch_size``, and equal to the size used at init (the
    token-mixing layer is ``[N, N]``). ``num_classes=0`` returns pooled features
    ``[B, embed_dim]``. Drop-path rates rise linearly from 0 to ``drop_path_rate``.
    ``gelu``: GELU form of the channel MLPs, ``"exact"`` (erf) or ``"tanh"``.
    """

    patch_size: int = 16
    embed_dim: int = 384
    depth: int = 12
    mlp_ratio: float = 4.0
    layer_scale_init: float = 1e-4
    num_classes: int = 1000
    dropout_rate: float = 0.0
    drop_path_rate: float = 0.0
    dtype: Any = jnp.float32
    gelu: str = "exact"

    def __post_init__(self):
        check_gelu(self.gelu)
        for field in ("patch_size", "embed_dim", "depth"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be >= 1, got {getattr(self, field)}.")
        for field in ("dropout_rate", "drop_path_rate"):
            if not 0.0 <= getattr(self, field) < 1.0:
                raise ValueError(f"{field} must be in [0, 1), got {getattr(self, field)}.")
        super().__post_init__()

    @nn.compact
    def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
        deterministic = not train
        x = PatchEmbed(self.patch_size, self.embed_dim, dtype=self.dtype, name="patch_embed")(
            images
        )  # [B, N, D]
        mlp_dim = int(self.embed_dim * self.mlp_ratio)
        for i in range(self.depth):
            rate = self.drop_path_rate * i / max(self.depth - 1, 1)
            x = ResMlpBlock(
                mlp_dim=mlp_dim,
                layer_scale_init=self.layer_scale_init,
                dropout_rate=self.dropout_rate,
                drop_path_rate=rate,
                dtype=self.dtype,
                gelu=self.gelu,
                name=f"blocks_{i}",
            )(x, deterministic=deterministic)
        x = Affine(dtype=self.dtype, name="norm")(x).mean(axis=1)  # [B, D]
        x = nn.Dropout(self.dropout_rate)(x, deterministic=deterministic)
        return classifier_head(x, self.num_classes, self.dtype)


for _depth, _init in RESMLP_LAYER_SCALE.items():
    register_model(f"resmlp_{_depth}")(
        functools.partial(ResMlp, depth=_depth, layer_scale_init=_init)
    )
