"""Named architectures built from ``mixer_vit.layers`` and the model registry.

Importing this package registers every variant (``vit_*``, ``mixer_*``).
"""

from . import (  # noqa: F401  (registers the variants)  # noqa: F401  (ConvNet baselines)  # noqa: F401  (registers cait_*, deit_*)  # noqa: F401  (MetaFormer family)
    cait,
    convmixer,
    deit,
    efficientnet,
    fnet,
    mixer,
    poolformer,
    resmlp,
    resnet,
    resnetv2_bit,
    swin,  # noqa: F401  (registers swin_t, swin_s, swin_b)
    vit,
)
from .block_stacking import stack_block_params, unstack_block_params
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
    "stack_block_params",
    "unstack_block_params",
]
