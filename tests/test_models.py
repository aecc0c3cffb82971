"""Model registry, golden parameter counts and MetaFormer forward contracts."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixer_vit.models import (
    MetaFormer,
    create_model,
    list_models,
    model_default_image_size,
    stochastic_depth_rates,
)

# timm 1.0.31, 1000 classes, 224x224 (see /work/shared/golden_params.tsv).
GOLDEN_PARAMS = {
    "vit_ti16": 5_717_416,  # vit_tiny_patch16_224
    "vit_s16": 22_050_664,  # vit_small_patch16_224
    "vit_b16": 86_567_656,  # vit_base_patch16_224
    "vit_l16": 304_326_632,  # vit_large_patch16_224
    "mixer_s16": 18_528_264,  # mixer_s16_224
    "mixer_b16": 59_880_472,  # mixer_b16_224
    "mixer_l16": 208_196_168,  # mixer_l16_224
}

# tiny versions of each family: 32x32 images, patch 4 (64 tokens), depth 2, width 64
TINY = {
    "vit_ti16": dict(
        patch_size=4, depth=2, embed_dim=64, mixer_kwargs={"num_heads": 2}, num_classes=10
    ),
    "mixer_s16": dict(
        patch_size=4, depth=2, embed_dim=64, mixer_kwargs={"tokens_mlp_dim": 32}, num_classes=10
    ),
}


def images(batch=2, size=32, seed=0):
    return jax.random.normal(jax.random.key(seed), (batch, size, size, 3))


def abstract_params(model, size):
    shapes = jax.eval_shape(
        lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3)), train=False)
    )
    return shapes["params"]


def count(tree):
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))


@pytest.mark.parametrize("name,expected", sorted(GOLDEN_PARAMS.items()))
def test_golden_param_counts(name, expected):
    size = model_default_image_size(name)
    assert count(abstract_params(create_model(name), size)) == expected


def test_vit_parameter_names_and_shapes():
    params = abstract_params(create_model("vit_b16"), 224)
    blocks = {f"blocks_{i}" for i in range(12)}
    assert set(params) == {"patch_embed", "cls_token", "pos_embed", "norm", "head"} | blocks
    assert params["pos_embed"].shape == (1, 197, 768)  # covers the class token, as in timm
    assert params["cls_token"].shape == (1, 1, 768)
    assert params["patch_embed"]["proj"]["kernel"].shape == (16, 16, 3, 768)
    block = jax.tree.map(lambda a: a.shape, params["blocks_0"])
    assert block == {
        "norm1": {"scale": (768,), "bias": (768,)},
        "mixer": {
            "qkv": {"kernel": (768, 2304), "bias": (2304,)},
            "proj": {"kernel": (768, 768), "bias": (768,)},
        },
        "norm2": {"scale": (768,), "bias": (768,)},
        "mlp": {
            "fc1": {"kernel": (768, 3072), "bias": (3072,)},
            "fc2": {"kernel": (3072, 768), "bias": (768,)},
        },
    }
    assert params["head"]["kernel"].shape == (768, 1000)


def test_mixer_parameter_names():
    params = abstract_params(create_model("mixer_b16"), 224)
    assert set(params) == {"patch_embed", "norm", "head"} | {f"blocks_{i}" for i in range(12)}
    assert params["blocks_0"]["mixer"]["mlp"]["fc1"]["kernel"].shape == (196, 384)
    assert params["blocks_0"]["mlp"]["fc1"]["kernel"].shape == (768, 3072)


@pytest.mark.parametrize("name", sorted(TINY))
def test_tiny_forward_shapes(name):
    model = create_model(name, **TINY[name])
    x = images()
    variables = model.init(jax.random.key(0), x, train=False)
    logits = model.apply(variables, x, train=False)
    assert logits.shape == (2, 10) and logits.dtype == jnp.float32
    features = create_model(name, **{**TINY[name], "num_classes": 0})
    assert features.apply(features.init(jax.random.key(0), x), x).shape == (2, 64)


def test_list_models_contains_the_variants():
    names = list_models()
    assert names == sorted(names)
    for variant in [
        "vit_ti16",
        "vit_s16",
        "vit_s32",
        "vit_b16",
        "vit_b32",
        "vit_l16",
        "vit_l32",
        "vit_h14",
        "mixer_s16",
        "mixer_s32",
        "mixer_b16",
        "mixer_b32",
        "mixer_l16",
        "mixer_l32",
        "mixer_h14",
    ]:
        assert variant in names
    assert list_models("mixer_*") == [n for n in names if n.startswith("mixer_")]


def test_patch_size_and_default_image_size():
    assert create_model("vit_b16").patch_size == 16
    assert create_model("vit_h14").patch_size == 14
    assert create_model("mixer_b32", patch_size=4).patch_size == 4
    assert model_default_image_size("mixer_b16") == 224


def test_unknown_model_name_suggests_close_matches():
    with pytest.raises(
        ValueError, match=r"Unknown model 'vit_b17'\. Did you mean .*vit_b16.*mixer-vit models"
    ):
        create_model("vit_b17")


def test_unknown_override_names_key_and_valid_ones():
    with pytest.raises(
        ValueError, match=r"Unknown override\(s\) num_clases .*valid overrides: .*num_classes"
    ):
        create_model("vit_b16", num_clases=10)


def test_unknown_mixer_kwarg_fails_at_construction():
    with pytest.raises(ValueError, match="num_head"):
        create_model("vit_b16", mixer_kwargs={"num_head": 2})


def test_image_size_not_divisible_by_patch():
    model = create_model("vit_ti16", **TINY["vit_ti16"])
    with pytest.raises(ValueError, match="not divisible by patch size 4"):
        jax.eval_shape(
            lambda: model.init(jax.random.key(0), jnp.zeros((1, 30, 32, 3)), train=False)
        )


def test_eval_mode_is_deterministic():
    model = create_model("vit_ti16", **TINY["vit_ti16"], dropout_rate=0.2, drop_path_rate=0.2)
    x = images()
    variables = model.init(jax.random.key(0), x)
    a = model.apply(variables, x, train=False)
    b = model.apply(variables, x, train=False, rngs={"dropout": jax.random.key(1)})
    np.testing.assert_array_equal(a, b)


def trained_head_variables(model, x):
    """Init, then give the zero-initialised head random weights so logits depend on the body."""
    variables = model.init(jax.random.key(0), x)
    head = jax.tree.map(
        lambda p: jax.random.normal(jax.random.key(5), p.shape), variables["params"]["head"]
    )
    return {"params": {**variables["params"], "head": head}}


@pytest.mark.parametrize("name", sorted(TINY))
def test_train_mode_dropout_depends_on_rng(name):
    model = create_model(name, **TINY[name], dropout_rate=0.2)
    x = images()
    variables = trained_head_variables(model, x)
    run = lambda seed: model.apply(variables, x, train=True, rngs={"dropout": jax.random.key(seed)})  # noqa: E731
    np.testing.assert_array_equal(run(1), run(1))
    assert not np.allclose(run(1), run(2))
    assert not np.allclose(run(1), model.apply(variables, x, train=False))


def test_drop_path_rate_zero_is_identity():
    model = create_model("vit_ti16", **TINY["vit_ti16"], drop_path_rate=0.0)
    x = images()
    variables = trained_head_variables(model, x)
    train = model.apply(variables, x, train=True, rngs={"dropout": jax.random.key(1)})
    np.testing.assert_allclose(train, model.apply(variables, x, train=False), rtol=1e-6, atol=1e-6)
    dropped = create_model("vit_ti16", **TINY["vit_ti16"], drop_path_rate=0.5)
    assert not np.allclose(
        dropped.apply(variables, x, train=True, rngs={"dropout": jax.random.key(1)}), train
    )


def test_stochastic_depth_is_linear():
    assert stochastic_depth_rates(0.1, 5) == pytest.approx([0.0, 0.025, 0.05, 0.075, 0.1])
    assert stochastic_depth_rates(0.3, 1) == [0.0]


@pytest.mark.parametrize("name", sorted(TINY))
def test_bfloat16_compute_keeps_float32_params(name):
    model = create_model(name, **TINY[name], dtype=jnp.bfloat16)
    x = images()
    variables = trained_head_variables(model, x)
    assert {leaf.dtype for leaf in jax.tree.leaves(variables)} == {jnp.dtype(jnp.float32)}
    logits = jax.jit(lambda v, im: model.apply(v, im, train=False))(variables, x)
    assert logits.shape == (2, 10) and logits.dtype == jnp.float32
    assert np.all(np.isfinite(np.asarray(logits)))


def test_grad_is_finite_and_reaches_every_parameter():
    model = create_model("mixer_s16", **TINY["mixer_s16"])
    x = images()
    variables = trained_head_variables(model, x)
    loss = lambda p: model.apply({"params": p}, x, train=False).sum()  # noqa: E731
    grads = jax.jit(jax.grad(loss))(variables["params"])
    for leaf in jax.tree.leaves(grads):
        assert np.all(np.isfinite(np.asarray(leaf))) and np.any(np.asarray(leaf) != 0)


def test_metaformer_with_other_mixer_and_config_errors():
    model = create_model("vit_ti16", **{**TINY["vit_ti16"], "mixer_kwargs": {}}, mixer="identity")
    x = images()
    assert model.apply(model.init(jax.random.key(0), x), x).shape == (2, 10)
    with pytest.raises(ValueError, match="pool='token' needs use_class_token"):
        MetaFormer(patch_size=4, embed_dim=8, depth=1, mixer="identity", pool="token")
    with pytest.raises(ValueError, match="Unknown token mixer|unknown token mixer"):
        MetaFormer(patch_size=4, embed_dim=8, depth=1, mixer="fourrier")
