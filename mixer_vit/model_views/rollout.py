"""Attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers")."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def attention_rollout(weights: Sequence[np.ndarray]) -> np.ndarray:
    """Attention flow from the input tokens to each token after the last layer.

    weights: the self-attention weights of consecutive layers, first layer first, each
    ``[B, H, N, N]`` (query rows, key columns). Each layer's heads are averaged, the
    identity is added for the residual connection and the rows are renormalised,
    ``A_hat = (mean_h A + I) / rowsum`` (``0.5 A + 0.5 I`` when A's rows sum to 1), and
    the layers are multiplied, the last on the left: ``R = A_hat_L ... A_hat_1``.

    Returns float64 ``[B, N, N]``: ``R[b, i, j]`` is how much input token j contributes
    to output token i; every row sums to 1.
    """
    if not weights:
        raise ValueError("attention rollout needs at least one layer of weights")
    batch, _, tokens, _ = weights[0].shape
    identity = np.eye(tokens)
    rollout = np.broadcast_to(identity, (batch, tokens, tokens))
    for layer in weights:
        mixed = np.asarray(layer, np.float64).mean(axis=1) + identity  # [B, N, N]
        mixed /= mixed.sum(axis=-1, keepdims=True)
        rollout = mixed @ rollout
    return rollout


def rollout_patch_map(rollout: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """``[B, N, N] -> [B, grid[0], grid[1]]``: the class token's row (token 0, when there
    are prefix tokens) or the mean over all rows (no prefix tokens), over the patch
    columns (the last ``grid[0] * grid[1]`` tokens)."""
    batch, tokens, _ = rollout.shape
    patches = grid[0] * grid[1]
    columns = rollout[:, :, tokens - patches :]
    row = columns[:, 0] if tokens > patches else columns.mean(axis=1)
    return row.reshape(batch, *grid)
