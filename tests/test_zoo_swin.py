"""Swin Transformer: window attention, patch merging, golden counts, FLOPs, timm parity."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixer_vit.layers import PatchMerging, WindowAttention, make_mixer
from mixer_vit.layers.window_attention import (
    MASK_FILL,
    effective_window,
    relative_position_index,
    shifted_window_mask,
)
from mixer_vit.models import create_model, model_default_image_size

GOLDEN_PARAMS = {"swin_t": 28_288_354, "swin_s": 49_606_258, "swin_b": 87_768_224}
TIMM_NAMES = {
    "swin_t": "swin_tiny_patch4_window7_224",
    "swin_s": "swin_small_patch4_window7_224",
    "swin_b": "swin_base_patch4_window7_224",
}
# Small but complete, narrow widths: stage 0 has an unshifted and a shifted block (masked);
# stage 3's second block must not shift where its grid (7x7 at 224) fits in one window.
REDUCED = dict(depths=(2, 1, 1, 2), embed_dim=32, num_heads=(2, 2, 4, 4))


def random_variables(module, *args, **kwargs):
    """Variables of ``module.init(key, *args, **kwargs)``, drawn in numpy: no init compile."""
    shapes = jax.eval_shape(lambda: module.init(jax.random.key(0), *args, **kwargs))
    rng = np.random.default_rng(0)
    return jax.tree.map(lambda s: jnp.asarray(0.1 * rng.normal(size=s.shape), s.dtype), shapes)


def param_count(model, size):
    shapes = jax.eval_shape(
        lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3)), train=False)
    )
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(shapes["params"]))


@pytest.mark.parametrize("name", sorted(GOLDEN_PARAMS))
def test_golden_param_counts(name):
    assert model_default_image_size(name) == 224
    assert param_count(create_model(name), 224) == GOLDEN_PARAMS[name]


def test_swin_t_flops_match_published_gmacs():
    from mixer_vit.bench.flops import forward_flops_per_image

    flops = forward_flops_per_image(create_model("swin_t"), (224, 224, 3))
    assert abs(flops / (2 * 4.49e9) - 1) < 0.05, flops


def test_relative_position_index_formula():
    wh, ww = 2, 3
    index = relative_position_index((wh, ww))
    coords = [(i, j) for i in range(wh) for j in range(ww)]
    for q, (qi, qj) in enumerate(coords):
        for k, (ki, kj) in enumerate(coords):
            assert index[q, k] == (qi - ki + wh - 1) * (2 * ww - 1) + (qj - kj + ww - 1)
    assert index.min() == 0 and index.max() == (2 * wh - 1) * (2 * ww - 1) - 1


def test_shift_rule_and_mask():
    # a stage grid no larger than the window: one window of the grid, no shift (per axis)
    assert effective_window((56, 56), 7, 3) == ((7, 7), (3, 3))
    assert effective_window((7, 7), 7, 3) == ((7, 7), (0, 0))
    assert effective_window((4, 9), 7, 3) == ((4, 7), (0, 3))
    # 4x4 grid, window 2, shift 1: only the last row/column of windows mixes regions
    mask = shifted_window_mask((4, 4), (2, 2), (1, 1))
    assert mask.shape == (4, 4, 4)
    assert set(np.unique(mask)) == {0.0, MASK_FILL}
    assert not mask[0].any()  # top-left window lies inside one region
    assert (mask[3] != 0).sum() == 12  # bottom-right window: 4 tokens in 4 regions


def test_patch_merging_order_and_odd_sizes():
    # channel c of token (h, w) holds 100 * h + 10 * w + c
    h, w = np.meshgrid(np.arange(4), np.arange(4), indexing="ij")
    x = jnp.asarray((100 * h + 10 * w)[None, :, :, None] + np.arange(2), jnp.float32)
    layer = PatchMerging()
    variables = layer.init(jax.random.key(0), x)
    assert variables["params"]["reduction"]["kernel"].shape == (8, 4)
    assert "bias" not in variables["params"]["reduction"]
    concat = {}

    def capture(next_fun, args, kwargs, context):
        if context.module.name == "norm":
            concat["x"] = args[0]
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(capture):
        layer.apply(variables, x)
    # order (h0w0, h1w0, h0w1, h1w1) for the top-left group
    np.testing.assert_array_equal(concat["x"][0, 0, 0], [0, 1, 100, 101, 10, 11, 110, 111])
    odd = layer.apply(layer.init(jax.random.key(0), x[:, :3, :3]), x[:, :3, :3])
    assert odd.shape == (1, 2, 2, 4)


def test_window_attention_is_a_registered_mixer_with_prefix_tokens():
    mixer = make_mixer("window_attention", num_heads=2, window_size=3, shift_size=1)
    assert isinstance(mixer, WindowAttention)
    x = jax.random.normal(jax.random.key(0), (2, 1 + 5 * 7, 8))  # class token + 5x7 grid
    variables = random_variables(mixer, x, deterministic=True, grid=(5, 7))
    assert variables["params"]["relative_position_bias_table"].shape == (25, 2)

    @jax.jit
    def apply(x):
        return mixer.apply(variables, x, deterministic=True, grid=(5, 7))

    y = apply(x)
    assert y.shape == x.shape and y.dtype == x.dtype

    def changed_by(token):  # which outputs change when one input token changes
        delta = apply(x.at[:, token].add(1.0)) - y
        return np.asarray(jnp.abs(delta[0]).sum(-1) > 1e-6)

    # the class token sees every token; a patch token only the tokens of its window
    from_class = changed_by(0)
    assert from_class[0] and not from_class[1:].any()
    from_patch = changed_by(1 + 2 * 7 + 3)
    assert from_patch[0] and 1 <= from_patch[1:].sum() <= 9
    # no grid: one row of tokens (1-D windows of 3)
    no_grid = jax.jit(lambda x: mixer.init_with_output(jax.random.key(1), x, deterministic=True))
    out, variables = no_grid(x[:, :5])
    assert out.shape == (2, 5, 8)
    assert variables["params"]["relative_position_bias_table"].shape == (5, 2)


def test_window_attention_inside_the_isotropic_metaformer():
    kwargs = dict(patch_size=4, depth=2, embed_dim=32, num_classes=10)
    model = create_model(
        "vit_ti16",
        mixer="window_attention",
        mixer_kwargs={"num_heads": 2, "window_size": 4, "shift_size": 2},
        **kwargs,
    )
    images = jax.random.normal(jax.random.key(0), (2, 32, 32, 3))  # 8x8 grid + class token
    variables = random_variables(model, images)
    table = variables["params"]["blocks_0"]["mixer"]["relative_position_bias_table"]
    assert table.shape == (49, 2)
    logits = jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, images)
    assert logits.shape == (2, 10) and bool(jnp.isfinite(logits).all())


def test_swin_forward_train_bf16_and_errors():
    # two stages on 32x32 images: grids 8 (padded to 14, shifted) and 4
    small = dict(embed_dim=16, depths=(2, 1), num_heads=(2, 2), drop_path_rate=0.2)
    small["dropout_rate"] = 0.1
    model = create_model("swin_t", num_classes=0, **small)  # features: the head is 0 at init
    assert model.patch_size == 4
    images = jax.random.normal(jax.random.key(0), (2, 32, 32, 3))
    variables = random_variables(model, images)
    train = jax.jit(lambda v, x, key: model.apply(v, x, train=True, rngs={"dropout": key}))
    features = train(variables, images, jax.random.key(1))
    assert features.shape == (2, 32) and features.dtype == jnp.float32
    assert not np.allclose(features, train(variables, images, jax.random.key(2)))
    bf16 = create_model("swin_t", num_classes=0, dtype=jnp.bfloat16, **small)
    out = jax.jit(lambda v, x: bf16.apply(v, x))(variables, images)
    assert out.dtype == jnp.float32 and bool(jnp.isfinite(out).all())
    with pytest.raises(ValueError, match=r"Image size 30x30 is not divisible by patch size 4"):
        model.init(jax.random.key(0), jnp.zeros((1, 30, 30, 3)))
    with pytest.raises(ValueError, match="num_heads"):
        create_model("swin_t", depths=(2, 2), num_heads=(3, 6, 12, 24))


def test_converter_is_strict_and_reads_original_checkpoints():
    from mixer_vit.convert import ConversionError, timm_converters
    from mixer_vit.convert.timm_swin import convert_swin

    assert {n: timm_converters()[n].timm_name for n in GOLDEN_PARAMS} == TIMM_NAMES
    original = {
        "layers.0.downsample.reduction.weight": np.zeros((8, 16)),
        "layers.1.blocks.0.attn.relative_position_index": np.zeros((49, 49)),
        "head.weight": np.zeros((10, 32)),
    }
    assert sorted(convert_swin(original, None)) == [
        "params/head/kernel",
        "params/stages_1/downsample/reduction/kernel",
    ]
    from mixer_vit.convert import convert_timm

    with pytest.raises(ConversionError, match="unexpected: not_swin.weight"):
        convert_timm("swin_t", {"not_swin.weight": np.zeros(3)}, **REDUCED)


PARITY = [  # (name, image size, overrides for both): 224, and 200 = padding + odd merging
    ("swin_t", 224, REDUCED),
    ("swin_t", 200, REDUCED),
]


def parity(name, size, overrides):
    pytest.importorskip("torch")
    from timm_reference import max_logit_difference

    timm_kwargs = dict(overrides, img_size=size)
    diff, scale = max_logit_difference(
        name, TIMM_NAMES[name], size, our_overrides=overrides, timm_kwargs=timm_kwargs
    )
    assert scale > 0.1 and diff < 1e-4, (diff, scale)


@pytest.mark.parametrize("name,size,overrides", PARITY)
def test_timm_parity(name, size, overrides):
    parity(name, size, overrides)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,size,overrides", [("swin_t", 224, {}), ("swin_t", 256, dict(REDUCED, window_size=8))]
)
def test_timm_parity_full_depth_and_window_8(name, size, overrides):
    parity(name, size, overrides)
