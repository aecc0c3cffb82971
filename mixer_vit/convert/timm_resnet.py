"""timm ``resnet*`` and BiT ``resnetv2_*_bit`` state dicts -> our ResNet / ResNetV2Bit."""

from __future__ import annotations

from collections.abc import Mapping

import flax.linen as nn
import numpy as np

from mixer_vit.convert.timm_registry import register_timm
from mixer_vit.convert.torch_module_keys import convert_torch_modules
from mixer_vit.models.resnet import RESNET_DEPTHS
from mixer_vit.models.resnetv2_bit import BIT_VARIANTS

RESNET_RENAMES = (
    (r"^layer(\d)\.(\d+)\.", r"layer\1_\2."),  # layer1.0.conv1 -> layer1_0/conv1
    (r"downsample\.0$", "downsample_conv"),
    (r"downsample\.1$", "downsample_bn"),
)
BIT_RENAMES = (
    (r"^stem\.conv$", "stem_conv"),
    (r"^stages\.(\d+)\.blocks\.(\d+)\.", r"stages_\1_\2."),  # stages.0.blocks.1 -> stages_0_1
    (r"downsample\.conv$", "downsample"),
    (r"^head\.fc$", "head"),  # a 1x1 conv on pooled features: our Dense
)


def convert_resnet(state_dict: Mapping[str, np.ndarray], model: nn.Module) -> dict[str, np.ndarray]:
    """timm ResNet (v1.5) -> ``params/...`` and ``batch_stats/...`` of :class:`ResNet`."""
    del model  # the layout does not depend on the variant
    return convert_torch_modules(state_dict, RESNET_RENAMES)


def convert_resnetv2_bit(
    state_dict: Mapping[str, np.ndarray], model: nn.Module
) -> dict[str, np.ndarray]:
    """timm BiT ResNet-V2 -> ``params/...`` of :class:`ResNetV2Bit` (kernels stay
    unstandardised: the model standardises them on use, as timm's ``StdConv2d``)."""
    del model
    return convert_torch_modules(state_dict, BIT_RENAMES, dense=lambda path: path == "head")


for _name in RESNET_DEPTHS:
    register_timm(_name, _name, convert_resnet)
for _name in BIT_VARIANTS:
    register_timm(_name, _name, convert_resnetv2_bit)
