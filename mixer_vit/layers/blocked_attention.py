"""Softmax attention computed a few images at a time, so the logits stay in cache.

For ViT-sized inputs the ``[B, H, N, N]`` logits and weights are several times larger
than ``q``, ``k`` and ``v``: on CPU the plain formulation spends most of its time
streaming them through memory (softmax passes, and on the backward the saved weights).
Here ``lax.map`` walks over blocks of images whose logits fit in ``block_bytes``
(about the L2 cache), and ``jax.checkpoint`` recomputes each block's logits in the
backward pass instead of storing them: the flash-attention idea at image granularity,
in plain XLA. Measured on a 2-core CPU (docs/benchmarks.md): forward + backward of
ViT-S/16 attention at batch 32 ~100 ms -> ~60 ms.

Images are dealt to blocks round-robin (block ``i`` holds images ``i, i + n, ...``), so
a batch split over devices in contiguous slices stays split the same way inside every
block. Same arithmetic as the plain formulation (float32 logits and softmax).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator

import jax
import jax.numpy as jnp

from .low_precision_dot import accumulating_einsum

DEFAULT_BLOCK_BYTES = 2**20
"""Logit bytes per block: 1 MiB, the per-core L2 cache of the machine it was tuned on
(2-core AMD EPYC; 1 MiB beat 0.5, 2, 4 and 8 MiB for ViT-S/16 and ViT-B/16 shapes)."""


_UNBLOCKED = contextvars.ContextVar("mixer_vit_unblocked_attention", default=False)


@contextlib.contextmanager
def unblocked_attention() -> Iterator[None]:
    """Within this context, functions traced call the plain formulation instead.

    For FLOP counting: XLA's cost analysis counts a loop body once, so a blocked model
    would report 1/blocks of its attention FLOPs (``mixer_vit.bench``). Trace a new
    function inside the context; an already-traced one keeps its blocked form."""
    token = _UNBLOCKED.set(True)
    try:
        yield
    finally:
        _UNBLOCKED.reset(token)


def softmax_attention(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    weights_dropout: Callable[[jax.Array], jax.Array] | None = None,
) -> jax.Array:
    """``softmax(q k^T) v`` per head: ``q, k, v [..., H, N, hd] -> [..., H, N, hd]``.

    ``q`` comes pre-scaled; logits and softmax are float32 whatever the dtype.
    ``weights_dropout`` (e.g. a bound ``nn.Dropout``) is applied to the weights."""
    logits = jnp.einsum("...hqd,...hkd->...hqk", q, k, preferred_element_type=jnp.float32)
    weights = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
    if weights_dropout is not None:
        weights = weights_dropout(weights)
    return accumulating_einsum("...hqk,...hkd->...hqd", weights, v)


def images_per_block(batch: int, heads: int, tokens: int, block_bytes: int) -> int:
    """Largest divisor of ``batch`` whose float32 logits fit in ``block_bytes`` (>= 1)."""
    per_image = heads * tokens * tokens * 4
    fit = max(1, block_bytes // per_image)
    return max(d for d in range(1, min(batch, fit) + 1) if batch % d == 0)


def blocked_attention(
    q: jax.Array, k: jax.Array, v: jax.Array, *, block_bytes: int = DEFAULT_BLOCK_BYTES
) -> jax.Array:
    """:func:`softmax_attention` over blocks of images: ``[B, H, N, hd] -> [B, H, N, hd]``."""
    batch, heads, tokens, _ = q.shape
    per_block = images_per_block(batch, heads, tokens, block_bytes)
    blocks = batch // per_block
    if blocks == 1 or _UNBLOCKED.get():
        return softmax_attention(q, k, v)

    def deal(x: jax.Array) -> jax.Array:  # [B, ...] -> [blocks, per_block, ...]
        return jnp.swapaxes(x.reshape(per_block, blocks, *x.shape[1:]), 0, 1)

    block = jax.checkpoint(lambda qkv: softmax_attention(*qkv))
    out = jax.lax.map(block, (deal(q), deal(k), deal(v)))  # [blocks, per_block, H, N, hd]
    return jnp.swapaxes(out, 0, 1).reshape(q.shape)
