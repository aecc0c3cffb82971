"""ResNet v1.5 (He et al. 2016; stride on the 3x3 conv), as timm's ``resnet18`` ... ``resnet152``.

Stem 7x7/2 conv + BN + ReLU + 3x3/2 max-pool, four stages of BasicBlocks (18, 34) or
Bottlenecks (50, 101, 152) at widths 64, 128, 256, 512 (x4 for Bottlenecks), global
average pool, linear head. BatchNorm eps 1e-5, torch momentum 0.1 (Flax 0.9). Parameter
names follow timm (``conv1``, ``bn1``, ``layer{s}_{i}/conv1``, ``downsample_conv``, ``fc``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from mixer_vit.layers import DropPath
from mixer_vit.layers.batch_norm import batch_norm
from mixer_vit.layers.conv_padding import torch_padding

from .convnet_input import check_convnet_images, linear_drop_path_rates
from .registry import register_model

CONV_INIT = nn.initializers.variance_scaling(2.0, "fan_out", "normal")  # kaiming, as timm

# name -> (block type, blocks per stage)
RESNET_DEPTHS = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
    "resnet152": ("bottleneck", (3, 8, 36, 3)),
}
STAGE_WIDTHS = (64, 128, 256, 512)
STEM_STRIDES = {"imagenet": 4, "cifar": 1}  # stride of the stem (conv + pooling)
EXPANSION = {"basic": 1, "bottleneck": 4}


def _conv(features: int, kernel: int, stride: int, dtype: Any, name: str) -> nn.Conv:
    return nn.Conv(
        features,
        (kernel, kernel),
        strides=(stride, stride),
        padding=torch_padding(kernel, stride),
        use_bias=False,
        kernel_init=CONV_INIT,
        dtype=dtype,
        name=name,
    )


class ResNetBlock(nn.Module):
    """A BasicBlock (two 3x3) or Bottleneck (1x1, 3x3 with the stride, 1x1 x4) with a
    post-activation residual: ``[B, H, W, C] -> [B, H/s, W/s, width * expansion]``.

    A 1x1 conv + BN projects the shortcut when the shape changes. ``zero_init_last``
    starts the last BN's scale at 0 (each block starts as the identity).
    """

    kind: str
    width: int
    stride: int = 1
    drop_path_rate: float = 0.0
    zero_init_last: bool = True
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        out_features = self.width * EXPANSION[self.kind]
        last_scale = nn.initializers.zeros if self.zero_init_last else nn.initializers.ones
        bn = functools.partial(batch_norm, train, dtype=self.dtype)
        shortcut = x
        if self.stride != 1 or x.shape[-1] != out_features:
            shortcut = _conv(out_features, 1, self.stride, self.dtype, "downsample_conv")(x)
            shortcut = bn(name="downsample_bn")(shortcut)

        if self.kind == "basic":
            y = nn.relu(bn(name="bn1")(_conv(self.width, 3, self.stride, self.dtype, "conv1")(x)))
            y = bn(scale_init=last_scale, name="bn2")(
                _conv(self.width, 3, 1, self.dtype, "conv2")(y)
            )
        else:
            y = nn.relu(bn(name="bn1")(_conv(self.width, 1, 1, self.dtype, "conv1")(x)))
            y = nn.relu(bn(name="bn2")(_conv(self.width, 3, self.stride, self.dtype, "conv2")(y)))
            y = _conv(out_features, 1, 1, self.dtype, "conv3")(y)
            y = bn(scale_init=last_scale, name="bn3")(y)
        y = DropPath(self.drop_path_rate)(y, deterministic=not train)
        return nn.relu(y + shortcut)


class ResNet(nn.Module):
    """ResNet v1.5 classifier: images ``[B, H, W, C]`` -> logits ``[B, num_classes]``.

    Call as ``model.apply(variables, images, train=bool, rngs={'dropout': key},
    mutable=['batch_stats'] if train else False)``; variables hold ``params`` and
    ``batch_stats``. Logits are float32 whatever the compute ``dtype``; parameters are
    float32. ``num_classes=0`` returns the pooled features ``[B, stage_widths[-1] * expansion]``. Any
    image size >= 32 works (the total stride is 32, padding is PyTorch's symmetric one).

    Attributes:
      block: "basic" or "bottleneck".
      depths: blocks per stage (four stages).
      num_classes: head outputs; 0 means no head.
      dropout_rate: dropout before the head (timm's ``drop_rate``).
      drop_path_rate: stochastic depth of the last block, linear from 0 at block 0.
      zero_init_last: init the last BN scale of every block to 0 (timm's default).
      stem: "imagenet" (7x7/2 conv + 3x3/2 max-pool, timm's) or "cifar" (one 3x3/1 conv,
        no pooling: He et al.'s small-image stem, for 28x28 or 32x32 inputs).
      stage_widths: width of each stage (as many as ``depths``); stage ``s > 0`` halves
        the resolution. ``(64, 128, 256, 512)`` is timm's; e.g. ``(16, 32, 64, 128)``
        makes a narrow ResNet for small data.
      dtype: compute dtype (e.g. ``jnp.bfloat16``).
    """

    block: str = "bottleneck"
    depths: Sequence[int] = (3, 4, 6, 3)
    num_classes: int = 1000
    dropout_rate: float = 0.0
    drop_path_rate: float = 0.0
    zero_init_last: bool = True
    stem: str = "imagenet"
    stage_widths: Sequence[int] = STAGE_WIDTHS
    dtype: Any = jnp.float32

    def __post_init__(self):
        if self.stem not in STEM_STRIDES:
            raise ValueError(f"stem must be one of {', '.join(STEM_STRIDES)}, got {self.stem!r}.")
        if len(self.stage_widths) != len(self.depths) or min(self.stage_widths) < 1:
            raise ValueError(
                f"stage_widths {tuple(self.stage_widths)} must give one positive width per "
                f"stage of depths {tuple(self.depths)}."
            )
        super().__post_init__()

    @property
    def total_stride(self) -> int:
        """Stem stride x 2 per stage after the first (32 for timm's ResNets)."""
        return STEM_STRIDES[self.stem] * 2 ** (len(self.depths) - 1)

    @nn.compact
    def __call__(self, images: jax.Array, *, train: bool = False) -> jax.Array:
        check_convnet_images(images, self.total_stride, "ResNet")
        x = images.astype(self.dtype)
        if self.stem == "imagenet":
            x = _conv(self.stage_widths[0], 7, 2, self.dtype, "conv1")(x)
            x = nn.relu(batch_norm(train, dtype=self.dtype, name="bn1")(x))
            x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=torch_padding(3, 2))
        else:
            x = _conv(self.stage_widths[0], 3, 1, self.dtype, "conv1")(x)
            x = nn.relu(batch_norm(train, dtype=self.dtype, name="bn1")(x))

        num_blocks = sum(self.depths)
        rates = linear_drop_path_rates(self.drop_path_rate, num_blocks, num_blocks - 1)
        index = 0
        for stage, (depth, width) in enumerate(zip(self.depths, self.stage_widths)):
            for i in range(depth):
                x = ResNetBlock(
                    self.block,
                    width,
                    stride=2 if stage > 0 and i == 0 else 1,
                    drop_path_rate=rates[index],
                    zero_init_last=self.zero_init_last,
                    dtype=self.dtype,
                    name=f"layer{stage + 1}_{i}",
                )(x, train=train)
                index += 1

        x = x.mean(axis=(1, 2))  # [B, C]
        if self.num_classes > 0:
            x = nn.Dropout(self.dropout_rate)(x, deterministic=not train)
            x = nn.Dense(self.num_classes, dtype=self.dtype, name="fc")(x)
        return x.astype(jnp.float32)


for _name, (_block, _depths) in RESNET_DEPTHS.items():
    register_model(_name)(functools.partial(ResNet, block=_block, depths=_depths))
