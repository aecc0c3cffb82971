"""Convolutional stem for a ViT (Xiao et al. 2021, "Early convolutions help transformers
see better"): a few stride-2 3x3 convolutions in place of the patchify convolution.

``[B, H, W, C]`` -> ``len(widths)`` x (3x3 conv stride 2 padding 1, no bias -> BatchNorm
-> ReLU) -> 1x1 conv to ``embed_dim`` (with bias) -> ``[B, N, D]`` tokens, row-major,
``N = (H / 2**k) * (W / 2**k)`` for ``k = len(widths)``. The paper's ViT_C stem for 16x16
patches is four such convolutions; ``k`` convolutions replace patches of side ``2**k``.

Parameters (``k = len(widths)``, ``w_i = widths[i]``, ``w_{-1} = C``)::

    conv_{i}/kernel [3, 3, w_{i-1}, w_i]
    bn_{i}/{scale, bias} [w_i]          batch_stats: bn_{i}/{mean, var} [w_i]
    proj/{kernel [1, 1, w_{k-1}, D], bias [D]}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from .batch_norm import batch_norm


def conv_stem_stride(widths: Sequence[int]) -> int:
    """Total stride of a stem of ``len(widths)`` stride-2 convolutions: ``2**len(widths)``."""
    return 2 ** len(widths)


class ConvStem(nn.Module):
    """Stride-2 3x3 convolutions with BatchNorm and ReLU, then a 1x1 projection to tokens.

    ``images [B, H, W, C] -> tokens [B, (H / s) * (W / s), embed_dim]`` with
    ``s = 2**len(widths)``; H and W must be multiples of ``s`` (``ValueError`` otherwise).
    In training (``train=True``) BatchNorm uses the batch statistics and updates
    ``batch_stats`` (the caller passes ``mutable=["batch_stats"]``).
    """

    widths: Sequence[int]
    embed_dim: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array, *, train: bool) -> jax.Array:
        if images.ndim != 4:
            raise ValueError(
                f"ConvStem expects images [B, H, W, C], got shape {tuple(images.shape)}."
            )
        batch, height, width, _ = images.shape
        stride = conv_stem_stride(self.widths)
        if height % stride or width % stride:
            raise ValueError(
                f"Image size {height}x{width} is not divisible by the conv stem's stride "
                f"{stride} ({len(self.widths)} stride-2 convolutions); resize or crop images "
                f"to a multiple of {stride}."
            )
        x = images
        for i, features in enumerate(self.widths):
            x = nn.Conv(
                features,
                (3, 3),
                strides=(2, 2),
                padding=((1, 1), (1, 1)),
                use_bias=False,
                dtype=self.dtype,
                name=f"conv_{i}",
            )(x)  # [B, H / 2**(i+1), W / 2**(i+1), w_i]
            x = nn.relu(batch_norm(train, dtype=self.dtype, name=f"bn_{i}")(x))
        x = nn.Conv(self.embed_dim, (1, 1), dtype=self.dtype, name="proj")(x)
        return x.reshape(batch, -1, self.embed_dim)  # [B, N, D]
