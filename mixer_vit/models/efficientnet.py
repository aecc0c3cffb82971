"""EfficientNet B0-B7 (Tan & Le 2019), as timm's non-``tf_`` ``efficientnet_b0`` ... ``_b7``.

Compound scaling: from the B0 baseline, depth scales by ``alpha**phi``, width by
``beta**phi`` and resolution by ``gamma**phi`` (alpha=1.2, beta=1.1, gamma=1.15, chosen
so that alpha * beta**2 * gamma**2 ~ 2). The official per-variant table below rounds
these (its multipliers are the paper's / TF reference's, also used by timm); the network
is then derived from the B0 spec with two rules: channels ``round_channels(c * width)``
(nearest multiple of 8, never more than 10% below) and repeats ``ceil(r * depth)``.

Registered resolutions are the table's (224, 240, 260, 300, 380, 456, 528, 600), which
are the paper's. timm's trained weights use other sizes for some variants (b2 256/288,
b3 288/320, b4 320/384, b5 448 train/test); any size >= 32 works.

Blocks: MBConv (1x1 expand, depthwise kxk with the stride, squeeze-excite with SiLU on a
quarter of the block's *input* channels, 1x1 project; residual + drop path when the
shape is kept); stage 1 is the depthwise-separable block without expansion. BatchNorm
eps 1e-5, torch momentum 0.1; SiLU; PyTorch-style symmetric padding as timm's non-tf
models (not TF 'SAME').
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from mixer_vit.layers import DropPath
from mixer_vit.layers.batch_norm import batch_norm
from mixer_vit.layers.conv_padding import torch_padding
from mixer_vit.layers.squeeze_excite import SqueezeExcite

from .convnet_input import check_convnet_images, linear_drop_path_rates
from .registry import register_model

ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15  # depth, width, resolution bases of compound scaling
CONV_INIT = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
# depthwise [k, k, 1, C]: timm's fan_out is k*k*C/groups = k*k, which is Flax's fan_in here
DEPTHWISE_INIT = nn.initializers.variance_scaling(2.0, "fan_in", "normal")


@dataclasses.dataclass(frozen=True)
class StageSpec:
    """One stage of the B0 baseline: ``repeats`` blocks of kernel ``kernel``, the first
    with ``stride``, expansion ``expand`` (1 = depthwise-separable block), ``channels``
    outputs and squeeze-excite ratio ``se_ratio`` of the block input channels."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    channels: int
    se_ratio: float = 0.25


B0_STAGES = (
    StageSpec(1, 3, 1, 1, 16),
    StageSpec(2, 3, 2, 6, 24),
    StageSpec(2, 5, 2, 6, 40),
    StageSpec(3, 3, 2, 6, 80),
    StageSpec(3, 5, 1, 6, 112),
    StageSpec(4, 5, 2, 6, 192),
    StageSpec(1, 3, 1, 6, 320),
)
B0_STEM_CHANNELS = 32
B0_HEAD_CHANNELS = 1280

# variant -> (width multiplier, depth multiplier, resolution, dropout rate): the paper's table
EFFICIENTNET_TABLE = {
    "efficientnet_b0": (1.0, 1.0, 224, 0.2),
    "efficientnet_b1": (1.0, 1.1, 240, 0.2),
    "efficientnet_b2": (1.1, 1.2, 260, 0.3),
    "efficientnet_b3": (1.2, 1.4, 300, 0.3),
    "efficientnet_b4": (1.4, 1.8, 380, 0.4),
    "efficientnet_b5": (1.6, 2.2, 456, 0.4),
    "efficientnet_b6": (1.8, 2.6, 528, 0.5),
    "efficientnet_b7": (2.0, 3.1, 600, 0.5),
}


def round_channels(channels: float, multiplier: float = 1.0, divisor: int = 8) -> int:
    """``channels * multiplier`` to the nearest multiple of ``divisor`` (at least
    ``divisor``), bumped up one step if that lost more than 10%."""
    value = channels * multiplier
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def round_repeats(repeats: int, multiplier: float) -> int:
    """Blocks in a scaled stage: ``ceil(repeats * multiplier)``."""
    return math.ceil(repeats * multiplier)


def scaled_stages(width: float, depth: float) -> tuple[StageSpec, ...]:
    """The B0 stages with channels and repeats scaled by ``width`` and ``depth``."""
    return tuple(
        dataclasses.replace(
            s, repeats=round_repeats(s.repeats, depth), channels=round_channels(s.channels, width)
        )
        for s in B0_STAGES
    )


def compound_multipliers(phi: float) -> tuple[float, float, float]:
    """The rule itself: (depth ``alpha**phi``, width ``beta**phi``, resolution
    ``224 * gamma**phi``)."""
    return ALPHA**phi, BETA**phi, 224 * GAMMA**phi


class MBConv(nn.Module):
    """Mobile inverted bottleneck, ``[B, H, W, C_in] -> [B, H/s, W/s, features]``.

    ``expand == 1`` is timm's DepthwiseSeparableConv (``conv_dw, bn1, se, conv_pw, bn2``,
    no activation after ``bn2``); otherwise InvertedResidual (``conv_pw, bn1, conv_dw,
    bn2, se, conv_pwl, bn3``). SiLU after every BN but the last.
    """

    features: int
    kernel: int
    stride: int
    expand: int
    se_ratio: float = 0.25
    drop_path_rate: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        in_features = x.shape[-1]
        bn = functools.partial(batch_norm, train, dtype=self.dtype)
        conv1x1 = functools.partial(
            nn.Conv, kernel_size=(1, 1), use_bias=False, kernel_init=CONV_INIT, dtype=self.dtype
        )
        y = x
        if self.expand != 1:
            mid = round_channels(in_features * self.expand)
            y = nn.silu(bn(name="bn1")(conv1x1(mid, name="conv_pw")(y)))
        mid = y.shape[-1]
        y = nn.Conv(
            mid,
            (self.kernel, self.kernel),
            strides=(self.stride, self.stride),
            padding=torch_padding(self.kernel, self.stride),
            feature_group_count=mid,
            use_bias=False,
            kernel_init=DEPTHWISE_INIT,
            dtype=self.dtype,
            name="conv_dw",
        )(y)
        y = nn.silu(bn(name="bn1" if self.expand == 1 else "bn2")(y))
        reduced = round(mid * (self.se_ratio / self.expand))  # se_ratio of the block input
        y = SqueezeExcite(reduced, dtype=self.dtype, name="se")(y)
        if self.expand == 1:
            y = bn(name="bn2")(conv1x1(self.features, name="conv_pw")(y))
        else:
            y = bn(name="bn3")(conv1x1(self.features, name="conv_pwl")(y))
        if self.stride == 1 and in_features == self.features:
            y = DropPath(self.drop_path_rate)(y, deterministic=not train) + x
        return y


class EfficientNet(nn.Module):
    """EfficientNet classifier: images ``[B, H, W, C]`` -> logits ``[B, num_classes]``.

    Call as ``model.apply(variables, images, train=bool, rngs={'dropout': key},
    mutable=['batch_stats'] if train else False)``. Logits are float32 whatever the
    compute ``dtype``; parameters are float32 (names as timm: ``conv_stem``, ``bn1``,
    ``blocks_{stage}_{i}/...``, ``conv_head``, ``bn2``, ``classifier``).
    ``num_classes=0`` returns the pooled features ``[B, round_channels(1280 * width)]``.

    Attributes:
      width_multiplier: channel scale over B0 (``beta**phi``, rounded in the table).
      depth_multiplier: repeat scale over B0 (``alpha**phi``, rounded in the table).
      num_classes: head outputs; 0 means no head.
      dropout_rate: dropout before the classifier (the table's per-variant rate).
      drop_path_rate: stochastic depth; block ``i`` of ``n`` drops with ``rate * i / n``
        (timm's rule; 0.2 in the paper's training recipe).
      dtype: compute dtype (e.g. ``jnp.bfloat16``).
    """

    width_multiplier: float = 1.0
    depth_multiplier: float = 1.0
    num_classes: int = 1000
    dropout_rate: float = 0.2
    drop_path_rate: float = 0.0
    dtype: Any = jnp.float32

    total_stride: ClassVar[int] = 32

    @nn.compact
    def __call__(self, images: jax.Array, *, train: bool = False) -> jax.Array:
        check_convnet_images(images, self.total_stride, "EfficientNet")
        stages = scaled_stages(self.width_multiplier, self.depth_multiplier)
        x = images.astype(self.dtype)
        x = nn.Conv(
            round_channels(B0_STEM_CHANNELS, self.width_multiplier),
            (3, 3),
            strides=(2, 2),
            padding=torch_padding(3, 2),
            use_bias=False,
            kernel_init=CONV_INIT,
            dtype=self.dtype,
            name="conv_stem",
        )(x)
        x = nn.silu(batch_norm(train, dtype=self.dtype, name="bn1")(x))

        num_blocks = sum(s.repeats for s in stages)
        rates = linear_drop_path_rates(self.drop_path_rate, num_blocks, num_blocks)
        index = 0
        for stage_index, stage in enumerate(stages):
            for i in range(stage.repeats):
                x = MBConv(
                    stage.channels,
                    stage.kernel,
                    stage.stride if i == 0 else 1,
                    stage.expand,
                    stage.se_ratio,
                    drop_path_rate=rates[index],
                    dtype=self.dtype,
                    name=f"blocks_{stage_index}_{i}",
                )(x, train=train)
                index += 1

        x = nn.Conv(
            round_channels(B0_HEAD_CHANNELS, self.width_multiplier),
            (1, 1),
            use_bias=False,
            kernel_init=CONV_INIT,
            dtype=self.dtype,
            name="conv_head",
        )(x)
        x = nn.silu(batch_norm(train, dtype=self.dtype, name="bn2")(x))
        x = x.mean(axis=(1, 2))  # [B, C]
        if self.num_classes > 0:
            x = nn.Dropout(self.dropout_rate)(x, deterministic=not train)
            x = nn.Dense(self.num_classes, dtype=self.dtype, name="classifier")(x)
        return x.astype(jnp.float32)


for _name, (_width, _depth, _resolution, _dropout) in EFFICIENTNET_TABLE.items():
    register_model(_name, default_image_size=_resolution)(
        functools.partial(
            EfficientNet,
            width_multiplier=_width,
            depth_multiplier=_depth,
            dropout_rate=_dropout,
        )
    )
