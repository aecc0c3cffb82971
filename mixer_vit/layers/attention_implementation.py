"""Which attention kernel ``implementation="auto"`` runs, per backend, dtype and shape.

:func:`choose_attention_implementation` is a pure function of its arguments (no device
query), so the rule is unit-tested over a table of cases on any machine:

* GPU (CUDA): ``"cudnn"`` (cuDNN fused flash attention through
  ``jax.nn.dot_product_attention(..., implementation="cudnn")``; the ``[B, H, N, N]``
  logits are never materialised) when all of these hold, else ``"xla"``:

  - compute dtype float16 or bfloat16 (the cuDNN kernel takes no float32 operands);
  - head_dim a multiple of 8 and at most 128 (256 from compute capability 9.0, Hopper),
    the limits jax 0.10's ``check_is_flash_attention`` enforces;
  - no attention dropout active (``jax.nn.dot_product_attention`` has no dropout);
  - compute capability >= 8.0 (Ampere: cuDNN flash attention needs it).

* CPU: ``"blocked"`` (``mixer_vit.layers.blocked_attention``) for training, and for
  inference when one image's float32 logits fit in a block, unless attention dropout is
  active or the CPU-tuned kernels are switched off (:func:`cpu_tuned_kernels`); else
  ``"xla"``. Measured in docs/benchmarks.md.

* TPU and any other backend: ``"xla"``.

Every ``auto`` choice is recorded once per distinct case (logged through ``logging`` at
INFO on first sight) and can be read back with :func:`recorded_choices`, e.g. by the GPU
check (``mixer_vit.bench.gpu_check``).
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

import jax
import jax.numpy as jnp

from .blocked_attention import DEFAULT_BLOCK_BYTES
from .kernels import cpu_tuned_active

IMPLEMENTATIONS = ("cudnn", "blocked", "xla")
"""What :func:`choose_attention_implementation` may return."""

MIN_CUDNN_COMPUTE_CAPABILITY = (8, 0)
_CUDNN_DTYPES = (jnp.dtype(jnp.float16), jnp.dtype(jnp.bfloat16))

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_recorded: dict[tuple, str] = {}


def cpu_tuned_kernels() -> bool:
    """Whether the CPU-tuned attention (blocked) may be used on CPU: the layer-kernels
    switch (``mixer_vit.layers.kernels``; ``"auto"`` is tuned on CPU)."""
    return cpu_tuned_active()


def cudnn_max_head_dim(compute_capability: tuple[int, int]) -> int:
    """Largest head_dim cuDNN flash attention takes: 256 on Hopper (9.0) and later, else 128."""
    return 256 if compute_capability >= (9, 0) else 128


def choose_attention_implementation(
    platform: str,
    dtype: Any,
    *,
    heads: int,
    tokens: int,
    head_dim: int,
    training: bool,
    dropout_active: bool,
    compute_capability: tuple[int, int] | None = None,
    cpu_tuned: bool = True,
) -> str:
    """``"cudnn"``, ``"blocked"`` or ``"xla"`` for one attention call (rules: module doc).

    Args:
      platform: ``jax.default_backend()``: ``"gpu"``, ``"cpu"``, ``"tpu"``, ...
      dtype: the compute dtype of q, k and v.
      heads, tokens, head_dim: the shape, q/k/v ``[B, tokens, heads, head_dim]``.
      training: not ``deterministic`` (the backward pass will run).
      dropout_active: attention-weight dropout will be applied in this call.
      compute_capability: ``(major, minor)`` of the CUDA device, None if unknown or
        not CUDA (then no cuDNN).
      cpu_tuned: the CPU-tuned kernels are switched on (:func:`cpu_tuned_kernels`).
    """
    if platform == "gpu":
        if (
            compute_capability is not None
            and compute_capability >= MIN_CUDNN_COMPUTE_CAPABILITY
            and jnp.dtype(dtype) in _CUDNN_DTYPES
            and head_dim % 8 == 0
            and head_dim <= cudnn_max_head_dim(compute_capability)
            and not dropout_active
        ):
            return "cudnn"
        return "xla"
    if platform == "cpu":
        if not cpu_tuned or dropout_active:
            return "xla"
        image_fits = heads * tokens * tokens * 4 <= DEFAULT_BLOCK_BYTES
        return "blocked" if training or image_fits else "xla"
    return "xla"


@functools.lru_cache(maxsize=None)
def cuda_compute_capability() -> tuple[int, int] | None:
    """``(major, minor)`` of the first CUDA device, None without one (CPU, TPU, ROCm)."""
    if jax.default_backend() != "gpu":
        return None
    device = jax.devices()[0]
    if "cuda" not in getattr(device.client, "platform_version", "").lower():
        return None
    try:
        major, minor = str(device.compute_capability).split(".")[:2]
        return int(major), int(minor)
    except (AttributeError, ValueError):
        return None


def auto_attention_implementation(
    dtype: Any, *, heads: int, tokens: int, head_dim: int, training: bool, dropout_active: bool
) -> str:
    """:func:`choose_attention_implementation` for the default backend, recorded."""
    platform = jax.default_backend()
    capability = cuda_compute_capability()
    tuned = cpu_tuned_kernels()
    choice = choose_attention_implementation(
        platform,
        dtype,
        heads=heads,
        tokens=tokens,
        head_dim=head_dim,
        training=training,
        dropout_active=dropout_active,
        compute_capability=capability,
        cpu_tuned=tuned,
    )
    case = (platform, jnp.dtype(dtype).name, heads, tokens, head_dim, training, dropout_active,
            capability)
    with _lock:
        new = case not in _recorded
        _recorded[case] = choice
    if new:
        _log.info(
            "attention implementation '%s' (platform=%s, dtype=%s, heads=%d, tokens=%d, "
            "head_dim=%d, training=%s, dropout=%s, compute_capability=%s)",
            choice, *case,
        )
    return choice


def recorded_choices() -> list[dict[str, Any]]:
    """Every distinct ``auto`` case seen in this process and the implementation chosen."""
    keys = ("platform", "dtype", "heads", "tokens", "head_dim", "training", "dropout_active",
            "compute_capability")
    with _lock:
        items = list(_recorded.items())
    return [{**dict(zip(keys, case)), "implementation": choice} for case, choice in items]


def clear_recorded_choices() -> None:
    """Forget the recorded cases (the next of each is logged again)."""
    with _lock:
        _recorded.clear()
