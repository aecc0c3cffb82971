"""Named architectures built from ``mixer_vit.layers`` and the model registry.

Importing this package registers every variant (``vit_*``, ``mixer_*``).
"""

from . import mixer, vit  # noqa: F401  (registers the variants)
from . import efficientnet, resnet, resnetv2_bit  # noqa: F401  (ConvNet baselines)
from . import cait, deit  # noqa: F401  (registers cait_*, deit_*)
from . import swin  # noqa: F401  (registers swin_t, swin_s, swin_b)
from . import convmixer, fnet, poolformer, resmlp  # noqa: F401  (MetaFormer family)
from .metaformer import MetaFormer, MetaFormerBlock, stochastic_depth_rates
from .registry import (
    create_model,
    list_models,
    model_default_image_size,
    model_fields,
    register_model,
)

__all__ = [
    "MetaFormer",
    "MetaFormerBlock",
    "create_model",
    "list_models",
    "model_default_image_size",
    "model_fields",
    "register_model",
    "stochastic_depth_rates",
]
