"""Weight import: timm state dicts / safetensors files and official .npz checkpoints
into this project's Flax parameter trees. Loading never unpickles."""

from mixer_vit.convert.timm_registry import convert_timm, register_timm, timm_converters
from mixer_vit.convert.torch_layouts import conv_kernel, linear_kernel
from mixer_vit.convert.tree_assign import ConversionError, assign_flat, flatten, unflatten
from mixer_vit.convert.weight_files import load_weight_file
from mixer_vit.convert import timm_swin  # noqa: F401,E402  (registers swin_*)
from mixer_vit.convert import timm_convmixer, timm_poolformer, timm_resmlp  # noqa: F401,E402
from mixer_vit.convert import timm_efficientnet, timm_resnet  # noqa: F401,E402  (ConvNets)
from mixer_vit.convert import timm_cait, timm_vit  # noqa: F401,E402  (ViT, DeiT, Mixer, CaiT)

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
