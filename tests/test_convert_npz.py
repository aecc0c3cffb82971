"""Official big_vision / vit_jax .npz import: synthetic checkpoints written in each naming
from a model's own parameters (the inverse mapping is written here independently) must
convert back to identical logits; mismatches raise ConversionError naming the keys."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixer_vit.convert import ConversionError, flatten, load_weight_file
from mixer_vit.convert.big_vision_npz import convert_big_vision

HEADS, DIM, DEPTH, CLASSES = 2, 16, 2, 5
SIZE = dict(embed_dim=DIM, depth=DEPTH, patch_size=4, num_classes=CLASSES)
VIT = dict(SIZE, mixer_kwargs={"num_heads": HEADS})
MIXER = dict(SIZE, mixer_kwargs={"tokens_mlp_dim": 8})
IMAGES = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype(np.float32)


def _random_params(name, overrides):
    """Our model with every parameter random (nothing zero), and its logits (with the tanh
    GELU, as the official code and so every converted model)."""
    from mixer_vit.models import create_model

    model = create_model(name, **overrides, gelu="tanh")
    params = jax.jit(lambda x: model.init(jax.random.PRNGKey(0), x)["params"])(IMAGES)
    keys = iter(jax.random.split(jax.random.PRNGKey(1), len(jax.tree.leaves(params))))
    params = jax.tree.map(lambda p: p + 0.1 * jax.random.normal(next(keys), p.shape), params)
    params = jax.tree.map(np.asarray, params)
    logits = jax.jit(lambda p, x: model.apply({"params": p}, x))(params, IMAGES)
    return params, np.asarray(logits)


def _dense(p):
    return {"kernel": p["kernel"], "bias": p["bias"]}


def _vit_checkpoint(params, naming):
    """Our ViT params written as a big_vision / vit_jax checkpoint {path: array}."""
    old = naming == "vit_jax"
    out = {
        "embedding": _dense(params["patch_embed"]["proj"]),
        "head": _dense(params["head"]),
        "Transformer": {"encoder_norm": dict(params["norm"])},
    }
    pos, cls = params["pos_embed"], params["cls_token"]
    if old:  # vit_jax: the position embedding covers the class token
        out["cls"], pos_embedding = cls, pos
    else:  # big_vision: no class row; fold it into the class token (same function)
        out["cls"], pos_embedding = cls + pos[:, :1], pos[:, 1:]
    out["Transformer"]["posembed_input"] = {"pos_embedding": pos_embedding}
    hd = DIM // HEADS
    for i in range(DEPTH):
        b = params[f"blocks_{i}"]
        qkv_k, qkv_b = b["mixer"]["qkv"]["kernel"], b["mixer"]["qkv"]["bias"]
        attn = {
            n: {
                "kernel": qkv_k[:, j * DIM : (j + 1) * DIM].reshape(DIM, HEADS, hd),
                "bias": qkv_b[j * DIM : (j + 1) * DIM].reshape(HEADS, hd),
            }
            for j, n in enumerate(("query", "key", "value"))
        }
        attn["out"] = {
            "kernel": b["mixer"]["proj"]["kernel"].reshape(HEADS, hd, DIM),
            "bias": b["mixer"]["proj"]["bias"],
        }
        mlp = {"Dense_0": _dense(b["mlp"]["fc1"]), "Dense_1": _dense(b["mlp"]["fc2"])}
        names = ("LayerNorm_0", "MultiHeadDotProductAttention_1", "LayerNorm_2", "MlpBlock_3")
        if not old:
            names = ("LayerNorm_0", "MultiHeadDotProductAttention_0", "LayerNorm_1", "MlpBlock_0")
        block = dict(zip(names, (dict(b["norm1"]), attn, dict(b["norm2"]), mlp)))
        out["Transformer"][f"encoderblock_{i}"] = block
    if naming == "big_vision_scan":
        blocks = [out["Transformer"].pop(f"encoderblock_{i}") for i in range(DEPTH)]
        out["Transformer"]["encoderblock"] = jax.tree.map(lambda *x: np.stack(x), *blocks)
    return flatten(out)


def _mixer_checkpoint(params):
    out = {
        "stem": _dense(params["patch_embed"]["proj"]),
        "pre_head_layer_norm": dict(params["norm"]),
        "head": _dense(params["head"]),
    }
    for i in range(DEPTH):
        b = params[f"blocks_{i}"]
        out[f"MixerBlock_{i}"] = {
            "LayerNorm_0": dict(b["norm1"]),
            "LayerNorm_1": dict(b["norm2"]),
            "token_mixing": {
                "Dense_0": _dense(b["mixer"]["mlp"]["fc1"]),
                "Dense_1": _dense(b["mixer"]["mlp"]["fc2"]),
            },
            "channel_mixing": {
                "Dense_0": _dense(b["mlp"]["fc1"]),
                "Dense_1": _dense(b["mlp"]["fc2"]),
            },
        }
    return flatten(out)


def _save_and_load(tmp_path, flat):
    path = str(tmp_path / "checkpoint.npz")
    np.savez(path, **flat)
    return load_weight_file(path)


def _logits(model, variables):
    return np.asarray(jax.jit(lambda v, x: model.apply(v, x))(variables, IMAGES))


@pytest.fixture(scope="module")
def vit():
    return _random_params("vit_ti16", VIT)


@pytest.mark.parametrize("naming", ["big_vision", "vit_jax", "big_vision_scan"])
def test_vit_round_trip(tmp_path, vit, naming):
    params, expected = vit
    weights = _save_and_load(tmp_path, _vit_checkpoint(params, naming))
    model, variables = convert_big_vision("vit_ti16", weights, image_size=16, **VIT)
    np.testing.assert_allclose(_logits(model, variables), expected, atol=1e-5, rtol=1e-5)


def test_vit_into_scanned_model(vit):
    params, expected = vit
    weights = _vit_checkpoint(params, "vit_jax")
    model, variables = convert_big_vision(
        "vit_ti16", weights, image_size=16, scan_blocks=True, **VIT
    )
    assert variables["params"]["blocks"]["mlp"]["fc1"]["kernel"].shape[0] == DEPTH
    np.testing.assert_allclose(_logits(model, variables), expected, atol=1e-5, rtol=1e-5)


def test_mixer_round_trip(tmp_path):
    params, expected = _random_params("mixer_s16", MIXER)
    weights = _save_and_load(tmp_path, _mixer_checkpoint(params))
    model, variables = convert_big_vision("mixer_s16", weights, image_size=16, **MIXER)
    np.testing.assert_allclose(_logits(model, variables), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("naming", ["big_vision", "vit_jax"])
def test_position_embedding_resampled_to_new_resolution(vit, naming):
    params, _ = vit
    weights = _vit_checkpoint(params, naming)
    model, variables = convert_big_vision("vit_ti16", weights, image_size=32, **VIT)
    pos = variables["params"]["pos_embed"]
    assert pos.shape == (1, 1 + 8 * 8, DIM)
    if naming == "vit_jax":  # the class row is kept as it is
        np.testing.assert_array_equal(pos[:, 0], params["pos_embed"][:, 0])
    else:
        np.testing.assert_array_equal(pos[:, 0], 0.0)
    grid = np.asarray(params["pos_embed"][0, 1:]).reshape(4, 4, DIM)
    new = np.asarray(pos[0, 1:]).reshape(8, 8, DIM)
    assert np.abs(new.mean((0, 1)) - grid.mean((0, 1))).max() < 0.05  # a smooth resize
    images = jnp.zeros((1, 32, 32, 3))
    assert np.all(np.isfinite(model.apply(variables, images)))


def test_wrong_model_size_names_keys(vit):
    params, _ = vit
    weights = _vit_checkpoint(params, "big_vision")
    weights["pre_logits/kernel"] = np.zeros((DIM, DIM), np.float32)
    wrong = dict(VIT, depth=DEPTH + 1, embed_dim=2 * DIM)
    with pytest.raises(ConversionError) as error:
        convert_big_vision("vit_ti16", weights, image_size=16, **wrong)
    message = str(error.value)
    assert "\n" not in message
    assert "missing: params/blocks_2/" in message
    assert "unexpected: checkpoint:pre_logits/kernel" in message
    assert "mis-shaped" in message
    assert "params/blocks_0/mixer/qkv/kernel (16, 48) vs (32, 96)" in message


def test_non_official_model_refused(vit):
    identity = dict(VIT, mixer="identity", mixer_kwargs={})
    with pytest.raises(ConversionError, match="ViT and MLP-Mixer only"):
        convert_big_vision("vit_ti16", {}, image_size=16, **identity)
