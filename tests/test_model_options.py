"""MetaFormer options: fused attention, nn.scan over blocks, nn.remat."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixer_vit.layers import DropPath, MultiHeadSelfAttention
from mixer_vit.models import create_model, stochastic_depth_rates
from mixer_vit.models.block_stacking import stack_block_params, unstack_block_params

SMALL = dict(embed_dim=16, depth=3, patch_size=4, num_classes=3, mixer_kwargs={"num_heads": 2})
IMAGES = jnp.asarray(np.random.default_rng(0).normal(size=(2, 16, 16, 3)), jnp.float32)


def _random_head(params):
    params = dict(params)
    head = dict(params["head"])
    head["kernel"] = jax.random.normal(jax.random.PRNGKey(7), head["kernel"].shape)
    params["head"] = head
    return params


def _params(**overrides):
    model = create_model("vit_ti16", **SMALL, **overrides)
    return model, _random_head(model.init(jax.random.PRNGKey(0), IMAGES)["params"])


# ---- fused attention ----------------------------------------------------------------


@pytest.mark.parametrize("dtype, tol", [(jnp.float32, 1e-5), (jnp.bfloat16, 3e-2)])
def test_fused_attention_equals_plain(dtype, tol):
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 17, 32))
    plain = MultiHeadSelfAttention(num_heads=4, dtype=dtype)
    fused = MultiHeadSelfAttention(num_heads=4, implementation="fused", dtype=dtype)
    variables = plain.init(jax.random.PRNGKey(1), x, deterministic=True)
    a = plain.apply(variables, x, deterministic=True)
    b = jax.jit(lambda v, x: fused.apply(v, x, deterministic=True))(variables, x)
    assert a.dtype == b.dtype == dtype
    scale = float(jnp.abs(a.astype(jnp.float32)).max())
    err = float(jnp.abs(a.astype(jnp.float32) - b.astype(jnp.float32)).max())
    assert err <= tol * max(scale, 1.0), (err, scale)


def test_fused_attention_through_create_model():
    model, params = _params()
    fused = create_model(
        "vit_ti16", **{**SMALL, "mixer_kwargs": {"num_heads": 2, "implementation": "fused"}}
    )
    a = jax.jit(lambda p, x: model.apply({"params": p}, x))(params, IMAGES)
    b = jax.jit(lambda p, x: fused.apply({"params": p}, x))(params, IMAGES)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5, rtol=1e-5)


def test_fused_attention_bad_settings_fail():
    x = jnp.zeros((1, 4, 8))
    with pytest.raises(ValueError, match="no attention dropout"):
        MultiHeadSelfAttention(2, attn_drop=0.1, implementation="fused").init(
            jax.random.PRNGKey(0), x, deterministic=True
        )
    with pytest.raises(ValueError, match="implementation must be one of"):
        MultiHeadSelfAttention(2, implementation="flash").init(
            jax.random.PRNGKey(0), x, deterministic=True
        )


# ---- scan / remat ---------------------------------------------------------------------


def test_stack_unstack_round_trip_and_layout():
    model, params = _params()
    stacked = stack_block_params(params)
    assert "blocks_0" not in stacked
    assert stacked["blocks"]["mixer"]["qkv"]["kernel"].shape == (3, 16, 48)
    scanned = create_model("vit_ti16", **SMALL, scan_blocks=True)
    shapes = jax.eval_shape(lambda x: scanned.init(jax.random.PRNGKey(0), x), IMAGES)["params"]
    assert jax.tree.map(np.shape, shapes) == jax.tree.map(np.shape, stacked)
    back = unstack_block_params(stacked)
    assert jax.tree.structure(back) == jax.tree.structure(dict(params))
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(dict(params))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ValueError, match="remat_policy"):
        create_model("vit_ti16", **SMALL, remat_policy="everything")


def test_scanned_equals_unscanned_given_restacked_params():
    model, params = _params()
    scanned = create_model("vit_ti16", **SMALL, scan_blocks=True)
    a = model.apply({"params": params}, IMAGES)
    b = jax.jit(lambda p, x: scanned.apply({"params": p}, x))(stack_block_params(params), IMAGES)
    assert float(jnp.abs(a).max()) > 1e-3
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("scan", [False, True])
def test_remat_gives_identical_grads(scan):
    model, params = _params(scan_blocks=scan, drop_path_rate=0.2, dropout_rate=0.1)
    remat = create_model(
        "vit_ti16",
        **SMALL,
        scan_blocks=scan,
        drop_path_rate=0.2,
        dropout_rate=0.1,
        remat_blocks=True,
        remat_policy="dots_saveable",
    )
    if scan:
        params = model.init(jax.random.PRNGKey(0), IMAGES)["params"]
        params = {**params, "head": _random_head(params)["head"]}

    def grads(m):
        def loss(p):
            rngs = {"dropout": jax.random.key(5)}
            logits = m.apply({"params": p}, IMAGES, train=True, rngs=rngs)
            return jnp.sum(logits**2)

        return jax.jit(jax.grad(loss))(params)

    g, g_remat = grads(model), grads(remat)
    assert jax.tree.structure(g) == jax.tree.structure(g_remat)
    for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_remat)):
        # equal up to float32 rounding (XLA may fuse the recomputation differently)
        scale = float(np.abs(a).max())
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5 * scale + 1e-7)
    assert float(jnp.abs(g["patch_embed"]["proj"]["kernel"]).max()) > 0


def test_scan_keeps_linear_drop_path_rule():
    """Records the rate each DropPath uses at run time: the scan feeds block i its rate."""
    seen: list[float] = []

    def record(next_fun, args, kwargs, context):
        if isinstance(context.module, DropPath) and context.method_name == "__call__":
            jax.debug.callback(lambda r: seen.append(float(r)), jnp.asarray(context.module.rate))
        return next_fun(*args, **kwargs)

    depth, top = 4, 0.3
    model = create_model(
        "vit_ti16", **{**SMALL, "depth": depth}, scan_blocks=True, drop_path_rate=top
    )
    variables = model.init(jax.random.PRNGKey(0), IMAGES)
    with nn.intercept_methods(record):
        out = model.apply(variables, IMAGES, train=True, rngs={"dropout": jax.random.key(1)})
        jax.block_until_ready(out)
    expected = stochastic_depth_rates(top, depth)
    # two DropPath calls per block (mixer branch, MLP branch), blocks in order
    np.testing.assert_allclose(seen, np.repeat(expected, 2), atol=1e-7)
    assert expected[0] == 0.0 and expected[-1] == pytest.approx(top)
