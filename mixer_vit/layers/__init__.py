"""Small pure Flax linen blocks. Imports nothing else from ``mixer_vit``.

Token mixers register themselves in :mod:`mixer_vit.layers.mixers` on import.
"""

from .affine_norm import Affine
from .attention import MultiHeadSelfAttention
from .class_attention import ClassAttention
from .conv_stem import ConvStem, conv_stem_stride
from .cross_patch_linear import CrossPatchLinear
from .drop_path import DropPath
from .dwconv_mixer import DepthwiseConvMixer
from .fourier_mixer import FourierMixer
from .identity_mixer import IdentityMixer
from .layer_scale import LayerScale
from .mixers import (
    check_mixer_kwargs,
    get_mixer,
    list_mixers,
    make_mixer,
    mixer_hyperparameters,
    register_mixer,
)
from .mlp import Mlp
from .norms import VIT_LAYER_NORM_EPS, layer_norm
from .patch_embed import PatchEmbed
from .patch_merging import PatchMerging
from .pooling_mixer import PoolingMixer
from .random_mixer import RandomMixer
from .position_embeddings import (
    POS_EMBED_TYPES,
    resample_pos_embed,
    sincos_2d_position_embedding,
)
from .shift_mixer import ShiftMixer
from .talking_heads_attention import TalkingHeadsAttention
from .token_mixing_mlp import TokenMixingMlp
from .window_attention import WindowAttention

__all__ = [
    "Affine",
    "CrossPatchLinear",
    "DepthwiseConvMixer",
    "FourierMixer",
    "PoolingMixer",
    "RandomMixer",
    "ClassAttention",
    "ConvStem",
    "conv_stem_stride",
    "LayerScale",
    "POS_EMBED_TYPES",
    "TalkingHeadsAttention",
    "resample_pos_embed",
    "sincos_2d_position_embedding",
    "DropPath",
    "IdentityMixer",
    "Mlp",
    "MultiHeadSelfAttention",
    "PatchEmbed",
    "PatchMerging",
    "WindowAttention",
    "ShiftMixer",
    "TokenMixingMlp",
    "VIT_LAYER_NORM_EPS",
    "check_mixer_kwargs",
    "get_mixer",
    "layer_norm",
    "list_mixers",
    "make_mixer",
    "mixer_hyperparameters",
    "register_mixer",
]
