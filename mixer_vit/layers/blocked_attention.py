"""Softmax attention computed a few images at a time, so the logits stay in cache.

For ViT-sized inputs the ``[B, H, N, N]`` logits and weights are several times larger
than ``q``, ``k`` and ``v``: on CPU the plain formulation spends most of its time
streaming them through memory (softmax passes, and on the backward the saved weights).
Here ``lax.map`` walks over blocks of images whose logits fit in ``block_bytes``
(about the L2 cache), and ``jax.checkpoint`` recomputes each block's logits in the
backward pass instead of storing them: the flash-attention idea at image granularity,
in plain XLA. Measured on a 2-core CPU (docs/benchmarks.md): forward + backward of
ViT-S/16 attention at batch 32 ~100 ms -> ~60 ms.

Images are dealt to blocks round-robin (``mixer_vit.layers.image_groups``), so a batch
split over devices in contiguous slices stays split the same way inside every block.
Same arithmetic as the plain formulation (float32 logits and softmax).

Small problems skip the blocks: when the logits of the whole batch fit in
``whole_batch_bytes`` (a quarter of the L3 cache), they stay in cache anyway, and the
loop's per-block slices, writes and recompute only add work. A 6-block width-128 ViT on
28x28 images (4 heads, 50 tokens, batch 128: 5 MiB of logits) trains faster without them
(docs/benchmarks.md, "Small models on small images"); B/16 and S/16 shapes (>= 30 MiB at
batch 32) are unaffected.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from .image_groups import collect_images, deal_images, images_per_group, loops_allowed
from .low_precision_dot import LOW_PRECISION, accumulating_einsum

DEFAULT_BLOCK_BYTES = 2**20
"""Logit bytes per block: 1 MiB, the per-core L2 cache of the machine it was tuned on
(2-core AMD EPYC; 1 MiB beat 0.5, 2, 4 and 8 MiB for ViT-S/16 and ViT-B/16 shapes)."""


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
    if v.dtype in LOW_PRECISION and v.shape[-2] % 2 and jax.default_backend() == "cpu":
        # YNNPACK's bf16 GEMM takes an odd contraction length on a slower path: one zero
        # key (a zero weight column and a zero value row) makes it even, same result.
        # Measured for 4 ViT-B/16 images: 2.86 ms at 197 keys, 2.19 ms at 198.
        # (Neutral where YNNPACK also takes the softmax: mixer_vit.xla_cpu_flags.)
        weights = jnp.pad(weights, [(0, 0)] * (weights.ndim - 1) + [(0, 1)])
        v = jnp.pad(v, [(0, 0)] * (v.ndim - 2) + [(0, 1), (0, 0)])
    return accumulating_einsum("...hqk,...hkd->...hqd", weights, v)


DEFAULT_WHOLE_BATCH_BYTES = 2**23
"""Logit bytes of the whole batch up to which attention runs unblocked: 8 MiB, a quarter
of the 32 MiB L3 cache of the machine it was tuned on."""


def images_per_block(batch: int, heads: int, tokens: int, block_bytes: int) -> int:
    """Largest divisor of ``batch`` whose float32 logits fit in ``block_bytes`` (>= 1)."""
    return images_per_group(batch, heads * tokens * tokens * 4, block_bytes)


def blocked_attention(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    *,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    whole_batch_bytes: int = DEFAULT_WHOLE_BATCH_BYTES,
) -> jax.Array:
    """:func:`softmax_attention` over blocks of images: ``[B, H, N, hd] -> [B, H, N, hd]``.

    Unblocked when the whole batch's float32 logits fit in ``whole_batch_bytes``."""
    batch, heads, tokens, _ = q.shape
    per_block = images_per_block(batch, heads, tokens, block_bytes)
    blocks = batch // per_block
    small = batch * heads * tokens * tokens * 4 <= whole_batch_bytes
    if blocks == 1 or small or not loops_allowed():
        return softmax_attention(q, k, v)

    block = jax.checkpoint(lambda qkv: softmax_attention(*qkv))
    dealt = tuple(deal_images(x, blocks) for x in (q, k, v))  # [blocks, B / blocks, ...]
    return collect_images(jax.lax.map(block, dealt))
