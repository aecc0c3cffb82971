"""Splitting a batch into groups of images that are processed one group at a time.

A transformer or Mixer block on a whole batch writes each activation for all images
before the next op reads it back: at batch 32 the ``[B * N, 4 D]`` MLP hidden layer of
a B/16 model is 77 MB in float32, far beyond the caches, so every elementwise pass over it
runs at memory speed. Running the block on a few images at a time keeps those
activations in cache. Used by ``mixer_vit.layers.blocked_attention`` (attention logits)
and by the MetaFormer's grouped inference (``mixer_vit.models.block_stacking``).

Images are dealt to groups round-robin (group ``i`` holds images ``i, i + groups, ...``),
so a batch split over devices in contiguous slices stays split the same way inside every
group and no device idles while another works through its group.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import jax
import jax.numpy as jnp

from .kernels import cpu_tuned_active
from .low_precision_dot import LOW_PRECISION

DEFAULT_GROUP_BYTES = 2**24
"""Bytes of a group's widest activation: 16 MiB, half the L3 cache of the machine it was
tuned on (2-core AMD EPYC, 32 MiB L3; B/16 models in bfloat16: 4 images per group,
measured against 2, 8 and 16 in docs/benchmarks.md)."""

_LOOP_FREE = contextvars.ContextVar("mixer_vit_loop_free", default=False)


@contextlib.contextmanager
def loop_free_lowering() -> Iterator[None]:
    """Within this context, functions traced process the whole batch at once (no
    blocked attention, no grouped inference).

    For FLOP counting: XLA's cost analysis counts a loop body once, so a grouped model
    would report a fraction of its FLOPs (``mixer_vit.bench``). Trace a new function
    inside the context; an already-traced one keeps its loops."""
    token = _LOOP_FREE.set(True)
    try:
        yield
    finally:
        _LOOP_FREE.reset(token)


def loops_allowed() -> bool:
    """False inside :func:`loop_free_lowering`."""
    return not _LOOP_FREE.get()


def images_per_group(batch: int, bytes_per_image: int, group_bytes: int) -> int:
    """Largest divisor of ``batch`` whose ``bytes_per_image`` fit in ``group_bytes`` (>= 1)."""
    fit = max(1, group_bytes // max(1, bytes_per_image))
    return max(d for d in range(1, min(batch, fit) + 1) if batch % d == 0)


def auto_image_group(batch: int, bytes_per_image: int, dtype) -> int:
    """Images per group for grouped inference, 0 for none: with the CPU-tuned kernels
    (``mixer_vit.layers.kernels``) and bfloat16/float16 compute,
    :func:`images_per_group` with :data:`DEFAULT_GROUP_BYTES` (grouping measured ~13%
    faster there, and neutral for float32, whose slower GEMMs leave memory time
    hidden; docs/benchmarks.md). ``bytes_per_image``: the widest activation of one image."""
    if not cpu_tuned_active() or jnp.dtype(dtype) not in LOW_PRECISION:
        return 0
    return images_per_group(batch, bytes_per_image, DEFAULT_GROUP_BYTES)


def deal_images(x: jax.Array, groups: int) -> jax.Array:
    """``[B, ...] -> [groups, B // groups, ...]``, image ``i`` to group ``i % groups``."""
    return jnp.swapaxes(x.reshape(x.shape[0] // groups, groups, *x.shape[1:]), 0, 1)


def collect_images(x: jax.Array) -> jax.Array:
    """Inverse of :func:`deal_images`: ``[groups, B // groups, ...] -> [B, ...]``."""
    return jnp.swapaxes(x, 0, 1).reshape(x.shape[0] * x.shape[1], *x.shape[2:])
