"""BiT ResNet-V2 (Kolesnikov et al. 2020, "Big Transfer"), as timm's ``resnetv2_*_bit``.

Pre-activation bottlenecks (GroupNorm(32) + ReLU before each weight-standardised conv,
stride on the 3x3, projection shortcut from the pre-activated input), a 7x7/2 stem conv
followed by zero padding of 1 and a 3x3/2 max-pool (BiT's "fixed" padding), a final
GroupNorm + ReLU, global average pool and a linear head. Weight standardisation eps 1e-8
(timm's BiT ``StdConv2d``), GroupNorm eps 1e-5. Widths 256, 512, 1024, 2048 times the
width factor; the bottleneck is a quarter of the block width.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from mixer_vit.layers import DropPath
from mixer_vit.layers.conv_padding import torch_padding
from mixer_vit.layers.weight_standardized_conv import StdConv

from .convnet_input import check_convnet_images, linear_drop_path_rates
from .registry import register_model

GROUP_NORM_GROUPS = 32
GROUP_NORM_EPS = 1e-5  # timm GroupNormAct / torch GroupNorm default
STAGE_WIDTHS = (256, 512, 1024, 2048)

# name -> (blocks per stage, width factor); timm's BiT variants.
BIT_VARIANTS = {
    "resnetv2_50x1_bit": ((3, 4, 6, 3), 1),
    "resnetv2_50x3_bit": ((3, 4, 6, 3), 3),
    "resnetv2_101x1_bit": ((3, 4, 23, 3), 1),
    "resnetv2_101x3_bit": ((3, 4, 23, 3), 3),
    "resnetv2_152x2_bit": ((3, 8, 36, 3), 2),
    "resnetv2_152x4_bit": ((3, 8, 36, 3), 4),
}


def _std_conv(features: int, kernel: int, stride: int, dtype: Any, name: str) -> StdConv:
    return StdConv(
        features,
        kernel,
        strides=stride,
        padding=torch_padding(kernel, stride),
        dtype=dtype,
        name=name,
    )


def _group_norm_relu(x: jax.Array, dtype: Any, name: str) -> jax.Array:
    norm = nn.GroupNorm(
        num_groups=GROUP_NORM_GROUPS, epsilon=GROUP_NORM_EPS, dtype=dtype, name=name
    )
    return nn.relu(norm(x))


class PreActBottleneck(nn.Module):
    """``[B, H, W, C] -> [B, H/s, W/s, features]``:
    ``x + conv3(gn3(conv2(gn2(conv1(gn1(x))))))`` with ReLU after each GroupNorm; the
    shortcut is ``downsample(gn1(x))`` (1x1 StdConv with the stride) when it projects.
    """

    features: int
    stride: int = 1
    drop_path_rate: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        mid = self.features // 4
        preact = _group_norm_relu(x, self.dtype, "norm1")
        shortcut = x
        if self.stride != 1 or x.shape[-1] != self.features:
            shortcut = _std_conv(self.features, 1, self.stride, self.dtype, "downsample")(preact)
        y = _std_conv(mid, 1, 1, self.dtype, "conv1")(preact)
        y = _std_conv(mid, 3, self.stride, self.dtype, "conv2")(
            _group_norm_relu(y, self.dtype, "norm2")
        )
        y = _std_conv(self.features, 1, 1, self.dtype, "conv3")(
            _group_norm_relu(y, self.dtype, "norm3")
        )
        return DropPath(self.drop_path_rate)(y, deterministic=not train) + shortcut


class ResNetV2Bit(nn.Module):
    """BiT ResNet-V2 classifier: images ``[B, H, W, C]`` -> logits ``[B, num_classes]``.

    No batch statistics (GroupNorm), so ``model.apply(variables, images, train=bool,
    rngs={'dropout': key})`` needs no mutable collection. Logits are float32 whatever the
    compute ``dtype``; parameters (``stem_conv``, ``stages_{s}_{i}/...``, ``norm``,
    ``head``) are float32. ``num_classes=0`` returns the pooled features. Any image size
    >= 32 works.

    Attributes:
      depths: bottlenecks per stage (four stages).
      width_factor: multiplies every width (stem 64, stages 256 ... 2048).
      num_classes: head outputs; 0 means no head.
      dropout_rate: dropout before the head.
      drop_path_rate: stochastic depth of the last block, linear from 0 at block 0.
      dtype: compute dtype (e.g. ``jnp.bfloat16``).
    """

    depths: Sequence[int] = (3, 4, 6, 3)
    width_factor: int = 1
    num_classes: int = 1000
    dropout_rate: float = 0.0
    drop_path_rate: float = 0.0
    dtype: Any = jnp.float32

    total_stride: ClassVar[int] = 32

    @nn.compact
    def __call__(self, images: jax.Array, *, train: bool = False) -> jax.Array:
        check_convnet_images(images, self.total_stride, "ResNetV2Bit")
        x = _std_conv(64 * self.width_factor, 7, 2, self.dtype, "stem_conv")(images)
        x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))  # zeros, not -inf: BiT's stem
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")

        num_blocks = sum(self.depths)
        rates = linear_drop_path_rates(self.drop_path_rate, num_blocks, num_blocks - 1)
        index = 0
        for stage, (depth, width) in enumerate(zip(self.depths, STAGE_WIDTHS)):
            for i in range(depth):
                x = PreActBottleneck(
                    width * self.width_factor,
                    stride=2 if stage > 0 and i == 0 else 1,
                    drop_path_rate=rates[index],
                    dtype=self.dtype,
                    name=f"stages_{stage}_{i}",
                )(x, train=train)
                index += 1

        x = _group_norm_relu(x, self.dtype, "norm")
        x = x.mean(axis=(1, 2))  # [B, C]
        if self.num_classes > 0:
            x = nn.Dropout(self.dropout_rate)(x, deterministic=not train)
            x = nn.Dense(
                self.num_classes,
                dtype=self.dtype,
                kernel_init=nn.initializers.zeros,
                name="head",
            )(x)
        return x.astype(jnp.float32)


for _name, (_depths, _width) in BIT_VARIANTS.items():
    register_model(_name)(functools.partial(ResNetV2Bit, depths=_depths, width_factor=_width))
