"""ConvMixer (Trockman & Kolter, "Patches are all you need?").

patch conv (p x p, stride p) -> act -> BatchNorm
-> depth x (residual(depthwise k x k conv -> act -> BatchNorm)
            -> pointwise 1x1 conv -> act -> BatchNorm)
-> global average pool -> head.

Activation: exact GELU, except ``convmixer_768_32`` which uses ReLU (as in timm).
BatchNorm keeps running statistics in the ``batch_stats`` collection (train mode uses and
updates batch statistics: apply with ``mutable=["batch_stats"]``): PyTorch momentum 0.1
is Flax ``momentum=0.9``, eps 1e-5. One difference from PyTorch: Flax updates the
running variance with the biased batch variance (PyTorch with the unbiased one).

Registered names (timm's): ``convmixer_768_32``, ``convmixer_1024_20_ks9_p14``,
``convmixer_1536_20``.

Variables (``blocks_{i}``)::

    params/stem/conv/{kernel [p,p,3,D], bias [D]}
    params/stem/norm/{scale, bias}          batch_stats/stem/norm/{mean, var}
    params/blocks_0/dwconv/{kernel [k,k,1,D], bias [D]}
    params/blocks_0/dwnorm/{scale, bias}    batch_stats/blocks_0/dwnorm/{mean, var}
    params/blocks_0/pwconv/{kernel [1,1,D,D], bias [D]}
    params/blocks_0/pwnorm/{scale, bias}    batch_stats/blocks_0/pwnorm/{mean, var}
    params/head/{kernel [D,1000], bias [1000]}
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from mixer_vit.layers.classifier_head import classifier_head

from .registry import register_model

ACTIVATIONS = {
    "gelu": functools.partial(nn.gelu, approximate=False),  # exact (erf), as timm
    "gelu_tanh": functools.partial(nn.gelu, approximate=True),  # flax's default form
    "relu": nn.relu,
}
BATCH_NORM_MOMENTUM = 0.9  # Flax convention; PyTorch's momentum=0.1
BATCH_NORM_EPS = 1e-5


def batch_norm(train: bool, dtype: Any, name: str) -> nn.BatchNorm:
    """BatchNorm over ``[B, H, W, C]`` with PyTorch's defaults, float32 statistics."""
    return nn.BatchNorm(
        use_running_average=not train,
        momentum=BATCH_NORM_MOMENTUM,
        epsilon=BATCH_NORM_EPS,
        dtype=dtype,
        name=name,
    )


class ConvMixerBlock(nn.Module):
    """``x + BN(act(dwconv(x)))`` then ``BN(act(pwconv(.)))``, ``[B, H, W, D]`` in and out."""

    kernel_size: int
    activation: str = "gelu"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        dim, k = x.shape[-1], self.kernel_size
        # "same" padding as PyTorch's: (k - 1) // 2 before, the rest after
        pad = ((k - 1) // 2, k // 2)
        y = nn.Conv(
            dim,
            (k, k),
            padding=(pad, pad),
            feature_group_count=dim,
            dtype=self.dtype,
            name="dwconv",
        )(x)
        x = x + batch_norm(train, self.dtype, "dwnorm")(act(y))
        y = nn.Conv(dim, (1, 1), dtype=self.dtype, name="pwconv")(x)
        return batch_norm(train, self.dtype, "pwnorm")(act(y))


class ConvMixerStem(nn.Module):
    """Patch conv -> act -> BatchNorm, ``[B, H, W, C] -> [B, H/p, W/p, D]``."""

    dim: int
    patch_size: int
    activation: str = "gelu"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array, *, train: bool) -> jax.Array:
        p = self.patch_size
        x = nn.Conv(
            self.dim, (p, p), strides=(p, p), padding="VALID", dtype=self.dtype, name="conv"
        )(images)
        return batch_norm(train, self.dtype, "norm")(ACTIVATIONS[self.activation](x))


class ConvMixer(nn.Module):
    """ConvMixer classifier: images ``[B, H, W, C]`` -> logits ``[B, num_classes]`` (float32).

    H and W must be multiples of ``patch_size`` (one-line ``ValueError`` otherwise).
    ``num_classes=0`` returns pooled features ``[B, dim]``. In train mode call
    ``model.apply(variables, x, train=True, mutable=["batch_stats"])``. ``activation``:
    ``"gelu"`` (exact, erf), ``"gelu_tanh"`` (the tanh form) or ``"relu"``.
    """

    dim: int = 768
    depth: int = 32
    kernel_size: int = 9
    patch_size: int = 7
    activation: str = "gelu"
    num_classes: int = 1000
    dropout_rate: float = 0.0
    dtype: Any = jnp.float32

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {', '.join(ACTIVATIONS)}, got '{self.activation}'."
            )
        for field in ("dim", "depth", "kernel_size", "patch_size"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be >= 1, got {getattr(self, field)}.")
        if not 0.0 <= self.dropout_rate < 1.0:
            raise ValueError(f"dropout_rate must be in [0, 1), got {self.dropout_rate}.")
        super().__post_init__()

    @nn.compact
    def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
        height, width, p = images.shape[1], images.shape[2], self.patch_size
        if height % p or width % p:
            raise ValueError(
                f"Image size {height}x{width} is not divisible by patch size {p}; "
                f"resize or crop images to a multiple of {p}."
            )
        x = ConvMixerStem(self.dim, p, self.activation, dtype=self.dtype, name="stem")(
            images, train=train
        )
        for i in range(self.depth):
            x = ConvMixerBlock(
                self.kernel_size, self.activation, dtype=self.dtype, name=f"blocks_{i}"
            )(x, train=train)
        x = x.mean(axis=(1, 2))  # [B, D]
        x = nn.Dropout(self.dropout_rate)(x, deterministic=not train)
        return classifier_head(x, self.num_classes, self.dtype)


# timm name -> (dim, depth, kernel_size, patch_size, activation)
CONVMIXER_VARIANTS = {
    "convmixer_768_32": (768, 32, 7, 7, "relu"),
    "convmixer_1024_20_ks9_p14": (1024, 20, 9, 14, "gelu"),
    "convmixer_1536_20": (1536, 20, 9, 7, "gelu"),
}

for _name, (_dim, _depth, _k, _p, _act) in CONVMIXER_VARIANTS.items():
    register_model(_name)(
        functools.partial(
            ConvMixer, dim=_dim, depth=_depth, kernel_size=_k, patch_size=_p, activation=_act
        )
    )
