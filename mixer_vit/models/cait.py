"""CaiT (Touvron et al. 2021, "Going deeper with Image Transformers").

patch embedding -> + position embedding (patches only) -> dropout
-> depth x talking-heads self-attention blocks with layer-scale (patch tokens only)
-> the class token enters: depth_token_only x class-attention blocks (only it is updated)
-> norm -> head on the class token.

Registered names ``cait_{size}{depth}`` at timm's resolutions: xxs24, xxs36, s24 at 224;
xs24, s36, m36 at 384 (the only resolution timm has for them), m48 at 448; and
``cait_xxs24_384``, ``cait_xxs36_384``, ``cait_s24_384`` for the 384 versions.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from mixer_vit.layers import ClassAttention, DropPath, LayerScale, Mlp, PatchEmbed, layer_norm
from mixer_vit.layers.classifier_head import classifier_head
from mixer_vit.layers.gelu import check_gelu

from .metaformer import MetaFormerBlock
from .registry import register_model


class ClassAttentionBlock(nn.Module):
    """Updates the class token from all tokens; the patch tokens pass through unchanged.

    ``(patches [B, N, D], cls [B, 1, D]) -> cls [B, 1, D]``:
    ``cls += ls1 * ClassAttention(norm1([cls, patches]))``, then
    ``cls += ls2 * Mlp(norm2(cls))``. Parameters: ``norm1``, ``attn/{q,k,v,proj}``,
    ``ls1/scale``, ``norm2``, ``mlp/{fc1,fc2}``, ``ls2/scale``.
    """

    num_heads: int
    mlp_dim: int
    layer_scale_init: float
    dropout_rate: float = 0.0
    drop_path_rate: float = 0.0
    norm_eps: float = 1e-6
    dtype: Any = jnp.float32
    gelu: str = "exact"

    @nn.compact
    def __call__(self, patches: jax.Array, cls: jax.Array, *, deterministic: bool) -> jax.Array:
        drop_path = DropPath(self.drop_path_rate)
        tokens = jnp.concatenate([cls, patches], axis=1)  # [B, 1 + N, D]
        y = layer_norm(self.norm_eps, dtype=self.dtype, name="norm1")(tokens)
        y = ClassAttention(
            self.num_heads, proj_drop=self.dropout_rate, dtype=self.dtype, name="attn"
        )(y, deterministic=deterministic)
        y = LayerScale(self.layer_scale_init, dtype=self.dtype, name="ls1")(y)
        cls = cls + drop_path(y, deterministic=deterministic)

        y = layer_norm(self.norm_eps, dtype=self.dtype, name="norm2")(cls)
        mlp = Mlp(
            self.mlp_dim, dropout=self.dropout_rate, dtype=self.dtype, gelu=self.gelu, name="mlp"
        )
        y = mlp(y, deterministic=deterministic)
        y = LayerScale(self.layer_scale_init, dtype=self.dtype, name="ls2")(y)
        cls = cls + drop_path(y, deterministic=deterministic)
        self.sow("intermediates", "output", cls)  # [B, 1, D]; only when collected
        return cls


class CaiT(nn.Module):
    """CaiT classifier: images ``[B, H, W, C]`` -> logits ``[B, num_classes]`` (float32).

    Call as ``model.apply(variables, images, train=bool, rngs={'dropout': key})``. With
    ``num_classes=0`` it returns the normalised class token ``[B, embed_dim]``. The image
    size is fixed at init by the position embedding.

    Parameter tree (CaiT-S24 shown)::

        patch_embed/proj/{kernel [16,16,3,384], bias}
        pos_embed [1,196,384]                      (patch tokens only; no class slot)
        blocks_{i}/norm1, blocks_{i}/mixer/{qkv, proj_l [8,8], proj_w [8,8], proj},
        blocks_{i}/ls1/scale, blocks_{i}/norm2, blocks_{i}/mlp/{fc1,fc2}, blocks_{i}/ls2/scale
        cls_token [1,1,384]
        cls_blocks_{j}/...                         (ClassAttentionBlock)
        norm/{scale, bias}
        head/{kernel [384,1000], bias}

    Attributes:
      patch_size, embed_dim, depth, num_heads: the patch-token trunk.
      layer_scale_init: initial layer-scale gain (1e-5 up to depth 24, 1e-6 beyond).
      depth_token_only: number of class-attention blocks.
      mlp_ratio, mlp_ratio_token_only: MLP widths of the two kinds of blocks.
      dropout_rate: after the position embedding, in MLPs and attention outputs.
      attn_drop_rate: dropout on the self-attention weights.
      drop_path_rate: stochastic depth of every self-attention block (the same for all,
        as in CaiT); the class-attention blocks have none.
      gelu: GELU form of every MLP, ``"exact"`` (erf) or ``"tanh"``.
    """

    patch_size: int
    embed_dim: int
    depth: int
    num_heads: int
    layer_scale_init: float = 1e-5
    depth_token_only: int = 2
    mlp_ratio: float = 4.0
    mlp_ratio_token_only: float = 4.0
    num_classes: int = 1000
    dropout_rate: float = 0.0
    attn_drop_rate: float = 0.0
    drop_path_rate: float = 0.0
    norm_eps: float = 1e-6
    dtype: Any = jnp.float32
    gelu: str = "exact"

    def __post_init__(self):
        check_gelu(self.gelu)
        super().__post_init__()

    @nn.compact
    def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
        deterministic = not train
        x = PatchEmbed(self.patch_size, self.embed_dim, dtype=self.dtype, name="patch_embed")(
            images
        )  # [B, N, D]
        batch, num_patches, dim = x.shape
        grid = (images.shape[1] // self.patch_size, images.shape[2] // self.patch_size)
        init = nn.initializers.normal(stddev=0.02)
        x = x + self.param("pos_embed", init, (1, num_patches, dim)).astype(x.dtype)
        x = nn.Dropout(self.dropout_rate)(x, deterministic=deterministic)

        mixer_kwargs = {
            "num_heads": self.num_heads,
            "attn_drop": self.attn_drop_rate,
            "proj_drop": self.dropout_rate,
        }
        for i in range(self.depth):
            x = MetaFormerBlock(
                mixer="talking_heads_attention",
                mixer_kwargs=mixer_kwargs,
                mlp_dim=int(dim * self.mlp_ratio),
                dropout_rate=self.dropout_rate,
                drop_path_rate=self.drop_path_rate,
                norm_eps=self.norm_eps,
                layer_scale_init=self.layer_scale_init,
                dtype=self.dtype,
                gelu=self.gelu,
                name=f"blocks_{i}",
            )(x, deterministic=deterministic, grid=grid)

        cls = self.param("cls_token", init, (1, 1, dim)).astype(x.dtype)
        cls = jnp.broadcast_to(cls, (batch, 1, dim))
        for j in range(self.depth_token_only):
            cls = ClassAttentionBlock(
                num_heads=self.num_heads,
                mlp_dim=int(dim * self.mlp_ratio_token_only),
                layer_scale_init=self.layer_scale_init,
                norm_eps=self.norm_eps,
                dtype=self.dtype,
                gelu=self.gelu,
                name=f"cls_blocks_{j}",
            )(x, cls, deterministic=deterministic)

        # timm normalises [cls, patches] and reads the class token: LayerNorm is per
        # token, so normalising the class token alone is the same.
        x = layer_norm(self.norm_eps, dtype=self.dtype, name="norm")(cls[:, 0])  # [B, D]
        return classifier_head(x, self.num_classes, self.dtype)


# name -> (embed_dim, depth, num_heads, layer_scale_init, default image size); patch 16.
CAIT_VARIANTS = {
    "cait_xxs24": (192, 24, 4, 1e-5, 224),
    "cait_xxs24_384": (192, 24, 4, 1e-5, 384),
    "cait_xxs36": (192, 36, 4, 1e-5, 224),
    "cait_xxs36_384": (192, 36, 4, 1e-5, 384),
    "cait_xs24": (288, 24, 6, 1e-5, 384),
    "cait_s24": (384, 24, 8, 1e-5, 224),
    "cait_s24_384": (384, 24, 8, 1e-5, 384),
    "cait_s36": (384, 36, 8, 1e-6, 384),
    "cait_m36": (768, 36, 16, 1e-6, 384),
    "cait_m48": (768, 48, 16, 1e-6, 448),
}

for _name, (_dim, _depth, _heads, _init, _size) in CAIT_VARIANTS.items():
    register_model(_name, default_image_size=_size)(
        functools.partial(
            CaiT,
            patch_size=16,
            embed_dim=_dim,
            depth=_depth,
            num_heads=_heads,
            layer_scale_init=_init,
        )
    )
