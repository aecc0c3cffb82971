"""ResMLP's token mixer: one linear layer across patches, shared over channels."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from .mixers import register_mixer


@register_mixer("linear")
class CrossPatchLinear(nn.Module):
    """``y[b, n, d] = sum_m W[m, n] x[b, m, d] + c[n]``, ``[B, N, D] -> [B, N, D]``.

    Parameters: ``linear/kernel [N, N]`` (input token, output token) and
    ``linear/bias [N]``; ``N`` is fixed by the input at init, so the image size is too.
    Mixes all tokens alike; ``grid`` is ignored.
    """

    dtype: Any = jnp.float32

    @nn.compact
    def __call__(
        self, x: jax.Array, *, deterministic: bool, grid: tuple[int, int] | None = None
    ) -> jax.Array:
        del deterministic, grid  # no randomness; mixes all tokens alike
        tokens = x.shape[1]
        y = jnp.swapaxes(x, 1, 2)  # [B, D, N]
        y = nn.Dense(tokens, dtype=self.dtype, name="linear")(y)
        return jnp.swapaxes(y, 1, 2)  # [B, N, D]
