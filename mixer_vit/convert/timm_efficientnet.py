"""timm ``efficientnet_b0`` ... ``efficientnet_b7`` state dicts -> our EfficientNet."""

from __future__ import annotations

from collections.abc import Mapping

import flax.linen as nn
import numpy as np

from mixer_vit.convert.timm_registry import register_timm
from mixer_vit.convert.torch_module_keys import convert_torch_modules
from mixer_vit.models.efficientnet import EFFICIENTNET_TABLE

EFFICIENTNET_RENAMES = ((r"^blocks\.(\d+)\.(\d+)\.", r"blocks_\1_\2."),)  # blocks.1.0 -> blocks_1_0


def _is_squeeze_excite(path: str) -> bool:
    return path.endswith(("se/conv_reduce", "se/conv_expand"))


def convert_efficientnet(
    state_dict: Mapping[str, np.ndarray], model: nn.Module
) -> dict[str, np.ndarray]:
    """timm EfficientNet -> ``params/...`` and ``batch_stats/...`` of :class:`EfficientNet`
    (the squeeze-excite 1x1 convs become Dense kernels)."""
    del model
    return convert_torch_modules(state_dict, EFFICIENTNET_RENAMES, dense=_is_squeeze_excite)


for _name in EFFICIENTNET_TABLE:
    register_timm(_name, _name, convert_efficientnet)
