"""Weight import: timm state dicts / safetensors files and official .npz checkpoints
into this project's Flax parameter trees. Loading never unpickles."""

from mixer_vit.convert import (  # noqa: F401,E402  # noqa: F401,E402  (ConvNets)  # noqa: F401,E402  (ViT, DeiT, Mixer, CaiT)
    timm_cait,
    timm_convmixer,
    timm_efficientnet,
    timm_poolformer,
    timm_resmlp,
    timm_resnet,
    timm_swin,  # noqa: F401,E402  (registers swin_*)
    timm_vit,
)
from mixer_vit.convert.big_vision_npz import convert_big_vision  # noqa: E402
from mixer_vit.convert.save_load import load_converted, save_converted  # noqa: E402
from mixer_vit.convert.timm_registry import convert_timm, register_timm, timm_converters
from mixer_vit.convert.torch_layouts import conv_kernel, linear_kernel
from mixer_vit.convert.tree_assign import ConversionError, assign_flat, flatten, unflatten
from mixer_vit.convert.weight_files import load_weight_file

__all__ = [
    "ConversionError",
    "assign_flat",
    "conv_kernel",
    "convert_big_vision",
    "convert_timm",
    "flatten",
    "linear_kernel",
    "load_converted",
    "load_weight_file",
    "register_timm",
    "save_converted",
    "timm_converters",
    "unflatten",
]
