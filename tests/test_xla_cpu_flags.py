"""XLA:CPU flag defaults and the float32-accumulating dense layers (logic and numerics)."""

import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixer_vit.layers.blocked_attention import softmax_attention
from mixer_vit.layers.dense import dense
from mixer_vit.layers.low_precision_dot import accumulating_dot_general, accumulating_einsum
from mixer_vit import xla_cpu_flags
from mixer_vit.errors import UserError
from mixer_vit.xla_cpu_flags import (
    DEFAULT_XLA_CPU_FLAGS,
    LOW_PRECISION_OPTIONS,
    LOW_PRECISION_SOFTMAX_OPTIONS,
    SWITCH_ENV,
    TRAIN_DEFAULT,
    YNN_FUSION_FLAG,
    compiler_options,
    has_softmax,
    set_default_xla_cpu_flags,
    settings_enabled,
)


def test_defaults_are_appended_to_user_flags():
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
    assert set_default_xla_cpu_flags(env)
    assert env["XLA_FLAGS"].split() == [
        "--xla_force_host_platform_device_count=8",
        *DEFAULT_XLA_CPU_FLAGS,
    ]
    set_default_xla_cpu_flags(env)  # idempotent
    assert env["XLA_FLAGS"].split().count(DEFAULT_XLA_CPU_FLAGS[0]) == 1


def test_defaults_set_without_user_flags():
    env = {}
    set_default_xla_cpu_flags(env)
    assert env["XLA_FLAGS"] == " ".join(DEFAULT_XLA_CPU_FLAGS)


def test_user_choice_wins():
    user = f"--{YNN_FUSION_FLAG}=LIBRARY_FUSION_TYPE_DOT"
    env = {"XLA_FLAGS": user}
    set_default_xla_cpu_flags(env)
    assert env["XLA_FLAGS"] == user
    assert compiler_options("bfloat16", "cpu", env) == {}


def test_compiler_options_per_dtype_and_platform():
    env = {"XLA_FLAGS": " ".join(DEFAULT_XLA_CPU_FLAGS)}
    assert compiler_options("bfloat16", "cpu", env) == LOW_PRECISION_OPTIONS
    assert compiler_options(jnp.bfloat16, "cpu", env) == LOW_PRECISION_OPTIONS
    assert compiler_options("bfloat16", "cpu", env, softmax=True) == LOW_PRECISION_SOFTMAX_OPTIONS
    assert compiler_options("float32", "cpu", env) == {}
    assert compiler_options("float32", "cpu", env, softmax=True) == {}
    assert compiler_options("bfloat16", "gpu", env) == {}


def test_has_softmax_tells_attention_from_mlp():
    x = jnp.ones((2, 3, 5, 4), jnp.bfloat16)
    assert has_softmax(jax.jit(softmax_attention).lower(x, x, x))
    assert not has_softmax(jax.jit(lambda x: jax.nn.gelu(x, approximate=False)).lower(x))


def test_bf16_program_compiles_with_the_options():
    a = jnp.ones((16, 32), jnp.bfloat16)
    b = jnp.ones((32, 24), jnp.bfloat16)
    f = jax.jit(lambda a, b: accumulating_einsum("ik,kj->ij", a, b))
    out = f.lower(a, b).compile(compiler_options=dict(LOW_PRECISION_OPTIONS))(a, b)
    assert out.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(out, np.float32), 32.0)


def _fused_computations(hlo: str) -> list[str]:
    return re.findall(r"^%fused_computation\S* .*?\{\n(.*?)\n\}", hlo, re.MULTILINE | re.DOTALL)


def test_bf16_attention_core_is_one_ynnpack_fusion_with_exact_numerics():
    """What the reduction fusions buy: q k^T, softmax and weights v compiled as one
    fusion (with dots alone, the softmax sits between two separate dot fusions), and the
    result as close to float64 as the dot-only program."""
    rng = np.random.default_rng(0)
    q, k, v = (
        jnp.asarray(rng.standard_normal((2, 12, 197, 64)) * scale, jnp.bfloat16)
        for scale in (0.4, 1.0, 1.0)
    )
    q64, k64, v64 = (np.asarray(x, np.float64) for x in (q, k, v))
    logits = q64 @ k64.swapaxes(-1, -2)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    exact = (weights / weights.sum(-1, keepdims=True)) @ v64

    lowered = jax.jit(softmax_attention).lower(q, k, v)
    fused = lowered.compile(compiler_options=dict(LOW_PRECISION_SOFTMAX_OPTIONS))
    dots_only = lowered.compile(compiler_options=dict(LOW_PRECISION_OPTIONS))
    errors = [np.abs(np.asarray(f(q, k, v), np.float64) - exact) for f in (fused, dots_only)]
    assert errors[0].max() <= 2**-8 * np.abs(exact).max()  # bf16 weights and output
    assert errors[0].mean() <= 1.01 * errors[1].mean()

    if "ynn_fusion" not in dots_only.as_text():
        pytest.skip("XLA does not hand bf16 dots to YNNPACK on this CPU")
    whole = [c for c in _fused_computations(fused.as_text()) if c.count(" dot(") == 2]
    assert len(whole) == 1 and "exponential(" in whole[0]
    assert all(c.count(" dot(") < 2 for c in _fused_computations(dots_only.as_text()))


def test_accumulating_dot_general_dtypes_and_values():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((8, 64)).astype(np.float32)
    b = rng.standard_normal((64, 4)).astype(np.float32)
    dims = (((1,), (0,)), ((), ()))
    out32 = accumulating_dot_general(jnp.asarray(a), jnp.asarray(b), dims)
    assert out32.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out32), a @ b, rtol=1e-5, atol=1e-5)
    a16, b16 = jnp.asarray(a, jnp.bfloat16), jnp.asarray(b, jnp.bfloat16)
    out16 = accumulating_dot_general(a16, b16, dims)
    assert out16.dtype == jnp.bfloat16
    exact = np.asarray(a16, np.float32) @ np.asarray(b16, np.float32)
    # f32 accumulation, one rounding to bf16 at the end: within one bf16 ulp of exact
    np.testing.assert_allclose(np.asarray(out16, np.float32), exact, rtol=2**-8, atol=1e-6)


def test_dense_keeps_flax_parameters():
    layer = dense(5, dtype=jnp.bfloat16)
    x = jnp.ones((2, 3), jnp.float32)
    params = layer.init(jax.random.key(0), x)["params"]
    assert params["kernel"].shape == (3, 5) and params["kernel"].dtype == jnp.float32
    assert params["bias"].shape == (5,)
    assert layer.apply({"params": params}, x).dtype == jnp.bfloat16


@pytest.mark.parametrize(
    "switch, default, expected",
    [(None, True, True), (None, False, False), ("auto", False, False), ("", True, True),
     ("1", False, True), ("on", False, True), ("0", True, False), ("OFF", True, False)],
)
def test_switch_env_decides_for_every_command(switch, default, expected):
    env = {} if switch is None else {SWITCH_ENV: switch}
    assert settings_enabled(default, env) is expected
    assert set_default_xla_cpu_flags(env, default=default) is expected
    assert (YNN_FUSION_FLAG in env.get("XLA_FLAGS", "")) is expected
    bf16 = compiler_options("bfloat16", "cpu", env)
    assert bf16 == (LOW_PRECISION_OPTIONS if switch not in ("0", "OFF") else {})


def test_switch_env_rejects_other_values():
    with pytest.raises(UserError, match=f"{SWITCH_ENV}='yes' is not a choice"):
        settings_enabled(True, {SWITCH_ENV: "yes"})


def test_train_and_eval_follow_the_measured_default(monkeypatch):
    """`mixer-vit train`/`eval` set XLA_FLAGS as TRAIN_DEFAULT or the switch says, before
    JAX starts (checked on the function the CLI calls, with a fresh environment)."""
    from mixer_vit import cli

    for switch, expected in ((None, TRAIN_DEFAULT), ("1", True), ("0", False)):
        monkeypatch.setattr(os, "environ", {} if switch is None else {SWITCH_ENV: switch})
        monkeypatch.setattr(xla_cpu_flags, "_backends_initialised", lambda: False)
        cli._apply_xla_cpu_flags()
        assert (YNN_FUSION_FLAG in os.environ.get("XLA_FLAGS", "")) is expected
