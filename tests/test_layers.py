"""Layers checked against independent NumPy computations (tiny shapes, CPU-fast)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erf

from mixer_vit.layers import (
    DropPath,
    IdentityMixer,
    Mlp,
    MultiHeadSelfAttention,
    PatchEmbed,
    TokenMixingMlp,
    get_mixer,
    layer_norm,
    list_mixers,
    make_mixer,
)


def np_gelu(x):
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def randn(seed, shape):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def init_params(module, x):
    return module.init(jax.random.key(0), jnp.asarray(x), deterministic=True)["params"]


def as_np(tree):
    return jax.tree.map(lambda a: np.asarray(a, np.float64), tree)


def test_attention_matches_numpy():
    batch, tokens, dim, heads = 2, 5, 8, 2
    x = randn(0, (batch, tokens, dim))
    layer = MultiHeadSelfAttention(num_heads=heads)
    params = init_params(layer, x)
    # random biases too, so the bias path is exercised
    params = jax.tree.map(lambda p: p + 0.1 * jax.random.normal(jax.random.key(1), p.shape), params)
    out = np.asarray(layer.apply({"params": params}, jnp.asarray(x), deterministic=True))

    p = as_np(params)
    qkv = x @ p["qkv"]["kernel"] + p["qkv"]["bias"]  # [B, N, 3D]
    head_dim = dim // heads
    q, k, v = (
        qkv[..., i * dim : (i + 1) * dim]
        .reshape(batch, tokens, heads, head_dim)
        .transpose(0, 2, 1, 3)
        for i in range(3)
    )  # [B, H, N, hd]
    attn = np_softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(head_dim))
    ctx = (attn @ v).transpose(0, 2, 1, 3).reshape(batch, tokens, dim)
    expected = ctx @ p["proj"]["kernel"] + p["proj"]["bias"]
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_attention_param_count_matches_timm():
    dim = 8
    params = init_params(MultiHeadSelfAttention(num_heads=2), randn(0, (1, 3, dim)))
    count = sum(a.size for a in jax.tree.leaves(params))
    assert count == (dim * 3 * dim + 3 * dim) + (dim * dim + dim)


def test_attention_rejects_width_not_divisible_by_heads():
    with pytest.raises(ValueError, match="num_heads"):
        init_params(MultiHeadSelfAttention(num_heads=3), randn(0, (1, 3, 8)))


def test_token_mixing_mlp_matches_numpy():
    batch, tokens, dim, hidden = 2, 6, 4, 3
    x = randn(2, (batch, tokens, dim))
    layer = TokenMixingMlp(tokens_mlp_dim=hidden)
    params = init_params(layer, x)
    params = jax.tree.map(lambda p: p + 0.1 * jax.random.normal(jax.random.key(3), p.shape), params)
    out = np.asarray(layer.apply({"params": params}, jnp.asarray(x), deterministic=True))

    p = as_np(params)["mlp"]
    assert p["fc1"]["kernel"].shape == (tokens, hidden)
    xt = x.transpose(0, 2, 1)  # [B, D, N]
    y = np_gelu(xt @ p["fc1"]["kernel"] + p["fc1"]["bias"]) @ p["fc2"]["kernel"] + p["fc2"]["bias"]
    np.testing.assert_allclose(out, y.transpose(0, 2, 1), rtol=1e-4, atol=1e-5)


def test_mlp_uses_exact_erf_gelu():
    x = 3.0 * randn(4, (4, 6))
    layer = Mlp(hidden_dim=16, out_dim=5)
    params = init_params(layer, x)
    out = np.asarray(layer.apply({"params": params}, jnp.asarray(x), deterministic=True))
    p = as_np(params)
    pre = x @ p["fc1"]["kernel"] + p["fc1"]["bias"]
    expected = np_gelu(pre) @ p["fc2"]["kernel"] + p["fc2"]["bias"]
    tanh_gelu = 0.5 * pre * (1 + np.tanh(np.sqrt(2 / np.pi) * (pre + 0.044715 * pre**3)))
    tanh_expected = tanh_gelu @ p["fc2"]["kernel"] + p["fc2"]["bias"]
    assert out.shape == (4, 5)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert np.abs(out - tanh_expected).max() > 1e-5  # the check can tell the two forms apart


def test_drop_path_statistics():
    rate, batch = 0.3, 20000
    x = jnp.ones((batch, 3, 2))
    y = np.asarray(
        DropPath(rate).apply({}, x, deterministic=False, rngs={"dropout": jax.random.key(0)})
    )
    per_example = y.reshape(batch, -1)
    # whole examples are kept or dropped, never single elements
    assert np.all(per_example == per_example[:, :1])
    kept = per_example[:, 0] != 0
    assert abs(kept.mean() - (1 - rate)) < 0.015
    np.testing.assert_allclose(per_example[kept], 1 / (1 - rate), rtol=1e-6)


def test_drop_path_identity_when_off():
    x = jnp.asarray(randn(5, (8, 4)))
    rngs = {"dropout": jax.random.key(0)}
    assert np.array_equal(DropPath(0.0).apply({}, x, deterministic=False, rngs=rngs), x)
    assert np.array_equal(DropPath(0.5).apply({}, x, deterministic=True), x)


def test_patch_embed_equals_reshape_and_matmul():
    batch, height, width, chans, p, dim = 2, 8, 12, 3, 4, 5
    images = randn(6, (batch, height, width, chans))
    layer = PatchEmbed(patch_size=p, embed_dim=dim)
    params = layer.init(jax.random.key(0), jnp.asarray(images))["params"]
    out = np.asarray(layer.apply({"params": params}, jnp.asarray(images)))

    kernel = np.asarray(params["proj"]["kernel"])  # [p, p, C, D]
    patches = (
        images.reshape(batch, height // p, p, width // p, p, chans)
        .transpose(0, 1, 3, 2, 4, 5)
        .reshape(batch, (height // p) * (width // p), p * p * chans)
    )
    expected = patches @ kernel.reshape(p * p * chans, dim) + np.asarray(params["proj"]["bias"])
    assert out.shape == (batch, 6, dim)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_patch_embed_params_match_conv_and_bf16_runs_as_gemm():
    images = jnp.asarray(randn(7, (2, 8, 12, 3)))
    params = PatchEmbed(patch_size=4, embed_dim=5).init(jax.random.key(0), images)["params"]

    class ConvEmbed(nn.Module):  # the strided convolution it replaces, at the same path
        @nn.compact
        def __call__(self, x):
            return nn.Conv(5, (4, 4), strides=(4, 4), padding="VALID", name="proj")(x)

    conv_params = ConvEmbed().init(jax.random.key(0), images)["params"]
    jax.tree.map(np.testing.assert_array_equal, params, conv_params)  # names, shapes, values
    expected = ConvEmbed().apply({"params": params}, images).reshape(2, 6, 5)
    np.testing.assert_allclose(PatchEmbed(4, 5).apply({"params": params}, images), expected)
    half = PatchEmbed(patch_size=4, embed_dim=5, dtype=jnp.bfloat16)
    out = half.apply({"params": params}, images)
    assert out.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(out, np.float32), expected, rtol=2e-2, atol=2e-2)
    hlo = jax.jit(lambda x: half.apply({"params": params}, x)).lower(images).as_text()
    assert "convolution" not in hlo and "dot_general" in hlo


def test_patch_embed_rejects_indivisible_image():
    layer = PatchEmbed(patch_size=4, embed_dim=5)
    with pytest.raises(ValueError, match=r"Image size 10x12 is not divisible by patch size 4"):
        layer.init(jax.random.key(0), jnp.zeros((1, 10, 12, 3)))


def test_layer_norm_epsilon():
    assert layer_norm().epsilon == 1e-6
    assert layer_norm(1e-5).epsilon == 1e-5


def test_mixer_registry():
    assert {"attention", "mlp", "identity"} <= set(list_mixers())
    assert list_mixers() == sorted(list_mixers())
    assert get_mixer("attention") is MultiHeadSelfAttention
    assert get_mixer("mlp") is TokenMixingMlp
    assert get_mixer("identity") is IdentityMixer
    with pytest.raises(ValueError, match="known mixers: .*attention"):
        get_mixer("fourrier")
    with pytest.raises(ValueError, match="unknown hyper-parameter.*num_head.*accepts: num_heads"):
        make_mixer("attention", num_head=2)


MIXER_KWARGS = {"attention": {"num_heads": 2}, "mlp": {"tokens_mlp_dim": 4}, "identity": {}}


@pytest.mark.parametrize("name", sorted(MIXER_KWARGS))
def test_every_mixer_keeps_shape(name):
    x = jnp.asarray(randn(7, (2, 5, 8)))
    mixer = make_mixer(name, **MIXER_KWARGS[name])
    variables = mixer.init(jax.random.key(0), x, deterministic=True)
    y = mixer.apply(variables, x, deterministic=True)
    assert y.shape == x.shape and y.dtype == x.dtype
