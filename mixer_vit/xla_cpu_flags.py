"""XLA:CPU settings that make this project's models faster on CPU (measured, jaxlib 0.10.2).

jaxlib 0.10.2 routes dots on CPU through YNNPACK by default and fuses the neighbouring
LayerNorm, bias and softmax ops into them ("__ynn_fusion"). On a 2-core AVX-512 CPU that
was measured slower than XLA's own Eigen GEMMs with separate elementwise fusions: ViT-B/16
inference 1.3-1.4x, Mixer-B/16 1.2-1.3x faster with YNNPACK off (docs/benchmarks.md). So:

* :func:`set_default_xla_cpu_flags` appends ``--xla_cpu_experimental_ynn_fusion_type=``
  (empty list: no YNNPACK fusions) to ``XLA_FLAGS``. It must run before JAX initialises
  its backends (the first ``jax.devices()``, array or jit call); later it does nothing
  and returns False. A flag the user already put in ``XLA_FLAGS`` is never overridden.
* bfloat16 is the exception: XLA:CPU has no native bf16 GEMM of its own and up-casts
  both operands to f32, while YNNPACK runs bf16 x bf16 -> f32 dots natively (AVX512-BF16).
  :func:`compiler_options` returns the per-compilation override for bf16/f16 programs
  (pass it to ``jax.jit(...).lower(...).compile(compiler_options=...)``): each dot goes
  to YNNPACK on its own (``LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT``), and so do reductions
  with their neighbours (``LIBRARY_FUSION_TYPE_REDUCE``). The second one lets YNNPACK take
  an attention core whole: ``q k^T``, softmax and ``weights v`` as one fusion, instead of
  two dots with XLA's softmax passes over the logits between them. ViT-B/16 bf16
  inference ran ~8% faster with it (median of 8 same-process A/Bs), while MLP-Mixer,
  whose only reductions are LayerNorm statistics, ran 5-8% slower, and float32 programs
  slower too (docs/benchmarks.md): so reductions go to YNNPACK only in bf16 programs with
  a softmax (``softmax=True``; :func:`has_softmax` tells from the lowered program).
  The model layers ask for bf16 x bf16 -> f32 dots (``mixer_vit.layers.dense``) so that
  the override applies.

Nothing here changes numerics: all variants accumulate in float32.

Which commands use them: ``mixer-vit bench`` always (its tables are measured with them),
``train`` and ``eval`` when :data:`TRAIN_DEFAULT` says so (the digits training was
measured both ways, docs/cli.md). The environment variable :data:`SWITCH_ENV`
(``MIXER_VIT_XLA_CPU_FLAGS``) decides for every command: ``1`` applies the settings,
``0`` leaves XLA's own defaults (also no per-compilation bf16 options); unset or ``auto``
keeps each command's default.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from typing import Any

from mixer_vit.errors import UserError

SWITCH_ENV = "MIXER_VIT_XLA_CPU_FLAGS"
SWITCH_VALUES = {"1": True, "on": True, "0": False, "off": False, "": None, "auto": None}
# Whether `mixer-vit train` / `eval` apply the settings when SWITCH_ENV is unset: off,
# because the digits default trained faster without them (median 1.17x steps/s, 10-13%
# less CPU time, interleaved A/B pairs; docs/cli.md).
TRAIN_DEFAULT = False

YNN_FUSION_FLAG = "xla_cpu_experimental_ynn_fusion_type"
DEFAULT_XLA_CPU_FLAGS = (f"--{YNN_FUSION_FLAG}=",)
LOW_PRECISION_OPTIONS = {YNN_FUSION_FLAG: "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}
LOW_PRECISION_SOFTMAX_OPTIONS = {
    YNN_FUSION_FLAG: "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE"
}


def _flag_name(flag: str) -> str:
    return flag.lstrip("-").split("=", 1)[0]


def _user_flag_names(environ: MutableMapping[str, str]) -> set[str]:
    return {_flag_name(f) for f in environ.get("XLA_FLAGS", "").split() if f.startswith("--")}


def _backends_initialised() -> bool:
    try:
        from jax._src import xla_bridge
    except ImportError:  # pragma: no cover - jax is a hard dependency
        return False
    return bool(xla_bridge.backends_are_initialized())


def settings_enabled(default: bool, environ: MutableMapping[str, str] | None = None) -> bool:
    """Whether this project's XLA:CPU settings apply: :data:`SWITCH_ENV` when set to
    ``0``/``1`` (``off``/``on``), else ``default`` (the command's). Raises ``UserError`` for
    any other value."""
    environ = os.environ if environ is None else environ
    value = environ.get(SWITCH_ENV, "").strip().lower()
    if value not in SWITCH_VALUES:
        raise UserError(
            f"{SWITCH_ENV}={environ[SWITCH_ENV]!r} is not a choice; set it to 1 (this "
            "project's XLA:CPU settings), 0 (XLA's defaults) or leave it unset"
        )
    chosen = SWITCH_VALUES[value]
    return default if chosen is None else chosen


def set_default_xla_cpu_flags(
    environ: MutableMapping[str, str] | None = None, *, default: bool = True
) -> bool:
    """Append :data:`DEFAULT_XLA_CPU_FLAGS` to ``XLA_FLAGS`` (keeping the user's flags,
    which win: a flag already named there is not added), unless :func:`settings_enabled`
    with this command's ``default`` says no. Returns True when the flags are in effect for
    this process, False when switched off or when JAX's backends were already initialised
    (too late: XLA reads ``XLA_FLAGS`` once, at backend start)."""
    environ = os.environ if environ is None else environ
    if not settings_enabled(default, environ):
        return False
    if environ is os.environ and _backends_initialised():
        return False
    present = _user_flag_names(environ)
    extra = [f for f in DEFAULT_XLA_CPU_FLAGS if _flag_name(f) not in present]
    if extra:
        environ["XLA_FLAGS"] = " ".join([environ.get("XLA_FLAGS", ""), *extra]).strip()
    return True


def has_softmax(lowered: Any) -> bool:
    """Whether a ``jax.jit(...).lower(...)`` program computes an exponential (softmax
    attention does; GELU, LayerNorm, SiLU and FFT mixing do not)."""
    return "stablehlo.exponential" in lowered.as_text()


def compiler_options(
    dtype: Any,
    platform: str = "cpu",
    environ: MutableMapping[str, str] | None = None,
    *,
    softmax: bool = False,
) -> dict[str, str]:
    """Per-compilation XLA options for a program computing in ``dtype`` on ``platform``:
    for bfloat16/float16 on CPU :data:`LOW_PRECISION_OPTIONS`, or with ``softmax``
    :data:`LOW_PRECISION_SOFTMAX_OPTIONS`; else ``{}``. Also ``{}`` when the user set
    the YNNPACK flag in ``XLA_FLAGS`` themselves or :data:`SWITCH_ENV` is ``0``."""
    environ = os.environ if environ is None else environ
    name = getattr(dtype, "__name__", None) or str(dtype)
    if platform != "cpu" or name not in ("bfloat16", "float16"):
        return {}
    if not settings_enabled(True, environ):
        return {}
    user = environ.get("XLA_FLAGS", "")
    defaults = set(DEFAULT_XLA_CPU_FLAGS)
    if any(f not in defaults and _flag_name(f) == YNN_FUSION_FLAG for f in user.split()):
        return {}
    return dict(LOW_PRECISION_SOFTMAX_OPTIONS if softmax else LOW_PRECISION_OPTIONS)
