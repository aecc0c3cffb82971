"""One process-wide switch for the layer kernels.

* ``"reference"``: plain flax/JAX layers differentiated by JAX's autodiff (the
  ``nn.Dense`` matmul and bias add, ``jax.nn.gelu``, LayerNorm written out), whole-batch
  blocks (no image groups) and plain XLA attention. The test oracle, and the choice on
  GPU and TPU, whose compilers need no help.
* ``"cpu_tuned"``: the hand-written derivative rules of
  ``mixer_vit.layers.linear_grads``, ``layer_norm_grad`` and ``gelu`` (shaped for
  XLA:CPU's GEMMs), grouped inference (``image_groups``) and blocked attention
  (``blocked_attention``), all measured faster on a 2-core CPU (docs/kernels.md).
* ``"auto"`` (default): ``"cpu_tuned"`` when JAX's default backend is the CPU, else
  ``"reference"``.

Both paths have the same parameters (checkpoints interchange) and compute the same
function; both support forward- and reverse-mode autodiff. The setting is read when a
function is traced and is not part of ``jax.jit``'s cache key: a jitted function already
traced keeps the kernels it was traced with, so set the kernels first, or wrap a new
function (or call ``jax.clear_caches()``) after changing them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import jax

KERNELS = ("auto", "reference", "cpu_tuned")
"""Accepted values of the switch."""

_setting = "auto"


def check_kernels(name: str) -> str:
    """``name`` if it is one of :data:`KERNELS`, else a one-line ``ValueError``."""
    if name not in KERNELS:
        raise ValueError(
            f"kernels must be one of {', '.join(KERNELS)}, got {name!r}; "
            "'auto' picks cpu_tuned on CPU and reference elsewhere."
        )
    return name


def set_kernels(name: str) -> None:
    """Sets the process-wide kernels (``"auto"``, ``"reference"`` or ``"cpu_tuned"``)."""
    global _setting
    _setting = check_kernels(name)


def kernels_setting() -> str:
    """The current setting, ``"auto"`` included."""
    return _setting


@contextlib.contextmanager
def use_kernels(name: str) -> Iterator[None]:
    """Within this context the kernels are ``name``; the previous setting is restored."""
    previous = _setting
    set_kernels(name)
    try:
        yield
    finally:
        set_kernels(previous)


def resolved_kernels() -> str:
    """``"reference"`` or ``"cpu_tuned"``: the setting with ``"auto"`` resolved by the
    default backend."""
    if _setting != "auto":
        return _setting
    return "cpu_tuned" if jax.default_backend() == "cpu" else "reference"


def cpu_tuned_active() -> bool:
    """True when the CPU-tuned kernels are in effect (read at trace time by the layers)."""
    return resolved_kernels() == "cpu_tuned"
