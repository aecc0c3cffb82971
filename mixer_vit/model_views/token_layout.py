"""Where a model's tokens sit on the image: the patch grid and the leading (prefix) tokens.

Read from the parameters and the input shape, not from the model's name: the patch size is
the side of the ``patch_embed`` kernel ``[p, p, C, D]`` (or ``2**k`` for a convolutional stem of
``k`` stride-2 convolutions, ``conv_stem/conv_{i}``), the grid is the image size over it,
and any tokens beyond ``grid[0] * grid[1]`` are prefix tokens (class, distillation) placed
first, as every model of this project does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def patch_size_of(params: Mapping[str, Any]) -> int | None:
    """Side p of the square patches: the first 4-D kernel ``[p, p, C, D]`` under
    ``params["patch_embed"]``, or ``2**k`` for a convolutional stem (``params["conv_stem"]``
    with ``k`` stride-2 convolutions ``conv_0 ... conv_{k-1}``, layers/conv_stem.py);
    None when the model has neither."""
    stem = params.get("conv_stem")
    if isinstance(stem, Mapping):
        return 2 ** sum(1 for name in stem if name.startswith("conv_"))
    stack = [params.get("patch_embed")]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            stack.extend(node.values())
        elif node is not None and np.ndim(node) == 4 and node.shape[0] == node.shape[1]:
            return int(node.shape[0])
    return None


def patch_grid(params: Mapping[str, Any], image_shape: tuple[int, ...]) -> tuple[int, int] | None:
    """(rows, columns) of patches for images ``[H, W, C]`` (``image_shape`` is (H, W, C));
    None when the model has no patch embedding."""
    patch = patch_size_of(params)
    if patch is None:
        return None
    return image_shape[0] // patch, image_shape[1] // patch


def num_prefix_tokens(num_tokens: int, grid: tuple[int, int]) -> int:
    """Tokens before the ``grid[0] * grid[1]`` patch tokens of a ``num_tokens`` sequence
    (0 without a class token, 1 with one, 2 with class and distillation tokens)."""
    prefix = num_tokens - grid[0] * grid[1]
    if prefix < 0:
        raise ValueError(f"{num_tokens} tokens cannot hold a {grid[0]}x{grid[1]} patch grid")
    return prefix
