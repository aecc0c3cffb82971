"""Hand-written gradients and the blocked attention: same numbers as autodiff of the
plain formulation, and the XLA:CPU op they exist to avoid is gone."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixer_vit.layers import MultiHeadSelfAttention, layer_norm
from mixer_vit.layers.blocked_attention import (
    blocked_attention,
    images_per_block,
    softmax_attention,
)
from mixer_vit.layers.dense import dense
from mixer_vit.layers.gelu import gelu_exact
from mixer_vit.layers.image_groups import loop_free_lowering
from mixer_vit.layers.linear_grads import column_sum
from mixer_vit.xla_cpu_flags import YNN_FUSION_FLAG

RNG = np.random.default_rng(0)


def _normal(*shape, scale=1.0, shift=0.0):
    return jnp.asarray(RNG.normal(size=shape) * scale + shift, jnp.float32)


def _perturbed(variables):
    return jax.tree.map(lambda p: p + _normal(*p.shape, scale=0.1), variables)


def _grads(module, variables, x, weights):
    def loss(v, x):
        return jnp.sum(module.apply(v, x).astype(jnp.float32) * weights)

    return jax.grad(loss, argnums=(0, 1))(variables, x)


def _flops(lowered) -> float:
    cost = lowered.cost_analysis()
    return float((cost[0] if isinstance(cost, (list, tuple)) else cost)["flops"])


def _max_diff(a, b):
    diffs = jax.tree.map(
        lambda p, q: float(jnp.max(jnp.abs(p.astype(jnp.float32) - q.astype(jnp.float32)))), a, b
    )
    return max(jax.tree.leaves(diffs))


def test_column_sum_matches_float64_sum():
    g = _normal(3, 50, 7, shift=0.3)
    expected = np.asarray(g, np.float64).reshape(-1, 7).sum(0)
    np.testing.assert_allclose(np.asarray(column_sum(g)), expected, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("in_features, out_features", [(24, 40), (40, 24)])
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_gradients_equal_flax_dense(in_features, out_features, use_bias):
    x = _normal(2, 5, in_features, scale=2.0, shift=0.5)
    weights = _normal(2, 5, out_features)
    ours = dense(out_features, use_bias=use_bias)
    reference = nn.Dense(out_features, use_bias=use_bias)
    variables = _perturbed(reference.init(jax.random.PRNGKey(0), x))
    assert jax.tree.map(jnp.shape, ours.init(jax.random.PRNGKey(0), x)) == jax.tree.map(
        jnp.shape, variables
    )
    np.testing.assert_allclose(
        ours.apply(variables, x), reference.apply(variables, x), rtol=1e-6, atol=1e-6
    )
    assert (
        _max_diff(_grads(ours, variables, x, weights), _grads(reference, variables, x, weights))
        < 2e-5
    )


def test_bf16_dense_bias_gradient_accumulates_in_float32():
    """bf16 compute: the bias gradient sums the bf16 output gradient in float32, so it is
    closer to the float64 sum than autodiff's bf16 reduction."""
    x = _normal(4, 7, 24, scale=3.0, shift=1.0)
    ours, reference = dense(48, dtype=jnp.bfloat16), nn.Dense(48, dtype=jnp.bfloat16)
    variables = ours.init(jax.random.PRNGKey(1), x)

    def bias_grad(module):
        loss = lambda v: jnp.sum(module.apply(v, x).astype(jnp.float32) ** 2)
        return np.asarray(jax.grad(loss)(variables)["params"]["bias"], np.float64)

    output = np.asarray(reference.apply(variables, x).astype(jnp.float32), np.float64)
    exact = (2 * output).reshape(-1, 48).sum(0)
    ours_err = np.abs(bias_grad(ours) - exact).max()
    assert ours_err < np.abs(bias_grad(reference) - exact).max()
    assert ours_err < 1e-2 * np.abs(exact).max()


def test_dense_bias_gradient_has_no_reduce_window_on_cpu():
    """The reason for the hand-written bias gradient: XLA:CPU turns the autodiff column
    sum into a slow reduce-window; the GEMM form has none. Compiled with YNNPACK fusions
    off, as ``mixer_vit.xla_cpu_flags`` recommends (else YNNPACK takes the reduction)."""
    options = {YNN_FUSION_FLAG: ""}
    x = _normal(8, 64, 96)
    module = dense(128)
    variables = module.init(jax.random.PRNGKey(0), x)
    grad = jax.jit(jax.grad(lambda v: jnp.sum(module.apply(v, x) ** 2)))
    hlo = grad.lower(variables).compile(compiler_options=options).as_text()
    assert "reduce-window" not in hlo
    plain = jax.jit(jax.grad(lambda v: jnp.sum(nn.Dense(128).apply(v, x) ** 2)))
    assert "reduce-window" in plain.lower(variables).compile(compiler_options=options).as_text()


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_layer_norm_equals_flax_layer_norm(dtype):
    x = _normal(4, 7, 48, scale=3.0, shift=1.0)
    weights = _normal(4, 7, 48)
    ours, reference = layer_norm(1e-6, dtype=dtype), nn.LayerNorm(epsilon=1e-6, dtype=dtype)
    variables = _perturbed(reference.init(jax.random.PRNGKey(0), x))
    a, b = ours.apply(variables, x), reference.apply(variables, x)
    assert a.dtype == b.dtype == dtype
    assert _max_diff(a, b) <= (1e-6 if dtype == jnp.float32 else 1e-2)
    assert (
        _max_diff(_grads(ours, variables, x, weights), _grads(reference, variables, x, weights))
        < 1e-5
    )


def test_gelu_value_and_gradient_equal_jax_exact_gelu():
    x = jnp.linspace(-8.0, 8.0, 2001)
    reference = lambda x: jax.nn.gelu(x, approximate=False)
    np.testing.assert_allclose(gelu_exact(x), reference(x), atol=2e-6)
    grad = jax.vmap(jax.grad(gelu_exact))(x)
    np.testing.assert_allclose(grad, jax.vmap(jax.grad(reference))(x), atol=2e-6)
    half = jax.grad(lambda x: jnp.sum(gelu_exact(x)))(x.astype(jnp.bfloat16))
    assert half.dtype == jnp.bfloat16


def test_images_per_block():
    # ViT-S/16 at 224: 6 heads x 197^2 x 4 bytes = 0.93 MB per image -> 2 images in 2 MiB.
    assert images_per_block(32, 6, 197, 2**21) == 2
    assert images_per_block(32, 12, 197, 2**21) == 1
    assert images_per_block(30, 1, 16, 4 * 16 * 16 * 4) == 3  # largest divisor <= 4
    assert images_per_block(5, 1, 16, 1) == 1


def test_blocked_attention_equals_plain_values_and_gradients():
    q, k, v, g = (_normal(6, 2, 9, 4) for _ in range(4))
    block_bytes = 2 * 9 * 9 * 4 * 2  # two images per block -> three blocks
    blocked = lambda q, k, v: blocked_attention(
        q, k, v, block_bytes=block_bytes, whole_batch_bytes=0
    )
    out, back = jax.vjp(jax.jit(blocked), q, k, v)
    out_ref, back_ref = jax.vjp(softmax_attention, q, k, v)
    np.testing.assert_allclose(out, out_ref, rtol=1e-6, atol=1e-6)
    for a, b in zip(back(g), back_ref(g)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    hlo = jax.jit(blocked).lower(q, k, v).as_text()
    assert "while" in hlo  # really blocked, not folded into one batch
    with loop_free_lowering():  # what the benchmark's FLOP count traces
        lowered = jax.jit(lambda q, k, v: blocked(q, k, v)).lower(q, k, v)
    assert "while" not in lowered.as_text()
    plain = jax.jit(softmax_attention).lower(q, k, v)
    assert _flops(lowered) == _flops(plain) > 0


def test_attention_blocked_equals_xla_and_auto_picks_blocked_on_cpu():
    x = _normal(4, 17, 32)
    plain = MultiHeadSelfAttention(num_heads=4, implementation="xla")
    variables = _perturbed(plain.init(jax.random.PRNGKey(1), x, deterministic=True))

    def loss(module):
        return lambda v, x: jnp.sum(module.apply(v, x, deterministic=True) ** 2)

    expected = jax.grad(loss(plain), argnums=(0, 1))(variables, x)
    for implementation in ("blocked", "auto"):
        module = MultiHeadSelfAttention(num_heads=4, implementation=implementation)
        assert _max_diff(jax.grad(loss(module), argnums=(0, 1))(variables, x), expected) < 1e-5
    with pytest.raises(ValueError, match="'blocked' has no attention dropout"):
        MultiHeadSelfAttention(2, attn_drop=0.1, implementation="blocked").init(
            jax.random.PRNGKey(0), x, deterministic=True
        )
    # auto on CPU blocks a batch whose logits exceed the block size and the whole-batch
    # limit (160 x 4 x 64^2 x 4 B = 10 MiB), and does not block a small one
    big = jnp.zeros((160, 64, 32))
    auto = MultiHeadSelfAttention(num_heads=4)
    lowered = jax.jit(lambda v, x: auto.apply(v, x, deterministic=True)).lower(variables, big)
    assert "while" in lowered.as_text()
    lowered = jax.jit(lambda v, x: auto.apply(v, x, deterministic=True)).lower(variables, x)
    assert "while" not in lowered.as_text()
    # an image whose logits exceed a block (4 x 300^2 x 4 B = 1.4 MB): plain for
    # inference, blocked (one image per block, logits recomputed) for training a batch
    # beyond the whole-batch limit (8 images: 11.5 MB)
    long = jnp.zeros((8, 300, 32))
    for deterministic, blocked in ((True, False), (False, True)):
        apply = lambda v, x, d=deterministic: auto.apply(v, x, deterministic=d)
        assert ("while" in jax.jit(apply).lower(variables, long).as_text()) == blocked
    # auto with active attention dropout falls back to the plain path (and keeps dropout)
    dropping = MultiHeadSelfAttention(num_heads=4, attn_drop=0.5)
    rngs = {"dropout": jax.random.PRNGKey(3)}
    out = dropping.apply(variables, x, deterministic=False, rngs=rngs)
    assert not np.allclose(out, plain.apply(variables, x, deterministic=True))


def test_bf16_attention_pads_an_odd_key_count_on_cpu():
    """bf16 on CPU: one zero key makes the weights-times-values contraction even (YNNPACK's
    fast path); the result and gradients are those of the unpadded attention."""
    q, k, v = (_normal(2, 3, 9, 4).astype(jnp.bfloat16) for _ in range(3))
    as_f32 = [x.astype(jnp.float32) for x in (q, k, v)]
    out = softmax_attention(q, k, v)
    assert out.shape == (2, 3, 9, 4) and out.dtype == jnp.bfloat16
    np.testing.assert_allclose(
        out.astype(jnp.float32), softmax_attention(*as_f32), rtol=2e-2, atol=2e-2
    )
    loss = lambda q, k, v: jnp.sum(softmax_attention(q, k, v).astype(jnp.float32) ** 2)
    grads = jax.grad(loss, argnums=(0, 1, 2))(q, k, v)
    expected = jax.grad(loss, argnums=(0, 1, 2))(*as_f32)
    for a, b in zip(grads, expected):
        assert a.shape == b.shape
        np.testing.assert_allclose(a.astype(jnp.float32), b, rtol=5e-2, atol=5e-2)
    hlo = jax.jit(softmax_attention).lower(q, k, v).as_text()
    assert ("tensor<2x3x9x10xbf16>" in hlo) == (jax.default_backend() == "cpu")
