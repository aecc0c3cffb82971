"""Weight import: timm state dicts / safetensors files and official .npz checkpoints
into this project's Flax parameter trees. Loading never unpickles."""

from mixer_vit.convert.timm_registry import convert_timm, register_timm, timm_converters
from mixer_vit.convert.torch_layouts import conv_kernel, linear_kernel
from mixer_vit.convert.tree_assign import ConversionError, assign_flat, flatten, unflatten
from mixer_vit.convert.weight_files import load_weight_file

__all__ = [
    "ConversionError",
    "assign_flat",
    "conv_kernel",
    "convert_timm",
    "flatten",
    "linear_kernel",
    "load_weight_file",
    "register_timm",
    "timm_converters",
    "unflatten",
]
