"""Swin Transformer (Liu et al. 2021): a hierarchical MetaFormer with shifted windows.

patch embedding (4x4) -> LayerNorm
-> 4 stages; stage s > 0 starts with patch merging (grid / 2, width x 2); every stage is
   ``depths[s]`` MetaFormer blocks with the ``"window_attention"`` mixer, shifted by half a
   window on odd blocks
-> final LayerNorm -> global average pool -> head Dense(num_classes).

Registered names ``swin_t``, ``swin_s``, ``swin_b`` (timm ``swin_{tiny,small,base}_
patch4_window7_224``), LayerNorm eps 1e-5. Any image size that is a multiple of the patch
size works; a stage whose grid is not larger than the window uses one window of the grid
and no shift, and windows that do not divide the grid are padded, as in timm.

Parameter tree (Swin-T shown)::

    patch_embed/proj/{kernel [4,4,3,96], bias [96]}
    patch_embed_norm/{scale, bias} [96]
    stages_0/blocks_{i}/norm1, mixer/{qkv, proj, relative_position_bias_table [169, 3]},
                        norm2, mlp/{fc1, fc2}                   (MetaFormerBlock)
    stages_{s>0}/downsample/{norm [4C], reduction/kernel [4C, 2C]}  (PatchMerging)
    norm/{scale, bias} [768]
    head/{kernel [768, 1000], bias [1000]}                      (num_classes > 0)
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.core import FrozenDict

from mixer_vit.layers import PatchEmbed, PatchMerging, layer_norm
from mixer_vit.layers.classifier_head import classifier_head
from mixer_vit.layers.gelu import check_gelu

from .metaformer import MetaFormerBlock, stochastic_depth_rates
from .registry import register_model

SWIN_LAYER_NORM_EPS = 1e-5

# size -> (embed_dim, depths, num_heads), window 7, patch 4 (the 224 ImageNet models).
SWIN_SIZES = {
    "t": (96, (2, 2, 6, 2), (3, 6, 12, 24)),
    "s": (96, (2, 2, 18, 2), (3, 6, 12, 24)),
    "b": (128, (2, 2, 18, 2), (4, 8, 16, 32)),
}


class SwinStage(nn.Module):
    """Optional patch merging, then ``len(drop_path_rates)`` window-attention blocks.

    ``[B, H, W, C_in] -> [B, H', W', dim]`` with ``H' = ceil(H / 2)`` when ``downsample``
    (else ``H' = H`` and ``C_in`` must equal ``dim``). Block ``i`` shifts its windows by
    ``window_size // 2`` when ``i`` is odd.
    """

    dim: int
    num_heads: int
    window_size: int
    drop_path_rates: Sequence[float]
    downsample: bool
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    dropout_rate: float = 0.0
    attention_dropout_rate: float = 0.0
    norm_eps: float = SWIN_LAYER_NORM_EPS
    dtype: Any = jnp.float32
    gelu: str = "exact"

    @nn.compact
    def __call__(self, x: jax.Array, *, deterministic: bool) -> jax.Array:
        if self.downsample:
            x = PatchMerging(self.dim, self.norm_eps, dtype=self.dtype, name="downsample")(x)
        batch, height, width, channels = x.shape
        tokens = x.reshape(batch, height * width, channels)  # [B, N, C], row-major grid
        for i, rate in enumerate(self.drop_path_rates):
            mixer_kwargs = dict(
                num_heads=self.num_heads,
                window_size=self.window_size,
                shift_size=self.window_size // 2 if i % 2 else 0,
                qkv_bias=self.qkv_bias,
                attn_drop=self.attention_dropout_rate,
                proj_drop=self.dropout_rate,
            )
            tokens = MetaFormerBlock(
                mixer="window_attention",
                mixer_kwargs=FrozenDict(mixer_kwargs),
                mlp_dim=int(self.dim * self.mlp_ratio),
                dropout_rate=self.dropout_rate,
                drop_path_rate=rate,
                norm_eps=self.norm_eps,
                dtype=self.dtype,
                gelu=self.gelu,
                name=f"blocks_{i}",
            )(tokens, deterministic=deterministic, grid=(height, width))
        return tokens.reshape(batch, height, width, channels)


class SwinTransformer(nn.Module):
    """Swin classifier: images ``[B, H, W, C]`` -> logits ``[B, num_classes]`` (float32).

    Call as ``model.apply(variables, images, train=bool, rngs={'dropout': key})``. H and
    W must be multiples of ``patch_size`` (``ValueError`` otherwise). The relative
    position tables are sized for the effective windows at the init resolution, so apply
    at a resolution whose stages keep the same windows (e.g. any size whose last stage
    grid is >= ``window_size``, or the init size).

    Attributes:
      patch_size: side of the square, non-overlapping patches.
      embed_dim: width of stage 0; stage s has ``embed_dim * 2**s``.
      depths: blocks per stage.
      num_heads: attention heads per stage.
      window_size: side of the attention windows.
      mlp_ratio: channel-MLP hidden width over the stage width.
      qkv_bias: learn a bias for q, k and v.
      num_classes: head outputs; 0 means no head (pooled features are returned).
      dropout_rate: dropout in the channel MLPs and after the attention projection
        (timm's ``proj_drop_rate``).
      attention_dropout_rate: dropout on the attention weights (timm's ``attn_drop_rate``).
      head_dropout_rate: dropout before the head (timm's ``drop_rate``).
      drop_path_rate: stochastic depth of the last block, linear from 0 over all blocks.
      norm_eps: LayerNorm epsilon.
      dtype: compute dtype (parameters stay float32).
      gelu: GELU form of the channel MLPs, ``"exact"`` (erf) or ``"tanh"``.
    """

    patch_size: int = 4
    embed_dim: int = 96
    depths: Sequence[int] = (2, 2, 6, 2)
    num_heads: Sequence[int] = (3, 6, 12, 24)
    window_size: int = 7
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    num_classes: int = 1000
    dropout_rate: float = 0.0
    attention_dropout_rate: float = 0.0
    head_dropout_rate: float = 0.0
    drop_path_rate: float = 0.0
    norm_eps: float = SWIN_LAYER_NORM_EPS
    dtype: Any = jnp.float32
    gelu: str = "exact"

    def __post_init__(self):
        check_gelu(self.gelu)
        # Tuples keep the module hashable (configs may pass lists); fail on bad settings
        # before anything is traced.
        object.__setattr__(self, "depths", tuple(int(d) for d in self.depths))
        object.__setattr__(self, "num_heads", tuple(int(h) for h in self.num_heads))
        if len(self.depths) != len(self.num_heads) or not self.depths:
            raise ValueError(
                f"depths {self.depths} and num_heads {self.num_heads} need one entry per stage."
            )
        for field in ("patch_size", "embed_dim", "window_size"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be >= 1, got {getattr(self, field)}.")
        if min(self.depths) < 1:
            raise ValueError(f"every stage needs >= 1 block, got depths={self.depths}.")
        for stage, heads in enumerate(self.num_heads):
            width = self.embed_dim * 2**stage
            if heads < 1 or width % heads:
                raise ValueError(
                    f"stage {stage} width {width} is not divisible by num_heads={heads}."
                )
        for field in ("dropout_rate", "attention_dropout_rate", "head_dropout_rate"):
            if not 0.0 <= getattr(self, field) < 1.0:
                raise ValueError(f"{field} must be in [0, 1), got {getattr(self, field)}.")
        if not 0.0 <= self.drop_path_rate < 1.0:
            raise ValueError(f"drop_path_rate must be in [0, 1), got {self.drop_path_rate}.")
        super().__post_init__()

    @nn.compact
    def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
        deterministic = not train
        x = PatchEmbed(self.patch_size, self.embed_dim, dtype=self.dtype, name="patch_embed")(
            images
        )  # [B, N, D]; raises ValueError for sizes not divisible by patch_size
        x = layer_norm(self.norm_eps, dtype=self.dtype, name="patch_embed_norm")(x)
        batch = x.shape[0]
        x = x.reshape(batch, images.shape[1] // self.patch_size, -1, self.embed_dim)

        rates = stochastic_depth_rates(self.drop_path_rate, sum(self.depths))
        start = 0
        for stage, (depth, heads) in enumerate(zip(self.depths, self.num_heads)):
            x = SwinStage(
                dim=self.embed_dim * 2**stage,
                num_heads=heads,
                window_size=self.window_size,
                drop_path_rates=tuple(rates[start : start + depth]),
                downsample=stage > 0,
                mlp_ratio=self.mlp_ratio,
                qkv_bias=self.qkv_bias,
                dropout_rate=self.dropout_rate,
                attention_dropout_rate=self.attention_dropout_rate,
                norm_eps=self.norm_eps,
                dtype=self.dtype,
                gelu=self.gelu,
                name=f"stages_{stage}",
            )(x, deterministic=deterministic)  # [B, H_s, W_s, C_s]
            start += depth

        x = layer_norm(self.norm_eps, dtype=self.dtype, name="norm")(x)
        x = x.mean(axis=(1, 2))  # [B, C]
        if self.num_classes > 0:
            x = nn.Dropout(self.head_dropout_rate)(x, deterministic=deterministic)
        return classifier_head(x, self.num_classes, self.dtype)


def swin(
    *, embed_dim: int, depths: Sequence[int], num_heads: Sequence[int], **overrides: Any
) -> SwinTransformer:
    """A Swin Transformer of the given size; ``overrides`` are ``SwinTransformer`` fields."""
    fields = dict(patch_size=4, window_size=7, embed_dim=embed_dim, depths=depths)
    return SwinTransformer(**{**fields, "num_heads": num_heads, **overrides})


for _size, (_dim, _depths, _heads) in SWIN_SIZES.items():
    register_model(f"swin_{_size}")(
        functools.partial(swin, embed_dim=_dim, depths=_depths, num_heads=_heads)
    )
