"""BatchNorm with PyTorch's defaults stated explicitly (for ConvNet baselines)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

TORCH_BATCH_NORM_EPS = 1e-5
"""``torch.nn.BatchNorm2d`` epsilon (ResNet, EfficientNet in timm)."""

TORCH_BATCH_NORM_MOMENTUM = 0.9
"""torch momentum 0.1 in Flax's convention: ``running = 0.9 * running + 0.1 * batch``."""


def batch_norm(
    train: bool,
    *,
    epsilon: float = TORCH_BATCH_NORM_EPS,
    momentum: float = TORCH_BATCH_NORM_MOMENTUM,
    scale_init: Callable[..., Any] = nn.initializers.ones,
    dtype: Any = jnp.float32,
    name: str | None = None,
) -> nn.BatchNorm:
    """``flax.linen.BatchNorm`` over the last (channel) axis, ``[..., C] -> [..., C]``.

    ``train``: normalise with the batch statistics and update ``batch_stats/{mean,var}
    [C]`` (the caller passes ``mutable=["batch_stats"]``); otherwise use the running
    statistics. Parameters ``scale [C]`` and ``bias [C]`` stay float32; statistics are
    computed in at least float32. Unlike torch, the running variance is updated with the
    biased batch variance (a factor n/(n-1) apart; eval outputs are unaffected).
    """
    return nn.BatchNorm(
        use_running_average=not train,
        momentum=momentum,
        epsilon=epsilon,
        scale_init=scale_init,
        dtype=dtype,
        name=name,
    )
