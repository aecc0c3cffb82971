"""Per-head attention maps on the patch grid (what a layer's heads look at)."""

from __future__ import annotations

import numpy as np


def patch_attention_maps(weights: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Attention on the patches, ``[B, H, Q, K] -> [B, H, grid[0], grid[1]]``.

    The patch tokens are the last ``grid[0] * grid[1]`` keys (row-major). With prefix
    tokens (``K`` > patches: the class token is key 0) or a single query (CaiT's class
    attention), the map is the class-token query's row over the patch columns. Without
    any (mean-pooled models, CaiT's patch-only blocks), it is the attention each patch
    receives averaged over all queries.
    """
    batch, heads, queries, keys = weights.shape
    patches = grid[0] * grid[1]
    if keys < patches:
        raise ValueError(f"{keys} keys cannot hold a {grid[0]}x{grid[1]} patch grid")
    columns = weights[..., keys - patches :]  # [B, H, Q, patches]
    if uses_class_query(queries, keys, grid):
        row = columns[:, :, 0]
    else:
        row = columns.mean(axis=2)
    return row.reshape(batch, heads, *grid)


def uses_class_query(queries: int, keys: int, grid: tuple[int, int]) -> bool:
    """Whether :func:`patch_attention_maps` reads the class token's row (True) or the mean
    over queries (False) for weights ``[B, H, queries, keys]``."""
    return queries == 1 or keys > grid[0] * grid[1]
