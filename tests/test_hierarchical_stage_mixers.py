"""Per-stage token mixers, mixer hyper-parameters and MLP ratios in the hierarchical
MetaFormer: per-stage values equal to the shared ones build the same model; a mixed model
has each stage's own mixer (parameters and function); bad per-stage fields are errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax.core import FrozenDict

from mixer_vit.errors import UserError
from mixer_vit.models import create_model
from mixer_vit.models.hierarchical_metaformer import HierarchicalMetaFormerStage

TINY = dict(depths=(1, 2), dims=(8, 16), num_classes=3)
IMAGES = jax.random.normal(jax.random.key(1), (2, 16, 16, 3))


def _init(model):
    return model.init(jax.random.key(0), IMAGES[:1], train=False)


def _shapes(tree):
    return jax.tree.map(lambda a: tuple(a.shape), jax.tree_util.tree_map(np.asarray, tree))


def test_per_stage_fields_equal_to_the_shared_ones_build_the_same_model():
    shared = create_model("poolformer_s12", **TINY, mixer="attention",
                          mixer_kwargs={"num_heads": 2}, mlp_ratio=2.0)
    staged = create_model("poolformer_s12", **TINY, stage_mixers=("attention", "attention"),
                          stage_mixer_kwargs=({"num_heads": 2}, {"num_heads": 2}),
                          stage_mlp_ratios=(2.0, 2.0))
    a, b = _init(shared), _init(staged)
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    np.testing.assert_array_equal(np.asarray(shared.apply(a, IMAGES)),
                                  np.asarray(staged.apply(b, IMAGES)))
    # None for every per-stage field is the one-mixer model (PoolFormer: pooling)
    plain = create_model("poolformer_s12", **TINY)
    assert plain.stage_block(1) == ("pooling", FrozenDict({"pool_size": 3}), 4.0)


def test_mixed_model_has_each_stages_mixer_and_mlp():
    model = create_model("poolformer_s12", **TINY, stage_mixers=["pooling", "attention"],
                         stage_mixer_kwargs=[{"pool_size": 3}, {"num_heads": 2}],
                         stage_mlp_ratios=[2, 4])
    # frozen: tuples, FrozenDicts, floats; the module hashes (flax needs it)
    assert model.stage_mixers == ("pooling", "attention")
    assert model.stage_mixer_kwargs == (FrozenDict(pool_size=3), FrozenDict(num_heads=2))
    assert model.stage_mlp_ratios == (2.0, 4.0)
    hash(model)
    params = _init(model)["params"]
    assert "mixer" not in params["stages_0"]["blocks_0"]  # pooling has no parameters
    for b in range(2):
        block = _shapes(params["stages_1"][f"blocks_{b}"])
        assert block["mixer"]["qkv"]["kernel"] == (16, 48)
        assert block["mlp"]["fc1"]["kernel"] == (16, 64)  # ratio 4
    assert _shapes(params["stages_0"]["blocks_0"])["mlp"]["fc1"]["kernel"] == (8, 16)  # ratio 2


def test_mixed_model_computes_each_stage_as_a_one_mixer_model_would():
    """Stage 0 equals the all-pooling model's stage 0 (same stem and stage parameters);
    stage 1 equals the stage an all-attention model builds, fed stage 0's output."""
    mixed = create_model("poolformer_s12", **TINY, stage_mixers=("pooling", "attention"),
                         stage_mixer_kwargs=({"pool_size": 3}, {"num_heads": 2}))
    pooling = create_model("poolformer_s12", **TINY)
    variables = _init(mixed)
    params = variables["params"]
    own = _init(pooling)["params"]
    pooling_params = {**own, "stem": params["stem"], "stages_0": params["stages_0"]}

    def intermediates(model, p):
        _, state = model.apply({"params": p}, IMAGES, mutable=["intermediates"])
        return state["intermediates"]

    mixed_out = intermediates(mixed, params)
    stage0 = mixed_out["stages_0"]["blocks_0"]["output"][0]  # [B, 4*4, 8]
    np.testing.assert_array_equal(
        np.asarray(stage0),
        np.asarray(intermediates(pooling, pooling_params)["stages_0"]["blocks_0"]["output"][0]))

    attention = create_model("poolformer_s12", **TINY, mixer="attention",
                             mixer_kwargs={"num_heads": 2})
    _, kwargs, ratio = attention.stage_block(1)
    stage = HierarchicalMetaFormerStage(
        depth=2, dim=16, downsample=True, drop_path_rates=(0.0, 0.0),
        block=FrozenDict(mixer="attention", mixer_kwargs=kwargs, mlp_ratio=ratio,
                         norm=attention.norm, norm_eps=attention.norm_eps,
                         layer_scale_init=attention.layer_scale_init, dropout_rate=0.0,
                         dtype=jnp.float32, gelu=attention.gelu))
    out = stage.apply({"params": params["stages_1"]}, stage0.reshape(2, 4, 4, 8),
                      deterministic=True)
    np.testing.assert_allclose(
        np.asarray(out).reshape(2, 4, 16),
        np.asarray(mixed_out["stages_1"]["blocks_1"]["output"][0]), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("fields, words", [
    (dict(stage_mixers=("pooling",)), "stage_mixers needs one entry per stage (2)"),
    (dict(stage_mixers="pooling"), "stage_mixers needs one entry per stage (2)"),
    (dict(stage_mlp_ratios=(4.0, 4.0, 4.0)), "stage_mlp_ratios needs one entry per stage"),
    (dict(stage_mixers=("pooling", "attention"), stage_mixer_kwargs=({}, {"pool_size": 3})),
     "Token mixer 'attention' got unknown hyper-parameter(s) pool_size"),
    (dict(stage_mixers=("pooling", "attentionz")), "Unknown token mixer 'attentionz'"),
    (dict(stage_mlp_ratios=(4.0, 0.0)), "stage_mlp_ratios must be > 0"),
])
def test_bad_per_stage_fields_are_one_line_errors(fields, words):
    with pytest.raises(UserError) as info:
        create_model("poolformer_s12", **TINY, **fields)
    assert words in str(info.value) and "\n" not in str(info.value)
