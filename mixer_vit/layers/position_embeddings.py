"""Absolute position embeddings: the fixed 2-D sin-cos table and resampling a learned
table to another patch grid. Pure functions, no parameters."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

POS_EMBED_TYPES = ("learned", "sincos2d", "none")
"""``"learned"``: a trained table (parameter ``pos_embed``); ``"sincos2d"``: the fixed
table of :func:`sincos_2d_position_embedding`; ``"none"``: no position information."""

RESAMPLE_METHODS = ("bicubic", "bilinear")


def sincos_2d_position_embedding(
    grid: tuple[int, int], dim: int, temperature: float = 10_000.0
) -> np.ndarray:
    """The fixed 2-D sin-cos position embedding (MoCo v3, MAE, big_vision), ``[1, H*W, dim]``.

    Row-major over the ``grid = (H, W)`` patches. The channels are four equal quarters,
    ``[sin(x w), cos(x w), sin(y w), cos(y w)]`` with x the column, y the row and the
    ``dim / 4`` frequencies ``w_i = temperature ** (-i / (dim / 4 - 1))`` (big_vision's
    spacing: from 1 down to ``1 / temperature``). ``dim`` must be a multiple of 4.
    """
    if dim % 4:
        raise ValueError(f"sincos2d position embedding needs a width divisible by 4, got {dim}.")
    quarter = dim // 4
    exponents = np.arange(quarter, dtype=np.float64) / max(quarter - 1, 1)
    frequencies = temperature ** (-exponents)  # [dim / 4]
    rows, cols = np.meshgrid(np.arange(grid[0]), np.arange(grid[1]), indexing="ij")
    x = cols.reshape(-1, 1) * frequencies  # [H*W, dim / 4]
    y = rows.reshape(-1, 1) * frequencies
    table = np.concatenate([np.sin(x), np.cos(x), np.sin(y), np.cos(y)], axis=1)
    return table[None].astype(np.float32)


def resample_pos_embed(
    pos_embed: jax.Array | np.ndarray,
    old_grid: tuple[int, int],
    new_grid: tuple[int, int],
    num_prefix_tokens: int,
    method: str = "bicubic",
) -> np.ndarray:
    """Resize a learned position embedding to another patch grid (another image size).

    Args:
      pos_embed: ``[1, P + N_old, D]``: P prefix rows (class / distillation tokens) then
        the ``N_old = old_grid[0] * old_grid[1]`` patch rows in row-major order.
      old_grid, new_grid: (rows, columns) of patches before and after.
      num_prefix_tokens: P; these rows are kept as they are.
      method: ``"bicubic"`` (default; PyTorch's antialiased bicubic, Keys a = -0.5, which
        is timm's ``resample_abs_pos_embed`` default) or ``"bilinear"`` (PyTorch's
        bilinear, half-pixel centres). Both antialias when shrinking, as timm does.
    Returns:
      ``[1, P + N_new, D]`` float32 numpy, ``N_new = new_grid[0] * new_grid[1]``; the
      input unchanged (as numpy) when the grids are equal.
    """
    if method not in RESAMPLE_METHODS:
        raise ValueError(f"method must be one of {', '.join(RESAMPLE_METHODS)}, got '{method}'.")
    pos_embed = np.asarray(pos_embed, dtype=np.float32)
    _, length, dim = pos_embed.shape
    if length != num_prefix_tokens + old_grid[0] * old_grid[1]:
        raise ValueError(
            f"pos_embed has {length} rows, expected {num_prefix_tokens} prefix + "
            f"{old_grid[0]}x{old_grid[1]} patch rows."
        )
    if tuple(old_grid) == tuple(new_grid):
        return pos_embed
    prefix, patches = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    patches = patches.reshape(1, *old_grid, dim)
    resized = jax.image.resize(
        jnp.asarray(patches), (1, *new_grid, dim), method=method, antialias=True
    )
    resized = np.asarray(resized, dtype=np.float32).reshape(1, -1, dim)
    return np.concatenate([prefix, resized], axis=1)
