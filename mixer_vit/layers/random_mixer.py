"""A frozen random token-mixing matrix (PoolFormer Table 5's "random matrix" baseline).

``y[b, n, d] = sum_m R[n, m] x[b, m, d]`` with a fixed random ``R [N, N]`` that is never
trained. ``R`` is built with NumPy while tracing, from the ``seed`` attribute and the
module's path in the model, so it is a constant of the compiled program: it is not a
parameter (the optimizer, weight decay, checkpoints and parameter counts never see it)
and every block of a model gets its own matrix, the same in every process and on resume
(with ``scan_blocks`` the blocks share one path, ``blocks/mixer``, hence one matrix).

Rows: ``R[n] = softmax(u[n])`` with ``u[n, m] ~ Uniform[0, 1)``, the construction of the
MetaFormer authors' frozen random mixer. Every row is a convex combination of the tokens
(positive weights summing to 1, each within a factor ``e`` of ``1 / N``): a randomly
perturbed global average. So the branch keeps the scale of its input, like the pooling
mixer, and a Gaussian matrix's sign flips and growing norm (``~ sqrt(N)`` per row) do
not enter the comparison; what is random is only *which* tokens get more weight.
The matrix does not depend on the run's seed: runs with different seeds share it.
"""

from __future__ import annotations

import zlib
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from .mixers import register_mixer


def random_mixing_matrix(tokens: int, seed: int, salt: str = "") -> np.ndarray:
    """``[tokens, tokens]`` float32 row-stochastic matrix: row-wise softmax of
    Uniform[0, 1) draws from ``numpy.random.default_rng([seed, crc32(salt)])``."""
    rng = np.random.default_rng([seed, zlib.crc32(salt.encode())])
    logits = rng.uniform(size=(tokens, tokens))
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


@register_mixer("random")
class RandomMixer(nn.Module):
    """``x [B, N, D] -> R x [B, N, D]`` with the frozen matrix of
    :func:`random_mixing_matrix` (``N`` from the input; salt: the module's path, e.g.
    ``"blocks_0/mixer"``); no parameters.

    Mixes all ``N`` tokens alike (a class token included); ``grid`` is ignored.
    """

    seed: int = 0
    dtype: Any = jnp.float32

    def __call__(
        self, x: jax.Array, *, deterministic: bool, grid: tuple[int, int] | None = None
    ) -> jax.Array:
        del deterministic, grid  # no randomness at run time; mixes all tokens alike
        path = "/".join(self.scope.path) if self.scope is not None else ""
        matrix = random_mixing_matrix(x.shape[1], self.seed, path)
        return jnp.einsum("nm,bmd->bnd", jnp.asarray(matrix, self.dtype), x.astype(self.dtype))
