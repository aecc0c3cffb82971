"""Grouped inference (a block over a few images at a time) and the single-rounding bf16 MLP:
same parameters and results as the plain model, loops only where intended."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erf

from mixer_vit.bench.flops import forward_flops_per_image
from mixer_vit.layers import Mlp
from mixer_vit.layers.dense import dense
from mixer_vit.layers.gelu import gelu_exact
from mixer_vit.layers.image_groups import (
    auto_image_group,
    collect_images,
    deal_images,
    images_per_group,
    loop_free_lowering,
)
from mixer_vit.models.metaformer import MetaFormer

RNG = np.random.default_rng(0)


def _normal(*shape, scale=1.0):
    return jnp.asarray(RNG.normal(size=shape) * scale, jnp.float32)


def _tiny_mixer(**overrides):
    fields = {
        "patch_size": 4,
        "embed_dim": 16,
        "depth": 2,
        "mixer": "mlp",
        "mixer_kwargs": {"tokens_mlp_dim": 8},
        "num_classes": 5,
    }
    return MetaFormer(**{**fields, **overrides})


def _has_loop(model, variables, images, train=False):
    apply = lambda v, x: model.apply(v, x, train=train, rngs={"dropout": jax.random.key(0)})
    return "while" in jax.jit(apply).lower(variables, images).as_text()


def test_deal_and_collect_images_round_robin():
    x = jnp.arange(12).reshape(6, 2)
    dealt = deal_images(x, 3)  # group i holds images i, i + 3
    np.testing.assert_array_equal(dealt[:, :, 0], [[0, 6], [2, 8], [4, 10]])
    np.testing.assert_array_equal(collect_images(dealt), x)


def test_group_sizes():
    assert images_per_group(32, 3, 10) == 2  # 3 would fit, but does not divide 32
    assert images_per_group(30, 3, 10) == 3
    assert images_per_group(7, 100, 10) == 1
    # B/16 MLP hidden layer, 196 x 3072 float32 = 2.4 MB per image -> 4 images in 16 MiB
    mixer_b16 = 196 * 3072 * 4
    if jax.default_backend() == "cpu":
        assert auto_image_group(32, mixer_b16, jnp.bfloat16) == 4
        assert auto_image_group(256, mixer_b16, jnp.float16) == 4
    assert auto_image_group(32, mixer_b16, jnp.float32) == 0  # measured no gain in float32


@pytest.mark.parametrize("scan_blocks", [False, True])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_grouped_inference_equals_whole_batch(scan_blocks, dtype):
    images = _normal(6, 8, 8, 3)
    grouped = _tiny_mixer(inference_image_group=2, scan_blocks=scan_blocks, dtype=dtype)
    whole = _tiny_mixer(inference_image_group=0, scan_blocks=scan_blocks, dtype=dtype)
    variables = jax.tree.map(
        lambda p: p + _normal(*p.shape, scale=0.1), whole.init(jax.random.key(0), images[:1])
    )
    # the same parameters (float32, initialised alike), whatever the grouping
    jax.tree.map(
        np.testing.assert_array_equal,
        grouped.init(jax.random.key(0), images),
        whole.init(jax.random.key(0), images),
    )
    tolerance = 1e-5 if dtype == jnp.float32 else 3e-2  # bf16: summation order differs
    np.testing.assert_allclose(
        grouped.apply(variables, images),
        whole.apply(variables, images),
        rtol=tolerance,
        atol=tolerance,
    )
    if not scan_blocks:  # (a scanned model has its block loop anyway)
        assert _has_loop(grouped, variables, images)
        assert not _has_loop(whole, variables, images)
        assert not _has_loop(grouped, variables, images, train=True)  # inference only
        # the benchmark's FLOP count lowers the model without the group loop
        with loop_free_lowering():
            assert not _has_loop(grouped, variables, images)
        flops = [forward_flops_per_image(m, (8, 8, 3), batch_size=6) for m in (grouped, whole)]
        assert flops[0] == flops[1] > 0


def test_grouped_bf16_inference_casts_kernels_once_per_block():
    """The f32 -> bf16 kernel casts happen before the group loop, not in every step."""
    images = _normal(6, 8, 8, 3)
    model = _tiny_mixer(inference_image_group=2, dtype=jnp.bfloat16)
    variables = model.init(jax.random.key(0), images[:1])
    text = jax.jit(lambda v, x: model.apply(v, x)).lower(variables, images).as_text()
    # each while loop's header lists the values it carries: the fc1 kernel [16, 64]
    # enters already in bf16
    headers = [line for line in text.splitlines() if "stablehlo.while(" in line]
    assert len(headers) == 2  # one group loop per block
    assert all("tensor<16x64xbf16>" in h and "tensor<16x64xf32>" not in h for h in headers)


def test_grouped_inference_bad_settings():
    images = _normal(6, 8, 8, 3)
    model = _tiny_mixer(inference_image_group=4)
    variables = _tiny_mixer().init(jax.random.key(0), images[:1])
    with pytest.raises(ValueError, match="inference_image_group=4 does not divide the batch of 6"):
        model.apply(variables, images)
    with pytest.raises(ValueError, match="inference_image_group must be 'auto' or an int"):
        _tiny_mixer(inference_image_group="four")
    with pytest.raises(ValueError, match="inference_image_group must be 'auto' or an int"):
        _tiny_mixer(inference_image_group=-1)


def test_bf16_dense_accumulator_and_single_rounding_gelu():
    """``round_output=False``: the bf16 dense returns its float32 accumulator (bias added in
    float32), and GELU rounded once is within half a bf16 ulp (2^-8 relative) of float64."""
    x = _normal(64, 32, scale=2.0)
    layer = dense(48, round_output=False, dtype=jnp.bfloat16)
    variables = layer.init(jax.random.key(0), x)
    variables = jax.tree.map(lambda p: p + _normal(*p.shape, scale=0.5), variables)
    out = layer.apply(variables, x)
    assert out.dtype == jnp.float32
    params = variables["params"]
    x16, k16 = (np.asarray(a.astype(jnp.bfloat16), np.float64) for a in (x, params["kernel"]))
    exact = x16 @ k16 + np.asarray(params["bias"], np.float64)
    np.testing.assert_allclose(out, exact, rtol=1e-5, atol=1e-4)
    hidden = np.asarray(gelu_exact(out).astype(jnp.bfloat16), np.float64)
    exact_gelu = exact * 0.5 * (1 + erf(exact / np.sqrt(2)))
    assert np.all(np.abs(hidden - exact_gelu) <= 2.0**-8 * np.abs(exact_gelu) + 1e-5)
    # gradients flow through the accumulator to bf16 inputs and float32 parameters
    grads = jax.grad(lambda v, x: jnp.sum(layer.apply(v, x) ** 2), argnums=(0, 1))(
        variables, x.astype(jnp.bfloat16)
    )
    assert grads[1].dtype == jnp.bfloat16 and grads[0]["params"]["kernel"].dtype == jnp.float32
    np.testing.assert_allclose(
        grads[0]["params"]["bias"], 2 * exact.sum(0), rtol=2e-2, atol=2e-2 * np.abs(exact).max()
    )


def test_bf16_mlp_close_to_float32_mlp():
    x = _normal(4, 10, 16)
    mlp32, mlp16 = Mlp(32), Mlp(32, dtype=jnp.bfloat16)
    variables = mlp32.init(jax.random.key(0), x, deterministic=True)
    a = mlp32.apply(variables, x, deterministic=True)
    b = mlp16.apply(variables, x, deterministic=True)
    assert b.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(b, np.float32), a, rtol=3e-2, atol=3e-2)
