"""The ViT family: ViT / DeiT / CaiT / Mixer against timm, position embeddings, FLOPs.

Parity runs timm (random, perturbed weights) and our converted model on the same images;
the transformers are cut to 1-2 blocks (timm ``depth=``) to stay fast, which covers every
per-block mapping while keeping all tensor shapes of the real variant.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from timm_reference import import_timm, max_logit_difference, random_timm_model, state_dict_numpy

from mixer_vit.bench.flops import forward_flops_per_image
from mixer_vit.convert import ConversionError, convert_timm, timm_converters
from mixer_vit.layers import (
    LayerScale,
    MultiHeadSelfAttention,
    TalkingHeadsAttention,
    resample_pos_embed,
    sincos_2d_position_embedding,
)
from mixer_vit.models import create_model, model_default_image_size

TOLERANCE = 1e-4
SHALLOW_VIT = ({"depth": 2}, {"depth": 2})  # (our overrides, timm kwargs)
ONE_CAIT_BLOCK = {"depth": 1, "depth_token_only": 1}  # of each kind

# (ours, timm, image size, our overrides, timm kwargs)
PARITY_CASES = [
    ("vit_ti16", "vit_tiny_patch16_224", 224, *SHALLOW_VIT),
    ("vit_ti16", "vit_tiny_patch16_224", 160, {"depth": 1}, {"depth": 1, "img_size": 160}),
    ("mixer_s16", "mixer_s16_224", 224, {}, {}),  # timm's Mixer variants fix their depth
    ("mixer_s32", "mixer_s32_224", 160, {}, {"img_size": 160}),
    ("vit_b16_gap", "vit_base_patch16_gap_224", 224, {"depth": 1}, {"depth": 1}),
    ("deit_ti16", "deit_tiny_patch16_224", 224, *SHALLOW_VIT),
    ("deit_ti16_distilled", "deit_tiny_distilled_patch16_224", 224, *SHALLOW_VIT),
    ("cait_xxs24", "cait_xxs24_224", 224, *SHALLOW_VIT),
    ("cait_xxs24", "cait_xxs24_224", 160, ONE_CAIT_BLOCK, {**ONE_CAIT_BLOCK, "img_size": 160}),
]
# weights made for 224 used at 288: timm resamples pos_embed on the fly with
# dynamic_img_size; our converter resamples it once (bicubic, as timm).
RESAMPLED_CASES = [
    ("vit_ti16", "vit_tiny_patch16_224"),
    ("deit_ti16_distilled", "deit_tiny_distilled_patch16_224"),
]


def _param_count(name: str, **overrides) -> int:
    model = create_model(name, **overrides)
    size = model_default_image_size(name)
    variables = jax.eval_shape(
        lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3)), train=False)
    )
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(variables["params"]))


@pytest.mark.parametrize(
    "ours,theirs,size,our_overrides,timm_kwargs",
    PARITY_CASES,
    ids=[f"{c[0]}-{c[2]}" for c in PARITY_CASES],
)
def test_timm_parity(ours, theirs, size, our_overrides, timm_kwargs):
    diff, scale = max_logit_difference(
        ours, theirs, size, our_overrides=our_overrides, timm_kwargs=timm_kwargs
    )
    assert scale > 0.1, "reference logits are trivially small"
    assert diff < TOLERANCE


@pytest.mark.parametrize("ours,theirs", RESAMPLED_CASES, ids=[c[0] for c in RESAMPLED_CASES])
def test_timm_parity_with_resampled_position_embedding(ours, theirs):
    diff, scale = max_logit_difference(
        ours,
        theirs,
        288,
        our_overrides={"depth": 2},
        timm_kwargs={"depth": 2, "dynamic_img_size": True},
    )
    assert scale > 0.1
    assert diff < TOLERANCE


def test_cait_resampled_position_embedding_matches_timm_resampling():
    import torch

    resample_abs_pos_embed = import_timm().layers.resample_abs_pos_embed
    reference = random_timm_model("cait_xxs24_224", depth=1, depth_token_only=1)
    state = state_dict_numpy(reference)
    _, variables = convert_timm("cait_xxs24", state, image_size=288, depth=1, depth_token_only=1)
    expected = resample_abs_pos_embed(
        torch.from_numpy(state["pos_embed"]), (18, 18), (14, 14), num_prefix_tokens=0
    ).numpy()
    np.testing.assert_allclose(variables["params"]["pos_embed"], expected, atol=1e-5)


ZOO_FAMILIES = ("vit", "deit", "cait", "mixer")


def test_every_registered_timm_counterpart_exists_in_timm():
    timm = import_timm()
    ours = {k: v for k, v in timm_converters().items() if k.split("_")[0] in ZOO_FAMILIES}
    assert len(ours) >= 30
    missing = [entry.timm_name for entry in ours.values() if not timm.is_model(entry.timm_name)]
    assert not missing


def test_converter_refuses_unused_and_missing_timm_weights():
    reference = random_timm_model("vit_tiny_patch16_224", depth=1)
    state = state_dict_numpy(reference)
    with pytest.raises(ConversionError, match="fc_norm.weight"):
        convert_timm("vit_ti16", {**state, "fc_norm.weight": np.ones(192)}, depth=1)
    del state["blocks.0.attn.qkv.bias"]
    with pytest.raises(ConversionError, match="qkv/bias"):
        convert_timm("vit_ti16", state, depth=1)


@pytest.mark.parametrize("method", ["bicubic", "bilinear"])
@pytest.mark.parametrize("old,new", [((14, 14), (18, 18)), ((14, 14), (10, 7))])
def test_resample_pos_embed_matches_torch_interpolate(method, old, new):
    """Against PyTorch with antialias=True (timm's default; it matters when shrinking)."""
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    pos_embed = rng.normal(size=(1, 2 + old[0] * old[1], 8)).astype(np.float32)
    got = resample_pos_embed(pos_embed, old, new, num_prefix_tokens=2, method=method)
    grid = torch.from_numpy(pos_embed[:, 2:]).reshape(1, *old, 8).permute(0, 3, 1, 2)
    want = F.interpolate(grid, size=new, mode=method, antialias=True, align_corners=False)
    want = want.permute(0, 2, 3, 1).reshape(1, -1, 8).numpy()
    assert got.shape == (1, 2 + new[0] * new[1], 8)
    np.testing.assert_array_equal(got[:, :2], pos_embed[:, :2])  # prefix rows kept
    np.testing.assert_allclose(got[:, 2:], want, atol=1e-5)


def test_resample_pos_embed_identity_and_errors():
    pos_embed = np.arange(1 * 5 * 4, dtype=np.float32).reshape(1, 5, 4)
    np.testing.assert_array_equal(resample_pos_embed(pos_embed, (2, 2), (2, 2), 1), pos_embed)
    with pytest.raises(ValueError, match="rows"):
        resample_pos_embed(pos_embed, (3, 3), (4, 4), 1)
    with pytest.raises(ValueError, match="method"):
        resample_pos_embed(pos_embed, (2, 2), (4, 4), 1, method="nearest")


def test_sincos_2d_position_embedding_layout():
    table = sincos_2d_position_embedding((3, 5), 16)  # quarters of 4 channels
    assert table.shape == (1, 15, 16) and table.dtype == np.float32
    frequencies = 10_000.0 ** -(np.arange(4) / 3)
    row, col = 2, 3
    expected = np.concatenate(
        [
            np.sin(col * frequencies),
            np.cos(col * frequencies),
            np.sin(row * frequencies),
            np.cos(row * frequencies),
        ]
    )
    np.testing.assert_allclose(table[0, row * 5 + col], expected, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="divisible by 4"):
        sincos_2d_position_embedding((2, 2), 6)


TINY_VIT = {
    "patch_size": 4,
    "depth": 1,
    "embed_dim": 32,
    "mixer_kwargs": {"num_heads": 2},
    "num_classes": 5,
}


IMAGES = np.random.default_rng(1).normal(size=(2, 16, 16, 3)).astype(np.float32)


def _abstract(model, images=IMAGES):
    """Variable shapes without running (or compiling) the initialisers."""
    return jax.eval_shape(lambda: model.init(jax.random.key(0), images, train=False))


def _random_params(model, images=IMAGES, seed=0):
    """Random parameters of the right shapes (numpy: no initialiser to compile)."""
    rng = np.random.default_rng(seed)
    shapes = _abstract(model, images)["params"]
    return jax.tree.map(lambda a: 0.1 * rng.normal(size=a.shape).astype(np.float32), shapes)


@pytest.mark.parametrize("pos_embed_type", ["sincos2d", "none"])
def test_vit_fixed_or_no_position_embedding_has_no_parameter(pos_embed_type):
    model = create_model("vit_ti16", pos_embed_type=pos_embed_type, **TINY_VIT)
    assert "pos_embed" not in _abstract(model)["params"]
    with pytest.raises(ValueError, match="pos_embed_type"):
        create_model("vit_ti16", pos_embed_type="rope", **TINY_VIT)


@pytest.mark.parametrize("pool", ["gap", "token"])
def test_sincos2d_is_added_to_patch_tokens_only(pool):
    """All weights zero but the final norm's scale: the blocks are identities, so the
    pooled features are LayerNorm(table) averaged over patches ("gap") and LayerNorm of
    the zero class token ("token"), which stays 0 only if no table row was added to it."""
    tiny = dict(TINY_VIT, num_classes=0, pool=pool)
    model = create_model("vit_ti16", pos_embed_type="sincos2d", **tiny)
    params = jax.tree.map(lambda a: np.zeros(a.shape, np.float32), _abstract(model)["params"])
    params["norm"]["scale"] = np.ones(32, np.float32)
    apply = jax.jit(lambda p, x: model.apply({"params": p}, x, train=False))
    features = apply(params, np.ones((1, 16, 16, 3), np.float32))

    table = sincos_2d_position_embedding((4, 4), 32)[0].astype(np.float64)
    normed = (table - table.mean(-1, keepdims=True)) / np.sqrt(table.var(-1, keepdims=True) + 1e-6)
    expected = normed.mean(0) if pool == "gap" else np.zeros(32)
    np.testing.assert_allclose(features[0], expected, atol=1e-5)


def test_layer_scale_parameters_in_metaformer_blocks():
    model = create_model("vit_ti16", layer_scale_init=1e-3, **TINY_VIT)
    block = _abstract(model)["params"]["blocks_0"]
    assert block["ls1"]["scale"].shape == block["ls2"]["scale"].shape == (32,)
    gains = LayerScale(1e-3).init(jax.random.key(0), jnp.ones((1, 32)))["params"]["scale"]
    np.testing.assert_allclose(gains, np.full(32, 1e-3, np.float32))


def test_talking_heads_with_identity_mixing_is_plain_attention():
    x = np.random.default_rng(0).normal(size=(2, 7, 16)).astype(np.float32)
    talking = TalkingHeadsAttention(num_heads=4)
    variables = jax.eval_shape(lambda: talking.init(jax.random.key(1), x, deterministic=True))
    rng = np.random.default_rng(2)
    params = {
        name: {leaf: rng.normal(size=a.shape).astype(np.float32) for leaf, a in layer.items()}
        for name, layer in variables["params"].items()
    }
    for name in ("proj_l", "proj_w"):
        params[name] = {"kernel": jnp.eye(4), "bias": jnp.zeros(4)}
    plain = {"qkv": params["qkv"], "proj": params["proj"]}
    attention = MultiHeadSelfAttention(num_heads=4)

    @jax.jit
    def both(params, plain):
        got = talking.apply({"params": params}, x, deterministic=True)
        return got, attention.apply({"params": plain}, x, deterministic=True)

    got, want = both(params, plain)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_distilled_deit_returns_both_heads_only_when_training_with_distillation():
    distilling = create_model("deit_ti16_distilled", distilled_training=True, **TINY_VIT)
    plain = create_model("deit_ti16_distilled", **TINY_VIT)  # distilled_training off
    features = create_model("deit_ti16_distilled", **dict(TINY_VIT, num_classes=0))
    params = _random_params(distilling)
    headless = {k: v for k, v in params.items() if not k.startswith("head")}

    @jax.jit
    def outputs(params, headless, images):
        return (
            distilling.apply({"params": params}, images, train=True),
            distilling.apply({"params": params}, images, train=False),
            plain.apply({"params": params}, images, train=True),
            features.apply({"params": headless}, images, train=False),
        )

    (cls_logits, dist_logits), averaged, plain_train, pooled = outputs(params, headless, IMAGES)
    assert cls_logits.shape == dist_logits.shape == (2, 5)
    assert not np.allclose(cls_logits, dist_logits)
    np.testing.assert_allclose(averaged, (cls_logits + dist_logits) / 2, atol=1e-5)
    np.testing.assert_allclose(plain_train, averaged, atol=1e-5)
    assert pooled.shape == (2, 32)


def test_cait_tree_and_train_mode_shapes():
    """Eval values: the timm parity tests. Train mode is traced here, not compiled
    (dropout / drop path / jit / grads of its talking-heads mixer run in
    tests/test_mixer_contract.py)."""
    tiny = {"patch_size": 4, "embed_dim": 32, "depth": 2, "num_heads": 4, "num_classes": 3}
    model = create_model("cait_xxs24", drop_path_rate=0.1, dropout_rate=0.1, **tiny)
    params = _abstract(model)["params"]
    assert params["pos_embed"].shape == (1, 16, 32)  # no class row
    assert params["cls_token"].shape == (1, 1, 32)
    assert sorted(k for k in params if "blocks" in k) == [
        "blocks_0",
        "blocks_1",
        "cls_blocks_0",
        "cls_blocks_1",
    ]
    assert params["blocks_0"]["mixer"]["proj_l"]["kernel"].shape == (4, 4)
    assert params["cls_blocks_0"]["ls1"]["scale"].shape == (32,)
    logits = jax.eval_shape(
        lambda p, x: model.apply({"params": p}, x, train=True, rngs={"dropout": jax.random.key(3)}),
        params,
        IMAGES,
    )
    assert logits.shape == (2, 3) and logits.dtype == jnp.float32


# timm 1.0.31, 1000 classes, default resolution (/work/shared/golden_params.tsv).
GOLDEN_PARAMS = {
    "deit_ti16": 5_717_416,
    "deit_ti16_distilled": 5_910_800,
    "deit_s16_distilled": 22_436_432,
    "cait_xxs24": 11_956_264,
    "cait_s24": 46_916_200,
}


@pytest.mark.parametrize("name,expected", sorted(GOLDEN_PARAMS.items()))
def test_golden_param_counts(name, expected):
    assert _param_count(name) == expected


# published GMACs per 224x224 image; XLA counts a multiply-add as 2 FLOPs.
PUBLISHED_GMACS = {"vit_b16": 17.56, "vit_s16": 4.61, "mixer_b16": 12.60, "mixer_s16": 3.78}


@pytest.mark.parametrize("name,gmacs", sorted(PUBLISHED_GMACS.items()))
def test_forward_flops_match_published_gmacs(name, gmacs):
    gflops = forward_flops_per_image(create_model(name), (224, 224, 3)) / 1e9
    assert abs(gflops / (2 * gmacs) - 1) < 0.05
