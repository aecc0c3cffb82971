"""PyTorch -> Flax weight layouts (numpy in, numpy out)."""

from __future__ import annotations

import numpy as np


def linear_kernel(weight: np.ndarray) -> np.ndarray:
    """torch Linear weight [out, in] -> flax Dense kernel [in, out]."""
    return np.asarray(weight).T


def conv_kernel(weight: np.ndarray) -> np.ndarray:
    """torch Conv2d weight [O, I, kH, kW] -> flax Conv kernel [kH, kW, I, O].

    Also right for grouped / depthwise convolutions: torch stores [O, I/groups, kH, kW],
    flax [kH, kW, I/groups, O].
    """
    return np.transpose(np.asarray(weight), (2, 3, 1, 0))
