"""Stochastic depth ("drop path"): drop a whole residual branch per example."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class DropPath(nn.Module):
    """Zero the input of randomly chosen examples and scale the kept ones by ``1/(1-rate)``.

    ``[B, ...] -> [B, ...]``: one Bernoulli(1 - rate) draw per example, shared by all
    other axes. Identity when ``deterministic`` or ``rate == 0``. Draws from the
    ``'dropout'`` rng stream. ``rate`` may also be a traced scalar (a per-block rate fed
    through ``nn.scan``); it is then not range-checked and always draws.
    """

    rate: float | jax.Array = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, *, deterministic: bool) -> jax.Array:
        static = isinstance(self.rate, (int, float))
        if static and not 0.0 <= self.rate < 1.0:
            raise ValueError(f"DropPath rate must be in [0, 1), got {self.rate}.")
        if deterministic or (static and self.rate == 0.0):
            return x
        keep_prob = 1.0 - self.rate
        mask_shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        keep = jax.random.bernoulli(self.make_rng("dropout"), keep_prob, mask_shape)
        return jnp.where(keep, x / jnp.asarray(keep_prob, x.dtype), jnp.zeros((), x.dtype))
