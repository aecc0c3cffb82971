"""The device's measured matmul peak: a jitted square matmul, timed after compilation.

Utilisation in ``mixer-vit bench`` is achieved FLOP/s over this measured peak (2 FLOPs per
multiply-add, as XLA's cost analysis counts them), not over a datasheet number.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp


def default_matmul_size(device: jax.Device) -> int:
    """2048 on CPU (a second or so), 8192 on accelerators (enough to saturate them)."""
    return 2048 if device.platform == "cpu" else 8192


def matmul_peak_flops(dtype: str, size: int | None = None, repeats: int = 5) -> float:
    """Best FLOP/s of a jitted ``size``^3 matmul in ``dtype`` on the first device."""
    device = jax.devices()[0]
    n = size or default_matmul_size(device)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    a, b = (jax.device_put(jax.random.normal(k, (n, n), dtype), device) for k in keys)
    matmul = jax.jit(jnp.matmul)
    matmul(a, b).block_until_ready()  # compile and warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best
