"""The device's measured matmul peak: a jitted square matmul, timed after compilation.

Utilisation in ``mixer-vit bench`` is achieved FLOP/s over this measured peak (2 FLOPs per
multiply-add, as XLA's cost analysis counts them), not over a datasheet number; the bench
measures it before and after its rows and keeps the better one. The matmul is the one the
models run: low-precision operands accumulate in float32 (``mixer_vit.layers.dense``),
compiled with the same per-dtype XLA options (``mixer_vit.xla_cpu_flags``). Its float32
result is not rounded back to bfloat16: that extra pass over a 2048^2 result, out of
cache, cost ~15% of the bf16 rate on the 2-core CPU (306 vs 362 GFLOP/s), while the
models round each GEMM result inside a cache-sized fusion.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp

from mixer_vit.xla_cpu_flags import compiler_options


def default_matmul_size(device: jax.Device) -> int:
    """2048 on CPU (a second or so), 8192 on accelerators (enough to saturate them)."""
    return 2048 if device.platform == "cpu" else 8192


def matmul_peak_flops(
    dtype: str, size: int | None = None, min_repeats: int = 10, min_seconds: float = 1.0
) -> float:
    """Best FLOP/s of a jitted ``size``^3 matmul in ``dtype`` on the first device, over at
    least ``min_repeats`` calls and ``min_seconds`` (a peak is what the device does at its
    best: on a shared machine a few calls can all land in a slow spell)."""
    device = jax.devices()[0]
    n = size or default_matmul_size(device)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    a, b = (jax.device_put(jax.random.normal(k, (n, n), dtype), device) for k in keys)
    options = compiler_options(dtype, device.platform)
    matmul = jax.jit(lambda a, b: jnp.einsum("ik,kj->ij", a, b, preferred_element_type=jnp.float32))
    matmul = matmul.lower(a, b).compile(compiler_options=options)
    matmul(a, b).block_until_ready()  # warm up
    best, calls, began = float("inf"), 0, time.perf_counter()
    while calls < min_repeats or time.perf_counter() - began < min_seconds:
        start = time.perf_counter()
        matmul(a, b).block_until_ready()
        best = min(best, time.perf_counter() - start)
        calls += 1
    return 2.0 * n**3 / best
