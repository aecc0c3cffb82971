"""Cosine similarity of learned position embeddings (ViT paper, Fig. 7 centre)."""

from __future__ import annotations

import numpy as np


def position_embedding_similarity(pos_embed: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """pos_embed ``[1, P + N, D]`` (or ``[P + N, D]``), P prefix rows (class and
    distillation slots) then the ``N = grid[0] * grid[1]`` patch rows in row-major order.

    Returns float64 ``[grid[0], grid[1], grid[0], grid[1]]``: entry ``[r, c, i, j]`` is
    the cosine similarity of patch (r, c)'s embedding with patch (i, j)'s; the prefix rows
    are left out.
    """
    table = np.asarray(pos_embed, np.float64).reshape(-1, pos_embed.shape[-1])
    patches = table[table.shape[0] - grid[0] * grid[1] :]  # [N, D]
    norms = np.linalg.norm(patches, axis=-1, keepdims=True)
    unit = patches / np.maximum(norms, 1e-12)
    return (unit @ unit.T).reshape(*grid, *grid)
