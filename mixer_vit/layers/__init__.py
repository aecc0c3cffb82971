"""Small pure Flax linen blocks. Imports nothing else from ``mixer_vit``.

Token mixers register themselves in :mod:`mixer_vit.layers.mixers` on import.
"""

from .attention import MultiHeadSelfAttention
from .drop_path import DropPath
from .identity_mixer import IdentityMixer
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
from .token_mixing_mlp import TokenMixingMlp

__all__ = [
    "DropPath",
    "IdentityMixer",
    "Mlp",
    "MultiHeadSelfAttention",
    "PatchEmbed",
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
