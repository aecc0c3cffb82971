"""Swin window attention token mixer: (shifted) local windows + relative position bias.

The patch grid is cut into non-overlapping ``window x window`` windows and self-attention
runs inside each one, with a learned bias per head for every relative offset between two
tokens of a window. With ``shift_size > 0`` the grid is first rolled up/left by
``shift_size`` (cyclic shift), so windows straddle the previous windows' borders; tokens
that the roll brought together from opposite image edges are kept apart by an additive
mask of -100 (as the reference implementation does), and the output is rolled back.

Follows the Swin paper / timm exactly where it matters for weight parity:

* per axis, a grid no larger than the window uses one window of the grid's size and no
  shift (so the bias table is then ``(2 * grid - 1)`` wide on that axis);
* a grid that is not a multiple of the window is zero-padded at the bottom/right after
  the roll; padded tokens take part in attention (they are not masked), and the shift
  mask is computed on the padded grid;
* the bias table index is ``(dy + wh - 1) * (2 * ww - 1) + (dx + ww - 1)``.

Tokens before the patch grid (e.g. a class token in an isotropic MetaFormer) attend to
all tokens globally, with the same projections and no position bias; patch tokens see
only their window.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from .mixers import register_mixer
from .token_grid import split_grid

MASK_FILL = -100.0
"""Added to the logits of token pairs that a cyclic shift brought together (timm's value)."""


def effective_window(
    grid: tuple[int, int], window_size: int, shift_size: int
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Per-axis ``(window, shift)`` for a ``grid``: an axis not longer than the window
    gets one window of its own length and no shift. Returns ``((wh, ww), (sh, sw))``."""
    windows, shifts = [], []
    for length in grid:
        if length <= window_size:
            windows.append(length)
            shifts.append(0)
        else:
            windows.append(window_size)
            shifts.append(shift_size)
    return (windows[0], windows[1]), (shifts[0], shifts[1])


def relative_position_index(window: tuple[int, int]) -> np.ndarray:
    """Row of the bias table for each (query, key) pair of a window, ``[T, T]`` int32 with
    ``T = wh * ww`` (tokens row-major); the table has ``(2 wh - 1) (2 ww - 1)`` rows."""
    wh, ww = window
    coords = np.stack(np.meshgrid(np.arange(wh), np.arange(ww), indexing="ij")).reshape(2, -1)
    delta = coords[:, :, None] - coords[:, None, :]  # [2, T, T]: query minus key
    return ((delta[0] + wh - 1) * (2 * ww - 1) + (delta[1] + ww - 1)).astype(np.int32)


def shifted_window_mask(
    padded_grid: tuple[int, int], window: tuple[int, int], shift: tuple[int, int]
) -> np.ndarray:
    """Additive mask ``[num_windows, T, T]`` (0 or ``MASK_FILL``) for the rolled grid.

    Every position of the (padded) grid gets a region label from three bands per axis:
    ``[0, L - w)``, ``[L - w, L - s)``, ``[L - s, L)``; two tokens of one window may
    attend to each other only when their labels agree. Windows are numbered row-major.
    """

    def bands(length: int, win: int, sft: int) -> np.ndarray:
        if sft == 0:
            return np.zeros(length, np.int32)
        idx = np.arange(length)
        return (idx >= length - win).astype(np.int32) + (idx >= length - sft)

    (hp, wp), (wh, ww) = padded_grid, window
    labels = bands(hp, wh, shift[0])[:, None] * 3 + bands(wp, ww, shift[1])[None, :]
    labels = labels.reshape(hp // wh, wh, wp // ww, ww).transpose(0, 2, 1, 3)
    labels = labels.reshape(-1, wh * ww)  # [num_windows, T]
    different = labels[:, :, None] != labels[:, None, :]
    return np.where(different, MASK_FILL, 0.0).astype(np.float32)


def window_partition(x: jax.Array, window: tuple[int, int]) -> jax.Array:
    """``[B, H, W, C] -> [B, num_windows, wh * ww, C]`` (windows and tokens row-major);
    H and W must be multiples of the window."""
    batch, height, width, channels = x.shape
    wh, ww = window
    x = x.reshape(batch, height // wh, wh, width // ww, ww, channels)
    return x.transpose(0, 1, 3, 2, 4, 5).reshape(batch, -1, wh * ww, channels)


def window_merge(windows: jax.Array, window: tuple[int, int], grid: tuple[int, int]) -> jax.Array:
    """Inverse of :func:`window_partition`: ``[B, num_windows, wh * ww, C] -> [B, H, W, C]``."""
    batch, _, _, channels = windows.shape
    (wh, ww), (height, width) = window, grid
    x = windows.reshape(batch, height // wh, width // ww, wh, ww, channels)
    return x.transpose(0, 1, 3, 2, 4, 5).reshape(batch, height, width, channels)


@register_mixer("window_attention")
class WindowAttention(nn.Module):
    """(Shifted-)window multi-head self-attention, ``[B, N, D] -> [B, N, D]``.

    The last ``H * W`` of the N tokens are the row-major patch grid ``grid=(H, W)``;
    ``grid=None`` treats all N tokens as one row ``(1, N)`` (1-D windows of
    ``window_size`` tokens), like the other spatial mixers. Parameters (timm layout):
    ``qkv/kernel [D, 3D]`` (output ordered ``(3, num_heads, head_dim)``), ``qkv/bias [3D]``,
    ``proj/kernel [D, D]``, ``proj/bias [D]``, ``relative_position_bias_table
    [(2 wh - 1) (2 ww - 1), num_heads]`` where ``(wh, ww)`` is the effective window for
    the grid at init (``window_size`` unless the grid is smaller). Logits, bias, mask and
    softmax are float32 whatever ``dtype`` is.

    Attributes:
      num_heads: attention heads; must divide D.
      window_size: side of the square windows (7 in Swin).
      shift_size: cyclic shift, in tokens (``window_size // 2`` on odd Swin blocks, 0 on
        even ones); must be smaller than ``window_size``.
      qkv_bias: learn a bias for q, k and v.
      attn_drop: dropout on the attention weights.
      proj_drop: dropout on the output projection.
      dtype: compute dtype.
    """

    num_heads: int
    window_size: int = 7
    shift_size: int = 0
    qkv_bias: bool = True
    attn_drop: float = 0.0
    proj_drop: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(
        self, x: jax.Array, *, deterministic: bool, grid: tuple[int, int] | None = None
    ) -> jax.Array:
        batch, tokens, dim = x.shape
        if dim % self.num_heads:
            raise ValueError(
                f"Window attention width {dim} is not divisible by num_heads={self.num_heads}."
            )
        if self.window_size < 1 or not 0 <= self.shift_size < self.window_size:
            raise ValueError(
                f"window_attention needs window_size >= 1 and 0 <= shift_size < window_size, "
                f"got window_size={self.window_size}, shift_size={self.shift_size}."
            )
        prefix, _ = split_grid(x, grid)  # checks the grid fits; grid=None is one row (1, N)
        num_prefix = prefix.shape[1]
        height, width = (1, tokens) if grid is None else grid
        heads, head_dim = self.num_heads, dim // self.num_heads
        window, shift = effective_window((height, width), self.window_size, self.shift_size)
        pad_h, pad_w = (-height) % window[0], (-width) % window[1]
        padded = (height + pad_h, width + pad_w)
        num_rel = (2 * window[0] - 1) * (2 * window[1] - 1)

        table = self.param(
            "relative_position_bias_table",
            nn.initializers.truncated_normal(stddev=0.02),
            (num_rel, heads),
        )
        dense = functools.partial(
            nn.Dense, dtype=self.dtype, kernel_init=nn.initializers.xavier_uniform()
        )
        qkv = dense(3 * dim, use_bias=self.qkv_bias, name="qkv")
        qkv_all = qkv(x)  # [B, N, 3D]

        # Patch tokens: roll, pad, cut into windows. timm pads the input with zeros before
        # the projection, so padded tokens carry qkv(0) (the bias): pad with that value.
        patches = qkv_all[:, num_prefix:].reshape(batch, height, width, 3 * dim)
        if any(shift):
            patches = jnp.roll(patches, (-shift[0], -shift[1]), axis=(1, 2))
        if pad_h or pad_w:
            pad_value = qkv(jnp.zeros((dim,), x.dtype))  # [3D]
            real = jnp.pad(jnp.ones((height, width, 1), bool), ((0, pad_h), (0, pad_w), (0, 0)))
            patches = jnp.pad(patches, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))
            patches = jnp.where(real, patches, pad_value.astype(patches.dtype))
        windows = window_partition(patches, window)  # [B, nW, T, 3D]
        num_windows, area = windows.shape[1], windows.shape[2]
        windows = windows.reshape(batch, num_windows, area, 3, heads, head_dim)
        q, k, v = windows[..., 0, :, :], windows[..., 1, :, :], windows[..., 2, :, :]

        logits = jnp.einsum("bwqhd,bwkhd->bwhqk", q * (head_dim**-0.5), k).astype(jnp.float32)
        bias = table[relative_position_index(window).reshape(-1)].reshape(area, area, heads)
        logits = logits + jnp.transpose(bias, (2, 0, 1)).astype(jnp.float32)  # [B,nW,h,T,T]
        if any(shift):
            mask = shifted_window_mask(padded, window, shift)  # [nW, T, T]
            logits = logits + jnp.asarray(mask)[None, :, None]
        weights = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
        self.sow("intermediates", "attention_weights", weights)  # [B, nW, h, T, T]
        weights = nn.Dropout(self.attn_drop)(weights, deterministic=deterministic)
        out = jnp.einsum("bwhqk,bwkhd->bwqhd", weights, v).reshape(batch, num_windows, area, dim)

        out = window_merge(out, window, padded)[:, :height, :width]
        if any(shift):
            out = jnp.roll(out, shift, axis=(1, 2))
        out = out.reshape(batch, height * width, dim)

        if num_prefix:
            # Prefix tokens attend globally to every (unpadded) token.
            all_qkv = qkv_all.reshape(batch, tokens, 3, heads, head_dim)
            q_p = all_qkv[:, :num_prefix, 0] * (head_dim**-0.5)  # [B, P, h, d]
            logits_p = jnp.einsum("bqhd,bkhd->bhqk", q_p, all_qkv[:, :, 1])
            weights_p = jax.nn.softmax(logits_p.astype(jnp.float32), axis=-1).astype(v.dtype)
            weights_p = nn.Dropout(self.attn_drop)(weights_p, deterministic=deterministic)
            out_p = jnp.einsum("bhqk,bkhd->bqhd", weights_p, all_qkv[:, :, 2])
            out = jnp.concatenate([out_p.reshape(batch, num_prefix, dim), out], axis=1)

        out = dense(dim, name="proj")(out)
        return nn.Dropout(self.proj_drop)(out, deterministic=deterministic)
