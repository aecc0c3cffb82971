"""ConvNet baselines: ResNet v1.5, BiT ResNet-V2, EfficientNet B0-B7.

Golden parameter counts (timm 1.0.31, 1000 classes), the EfficientNet compound-scaling
rule, timm logit parity (float32, eval) through the converters, BatchNorm state updates,
dtype / dropout / stochastic-depth behaviour and input-size errors.
"""

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax.traverse_util import flatten_dict

from mixer_vit.models import create_model, model_default_image_size
from mixer_vit.models.efficientnet import (
    ALPHA,
    B0_STAGES,
    BETA,
    EFFICIENTNET_TABLE,
    GAMMA,
    EfficientNet,
    compound_multipliers,
    round_channels,
    round_repeats,
    scaled_stages,
)
from mixer_vit.models.resnet import ResNet

# timm 1.0.31: sum of parameter numels, pretrained=False, 1000 classes.
GOLDEN_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnetv2_50x1_bit": 25_549_352,
    "resnetv2_50x3_bit": 217_319_080,
    "resnetv2_101x1_bit": 44_541_480,
    "resnetv2_101x3_bit": 387_934_888,
    "resnetv2_152x2_bit": 236_335_208,
    "resnetv2_152x4_bit": 936_533_224,
    "efficientnet_b0": 5_288_548,
    "efficientnet_b1": 7_794_184,
    "efficientnet_b2": 9_109_994,
    "efficientnet_b3": 12_233_232,
    "efficientnet_b4": 19_341_616,
    "efficientnet_b5": 30_389_784,
    "efficientnet_b6": 43_040_704,
    "efficientnet_b7": 66_347_960,
}

# timm's built efficientnet_b{i}: (stem, repeats per stage, channels per stage, head)
TIMM_EFFICIENTNET_STRUCTURE = {
    "efficientnet_b0": (32, (1, 2, 2, 3, 3, 4, 1), (16, 24, 40, 80, 112, 192, 320), 1280),
    "efficientnet_b1": (32, (2, 3, 3, 4, 4, 5, 2), (16, 24, 40, 80, 112, 192, 320), 1280),
    "efficientnet_b2": (32, (2, 3, 3, 4, 4, 5, 2), (16, 24, 48, 88, 120, 208, 352), 1408),
    "efficientnet_b3": (40, (2, 3, 3, 5, 5, 6, 2), (24, 32, 48, 96, 136, 232, 384), 1536),
    "efficientnet_b4": (48, (2, 4, 4, 6, 6, 8, 2), (24, 32, 56, 112, 160, 272, 448), 1792),
    "efficientnet_b5": (48, (3, 5, 5, 7, 7, 9, 3), (24, 40, 64, 128, 176, 304, 512), 2048),
    "efficientnet_b6": (56, (3, 6, 6, 8, 8, 11, 3), (32, 40, 72, 144, 200, 344, 576), 2304),
    "efficientnet_b7": (64, (4, 7, 7, 10, 10, 13, 4), (32, 48, 80, 160, 224, 384, 640), 2560),
}

# small variants for behaviour tests (32x32 images, 10 classes), all regularisers on
REGULARISED = {"num_classes": 10, "dropout_rate": 0.5, "drop_path_rate": 0.5}
TINY_MODELS = [
    ResNet(block="basic", depths=(1, 1, 1, 1), **REGULARISED),
    EfficientNet(width_multiplier=0.25, depth_multiplier=0.5, **REGULARISED),
]


def images(batch=2, size=32, seed=0):
    return jax.random.normal(jax.random.key(seed), (batch, size, size, 3))


def random_variables(module, x, seed=0):
    """Random variables for ``module`` on ``x`` (numpy; compiling the initialisers of
    a ConvNet takes tens of seconds on CPU): He-scaled kernels, positive running vars."""
    shapes = jax.eval_shape(lambda: module.init(jax.random.key(0), x, train=False))
    rng = np.random.default_rng(seed)

    def fill(path, leaf):
        name = path[-1].key
        noise = rng.normal(size=leaf.shape).astype(np.float32)
        if name == "var":
            return jnp.asarray(0.5 + np.abs(noise))
        if name == "kernel":
            return jnp.asarray(noise * np.sqrt(2.0 / math.prod(leaf.shape[:-1])))
        return jnp.asarray((name == "scale") + 0.1 * noise)

    return jax.tree_util.tree_map_with_path(fill, shapes)


def count(tree):
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))


@pytest.mark.parametrize("name,expected", sorted(GOLDEN_PARAMS.items()))
def test_golden_param_counts(name, expected):
    model = create_model(name)
    x = jnp.zeros((1, 32, 32, 3))  # counts do not depend on the resolution
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
    assert count(variables["params"]) == expected


def test_default_image_sizes():
    sizes = [model_default_image_size(f"efficientnet_b{i}") for i in range(8)]
    assert sizes == [224, 240, 260, 300, 380, 456, 528, 600]
    assert model_default_image_size("resnet50") == 224
    assert model_default_image_size("resnetv2_50x1_bit") == 224


def test_efficientnet_compound_scaling_rule():
    # the bases satisfy the paper's FLOPs constraint alpha * beta^2 * gamma^2 ~ 2
    assert ALPHA * BETA**2 * GAMMA**2 == pytest.approx(2.0, abs=0.1)
    assert compound_multipliers(0) == (1.0, 1.0, 224)
    depth, width, resolution = compound_multipliers(1)
    assert (depth, width) == pytest.approx((ALPHA, BETA)) and resolution == pytest.approx(257.6)
    # the table grows in every dimension, B0 is the unscaled baseline
    rows = [EFFICIENTNET_TABLE[f"efficientnet_b{i}"] for i in range(8)]
    assert rows[0][:3] == (1.0, 1.0, 224)
    for before, after in itertools.pairwise(rows):
        assert all(a >= b for a, b in zip(after[:3], before[:3]))
    # B2's multipliers are phi = 1 of the rule, rounded to one decimal
    assert EFFICIENTNET_TABLE["efficientnet_b2"][:2] == (round(BETA, 1), round(ALPHA, 1))
    # the rounding rules: nearest multiple of 8, never 10% below; repeats round up
    assert [round_channels(c, 1.1) for c in (16, 24, 40, 80, 112, 192, 320)] == [
        16,
        24,
        48,
        88,
        120,
        208,
        352,
    ]
    assert round_channels(32, 1.4) == 48 and round_channels(1280, 2.0) == 2560
    assert [round_repeats(r, 1.1) for r in (1, 2, 3, 4)] == [2, 3, 4, 5]


@pytest.mark.parametrize("name", sorted(TIMM_EFFICIENTNET_STRUCTURE))
def test_efficientnet_stages_derive_from_b0(name):
    width, depth, _, _ = EFFICIENTNET_TABLE[name]
    stages = scaled_stages(width, depth)
    stem, repeats, channels, head = TIMM_EFFICIENTNET_STRUCTURE[name]
    assert tuple(s.repeats for s in stages) == repeats
    assert tuple(s.channels for s in stages) == channels
    assert round_channels(32, width) == stem and round_channels(1280, width) == head
    for base, scaled in zip(B0_STAGES, stages):
        assert scaled.repeats == math.ceil(base.repeats * depth)
        assert (scaled.kernel, scaled.stride, scaled.expand) == (
            base.kernel,
            base.stride,
            base.expand,
        )


def _parity(name, sizes, batch=1):
    """max |ours - timm| logits at each size, plus the timm logit scale, one timm model."""
    from timm_reference import random_timm_model, state_dict_numpy, timm_logits

    from mixer_vit.convert import convert_timm

    reference = random_timm_model(name)
    model, variables = convert_timm(name, state_dict_numpy(reference), image_size=sizes[0])
    apply = jax.jit(lambda v, x: model.apply(v, x, train=False))
    results = {}
    for size in sizes:
        x = np.random.default_rng(size).normal(size=(batch, size, size, 3)).astype(np.float32)
        expected = timm_logits(reference, x)
        got = np.asarray(apply(variables, x))
        results[size] = (float(np.max(np.abs(got - expected))), float(np.max(np.abs(expected))))
    return results


@pytest.mark.parametrize(
    "name,sizes",
    [
        ("resnet50", (224,)),
        ("resnet18", (160,)),
        ("resnetv2_50x1_bit", (224, 160)),
        ("efficientnet_b0", (224, 160)),
    ],
)
def test_timm_parity(name, sizes):
    for size, (diff, scale) in _parity(name, sizes).items():
        assert scale > 1e-2, (size, scale)
        assert diff < 1e-4, (name, size, diff)


@functools.cache
def _train_apply(module):
    """jitted ``(variables, images, key) -> (logits, new batch_stats)`` in train mode."""

    def apply(variables, x, key):
        logits, state = module.apply(
            variables, x, train=True, mutable=["batch_stats"], rngs={"dropout": key}
        )
        return logits, state["batch_stats"]

    return jax.jit(apply)


@functools.cache
def _eval_apply(module):
    """jitted ``(variables, images) -> (logits, batch_stats after the call)``, eval mode."""

    def apply(variables, x):
        logits, state = module.apply(variables, x, train=False, mutable=["batch_stats"])
        return logits, state["batch_stats"]

    return jax.jit(apply)


@pytest.mark.parametrize("module", TINY_MODELS)
def test_train_mode_is_random_and_updates_batch_stats_eval_is_neither(module):
    x = images()
    variables = random_variables(module, x)
    assert set(variables) == {"params", "batch_stats"}

    logits, unchanged = _eval_apply(module)(variables, x)
    assert jax.tree.all(jax.tree.map(np.array_equal, unchanged, variables["batch_stats"]))
    np.testing.assert_array_equal(logits, _eval_apply(module)(variables, x)[0])

    logits, updated = _train_apply(module)(variables, x, jax.random.key(1))
    assert logits.shape == (2, 10)
    # every BatchNorm moves its statistics (a mean may stay 0 exactly: a BN output fed
    # through a linear 1x1 conv has zero batch mean)
    for path, stats in flatten_dict(updated).items():
        old = flatten_dict(variables["batch_stats"])[path]
        assert not np.allclose(stats, old) or path[-1] == "mean", path
    # dropout and drop path draw from the 'dropout' stream
    other, _ = _train_apply(module)(variables, x, jax.random.key(2))
    assert not np.allclose(logits, other)


def test_bit_has_no_batch_stats_and_standardises_kernels():
    from mixer_vit.layers.weight_standardized_conv import standardize_kernel

    model = create_model("resnetv2_50x1_bit", depths=(1, 1, 1, 1), num_classes=10)
    variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), images())
    assert set(variables) == {"params"}
    kernel = variables["params"]["stem_conv"]["kernel"]
    assert kernel.shape == (7, 7, 3, 64)
    raw = np.random.default_rng(0).normal(size=kernel.shape).astype(np.float32)
    w = standardize_kernel(jnp.asarray(raw * 3.0 + 1.0), 1e-8)
    np.testing.assert_allclose(w.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(w.std(axis=(0, 1, 2)), 1.0, atol=1e-4)


@pytest.mark.parametrize("module", TINY_MODELS)
def test_bfloat16_compute_keeps_float32_params_and_logits(module):
    x = images()
    variables = random_variables(module, x)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(variables))
    logits, _ = _eval_apply(module.clone(dtype=jnp.bfloat16))(variables, x)
    full, _ = _eval_apply(module)(variables, x)
    assert logits.dtype == jnp.float32
    np.testing.assert_allclose(logits, full, atol=0.1 * float(jnp.abs(full).max()) + 1e-2)


def test_features_without_head():
    model = create_model("resnet18", num_classes=0, depths=(1, 1, 1, 1))
    out = jax.eval_shape(
        lambda x: model.apply(model.init(jax.random.key(0), x, train=False), x), images()
    )
    assert out.shape == (2, 512) and out.dtype == jnp.float32


@pytest.mark.parametrize("name", ["resnet18", "resnetv2_50x1_bit", "efficientnet_b0"])
def test_too_small_images_fail_in_one_line(name):
    model = create_model(name)
    with pytest.raises(ValueError, match=r"Image size 16x16 is too small .* at least 32") as info:
        jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 16, 16, 3))))
    assert "\n" not in str(info.value)
