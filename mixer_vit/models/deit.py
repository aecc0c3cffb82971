"""DeiT (Touvron et al. 2021): ViT trained data-efficiently, optionally with a
distillation token whose own head learns from a teacher.

Plain DeiT (``deit_ti16``, ``deit_s16``, ``deit_b16``) is exactly a ViT (same module and
parameter tree as ``vit_*``). Distilled DeiT (``deit_*_distilled``) adds a second learned
token after the class token and a second head reading it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.core import FrozenDict

from mixer_vit.layers import PatchEmbed, check_mixer_kwargs, layer_norm
from mixer_vit.layers.gelu import check_gelu

from .metaformer import MetaFormerBlock, stochastic_depth_rates
from .registry import register_model
from .vit import VIT_SIZES, vit


INFERENCE_HEADS = ("both", "class", "distillation")


class DistilledViT(nn.Module):
    """ViT with class and distillation tokens: images ``[B, H, W, C]`` -> logits.

    Returns logits ``[B, num_classes]``: by ``inference_head``, the average of the
    class-token head and the distillation-token head (``"both"``, DeiT's default), the
    class-token head alone (``"class"``) or the distillation-token head alone
    (``"distillation"``; DeiT Table 3 compares the three), except when called with
    ``train=True`` and ``distilled_training`` set, where it returns the pair
    ``(logits_cls, logits_dist)`` (each ``[B, num_classes]``) for a distillation loss (as
    timm's ``set_distilled_training``). With ``num_classes=0`` it returns the average of
    the two normalised tokens, ``[B, embed_dim]``.

    Parameter tree (DeiT-S shown)::

        patch_embed/proj/{kernel [16,16,3,384], bias}
        cls_token [1,1,384], dist_token [1,1,384]
        pos_embed [1,198,384]          (covers both tokens, as in timm)
        blocks_{i}/...                 (as MetaFormer's attention blocks)
        norm/{scale, bias}
        head/{kernel, bias}, head_dist/{kernel, bias}

    Fields mean what they mean in ``MetaFormer``; the image size is fixed at init by the
    position embedding.
    """

    patch_size: int
    embed_dim: int
    depth: int
    mixer: str = "attention"
    mixer_kwargs: Mapping[str, Any] = FrozenDict()
    mlp_ratio: float = 4.0
    num_classes: int = 1000
    dropout_rate: float = 0.0
    drop_path_rate: float = 0.0
    norm_eps: float = 1e-6
    distilled_training: bool = False
    inference_head: str = "both"  # both | class | distillation (the logits outside training)
    dtype: Any = jnp.float32
    gelu: str = "exact"

    def __post_init__(self):
        object.__setattr__(self, "mixer_kwargs", FrozenDict(self.mixer_kwargs))
        check_mixer_kwargs(self.mixer, dict(self.mixer_kwargs))
        check_gelu(self.gelu)
        if self.inference_head not in INFERENCE_HEADS:
            raise ValueError(
                f"inference_head must be one of {', '.join(INFERENCE_HEADS)}, got "
                f"{self.inference_head!r}"
            )
        super().__post_init__()

    @nn.compact
    def __call__(
        self, images: jax.Array, train: bool = False
    ) -> jax.Array | tuple[jax.Array, jax.Array]:
        deterministic = not train
        x = PatchEmbed(self.patch_size, self.embed_dim, dtype=self.dtype, name="patch_embed")(
            images
        )  # [B, N, D]
        batch, _, dim = x.shape
        grid = (images.shape[1] // self.patch_size, images.shape[2] // self.patch_size)

        init = nn.initializers.normal(stddev=0.02)
        tokens = [
            jnp.broadcast_to(self.param(name, init, (1, 1, dim)).astype(x.dtype), (batch, 1, dim))
            for name in ("cls_token", "dist_token")
        ]
        x = jnp.concatenate([*tokens, x], axis=1)  # [B, 2 + N, D]
        pos_embed = self.param("pos_embed", init, (1, x.shape[1], dim))
        x = x + pos_embed.astype(x.dtype)
        x = nn.Dropout(self.dropout_rate)(x, deterministic=deterministic)

        mlp_dim = int(self.embed_dim * self.mlp_ratio)
        for i, rate in enumerate(stochastic_depth_rates(self.drop_path_rate, self.depth)):
            x = MetaFormerBlock(
                mixer=self.mixer,
                mixer_kwargs=self.mixer_kwargs,
                mlp_dim=mlp_dim,
                dropout_rate=self.dropout_rate,
                drop_path_rate=rate,
                norm_eps=self.norm_eps,
                dtype=self.dtype,
                gelu=self.gelu,
                name=f"blocks_{i}",
            )(x, deterministic=deterministic, grid=grid)
        x = layer_norm(self.norm_eps, dtype=self.dtype, name="norm")(x)
        x_cls, x_dist = x[:, 0], x[:, 1]  # [B, D] each

        if self.num_classes == 0:
            return ((x_cls + x_dist) / 2).astype(jnp.float32)
        head = functools.partial(
            nn.Dense,
            self.num_classes,
            dtype=self.dtype,
            kernel_init=nn.initializers.zeros,
            bias_init=nn.initializers.zeros,
        )
        logits_cls = head(name="head")(x_cls).astype(jnp.float32)
        logits_dist = head(name="head_dist")(x_dist).astype(jnp.float32)
        if train and self.distilled_training:
            return logits_cls, logits_dist
        if self.inference_head == "class":
            return logits_cls
        if self.inference_head == "distillation":
            return logits_dist
        return (logits_cls + logits_dist) / 2


def distilled_vit(
    *, patch_size: int, embed_dim: int, depth: int, num_heads: int, **overrides: Any
) -> DistilledViT:
    """A distilled DeiT; ``overrides`` are ``DistilledViT`` fields.

    ``dropout_rate`` also sets the attention output dropout, as in ``vit``;
    ``mixer_kwargs`` are merged over ``{"num_heads": ..., "proj_drop": ...}``.
    """
    overrides = dict(overrides)
    defaults = {"num_heads": num_heads, "proj_drop": overrides.get("dropout_rate", 0.0)}
    if overrides.get("mixer", "attention") != "attention":
        defaults = {}
    mixer_kwargs = {**defaults, **overrides.pop("mixer_kwargs", {})}
    return DistilledViT(
        patch_size=patch_size,
        embed_dim=embed_dim,
        depth=depth,
        mixer_kwargs=mixer_kwargs,
        **overrides,
    )


# DeiT uses the ViT Ti/S/B shapes at patch 16.
DEIT_SIZES = ("ti", "s", "b")

for _size in DEIT_SIZES:
    _dim, _depth, _heads = VIT_SIZES[_size]
    _shape = {"patch_size": 16, "embed_dim": _dim, "depth": _depth, "num_heads": _heads}
    register_model(f"deit_{_size}16")(functools.partial(vit, **_shape))
    register_model(f"deit_{_size}16_distilled")(functools.partial(distilled_vit, **_shape))
_base = {"patch_size": 16, "embed_dim": 768, "depth": 12, "num_heads": 12}
register_model("deit_b16_384", default_image_size=384)(functools.partial(vit, **_base))
register_model("deit_b16_distilled_384", default_image_size=384)(
    functools.partial(distilled_vit, **_base)
)
