"""Named architectures built from ``mixer_vit.layers`` and the model registry.

Importing this package registers every variant (``vit_*``, ``mixer_*``).
"""

from . import mixer, vit  # noqa: F401  (registers the variants)
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
