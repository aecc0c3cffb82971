"""Official vision_transformer / big_vision checkpoints reproduce the official code's logits.

The checkpoints are random arrays written here in the official parameter layout, and the
expected logits come from this file's own float64 NumPy implementation of the official
architectures (big_vision ``models/vit.py``, vit_jax ``models_mixer.py``): patch
convolution, [class token], position embedding, pre-LayerNorm blocks with flax's default
(tanh) GELU, final norm, head. The importer must build the tanh-GELU model (<= 1e-5);
the same weights with the exact GELU miss by more, which shows the test can fail."""

from __future__ import annotations

import json
import math

import jax
import numpy as np
import pytest

from mixer_vit.convert.big_vision_npz import convert_big_vision
from mixer_vit.convert.convert_command import convert_to_directory
from mixer_vit.convert.save_load import load_converted
from mixer_vit.convert.weight_files import load_weight_file

PATCH, DIM, HEADS, DEPTH, CLASSES, SIDE = 4, 16, 2, 2, 5, 16
TOKENS = (SIDE // PATCH) ** 2
MLP_DIM, TOKENS_MLP_DIM = 4 * DIM, 8
VIT = dict(patch_size=PATCH, embed_dim=DIM, depth=DEPTH, num_classes=CLASSES)
VIT["mixer_kwargs"] = {"num_heads": HEADS}
MIXER = dict(patch_size=PATCH, embed_dim=DIM, depth=DEPTH, num_classes=CLASSES)
MIXER["mixer_kwargs"] = {"tokens_mlp_dim": TOKENS_MLP_DIM}
IMAGES = np.random.default_rng(0).normal(size=(2, SIDE, SIDE, 3))


class _Arrays:
    """Random float32 arrays: kernels ~ N(0, 1 / fan_in), the rest ~ N(0, 0.5^2)."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def kernel(self, *shape, fan_in: int) -> np.ndarray:
        return (self.rng.normal(size=shape) / math.sqrt(fan_in)).astype(np.float32)

    def vector(self, *shape, mean: float = 0.0) -> np.ndarray:
        return (mean + 0.5 * self.rng.normal(size=shape)).astype(np.float32)


def _dense(arrays, fan_in, *out_shape):
    kernel = arrays.kernel(fan_in, *out_shape, fan_in=fan_in)
    return {"kernel": kernel, "bias": arrays.vector(*out_shape)}


def _norm(arrays, dim=DIM):
    return {"scale": arrays.vector(dim, mean=1.0), "bias": arrays.vector(dim)}


def _stem(arrays, patch=PATCH, dim=DIM):
    kernel = arrays.kernel(patch, patch, 3, dim, fan_in=patch * patch * 3)
    return {"kernel": kernel, "bias": arrays.vector(dim)}


def _flat(tree, prefix=""):
    """Nested dict -> {"a/b/c": array}, the key form of an official .npz."""
    out = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        out.update(_flat(value, path + "/") if isinstance(value, dict) else {path: value})
    return out


def big_vision_vit_checkpoint(
    seed=0, patch=PATCH, dim=DIM, heads=HEADS, depth=DEPTH, tokens=TOKENS
) -> dict[str, np.ndarray]:
    """A random ViT in big_vision's layout (pool 'tok', position embedding without a
    class row, MLP width 4 * dim), as ``{path: float32 array}``."""
    arrays, hd = _Arrays(seed), dim // heads
    encoder = {"encoder_norm": _norm(arrays, dim)}
    encoder["posembed_input"] = {"pos_embedding": arrays.vector(1, tokens, dim)}
    for i in range(depth):
        attention = {n: _dense(arrays, dim, heads, hd) for n in ("query", "key", "value")}
        attention["out"] = {
            "kernel": arrays.kernel(heads, hd, dim, fan_in=dim),
            "bias": arrays.vector(dim),
        }
        encoder[f"encoderblock_{i}"] = {
            "LayerNorm_0": _norm(arrays, dim),
            "MultiHeadDotProductAttention_0": attention,
            "LayerNorm_1": _norm(arrays, dim),
            "MlpBlock_0": {
                "Dense_0": _dense(arrays, dim, 4 * dim),
                "Dense_1": _dense(arrays, 4 * dim, dim),
            },
        }
    tree = {"embedding": _stem(arrays, patch, dim), "cls": arrays.vector(1, 1, dim)}
    tree["Transformer"] = encoder
    tree["head"] = _dense(arrays, dim, CLASSES)
    return _flat(tree)


def mixer_checkpoint(seed: int = 0) -> dict[str, np.ndarray]:
    """A random MLP-Mixer in the official layout, as ``{path: float32 array}``."""
    arrays = _Arrays(seed)
    tree = {"stem": _stem(arrays), "pre_head_layer_norm": _norm(arrays)}
    for i in range(DEPTH):
        tree[f"MixerBlock_{i}"] = {
            "LayerNorm_0": _norm(arrays),
            "token_mixing": {
                "Dense_0": _dense(arrays, TOKENS, TOKENS_MLP_DIM),
                "Dense_1": _dense(arrays, TOKENS_MLP_DIM, TOKENS),
            },
            "LayerNorm_1": _norm(arrays),
            "channel_mixing": {
                "Dense_0": _dense(arrays, DIM, MLP_DIM),
                "Dense_1": _dense(arrays, MLP_DIM, DIM),
            },
        }
    tree["head"] = _dense(arrays, DIM, CLASSES)
    return _flat(tree)


# ---- the official forward passes, float64 NumPy ----


def tanh_gelu(x):
    """flax.linen.gelu (approximate=True), the official MLPs' activation."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def exact_gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def _f64(w, key):
    return np.asarray(w[key], np.float64)


def _layer_norm(w, prefix, x, eps=1e-6):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    normalised = (x - mean) / np.sqrt(var + eps)
    return normalised * _f64(w, f"{prefix}/scale") + _f64(w, f"{prefix}/bias")


def _linear(w, prefix, x):
    return x @ _f64(w, f"{prefix}/kernel") + _f64(w, f"{prefix}/bias")


def _mlp_block(w, prefix, x, gelu):
    return _linear(w, f"{prefix}/Dense_1", gelu(_linear(w, f"{prefix}/Dense_0", x)))


def _patch_embed(w, prefix, images):
    """Conv with a [p, p, C, D] kernel, stride p, VALID padding -> tokens [B, N, D]."""
    b, h, wd, c = images.shape
    grid = images.reshape(b, h // PATCH, PATCH, wd // PATCH, PATCH, c)
    grid = grid.transpose(0, 1, 3, 2, 4, 5)  # [B, h, w, p, p, C]
    patches = grid.reshape(b, -1, PATCH * PATCH * c)  # row-major grid; (kh, kw, c) per patch
    kernel = _f64(w, f"{prefix}/kernel").reshape(PATCH * PATCH * c, -1)
    return patches @ kernel + _f64(w, f"{prefix}/bias")


def _attention(w, prefix, x):
    q, k, v = (
        np.einsum("bnd,dhk->bhnk", x, _f64(w, f"{prefix}/{n}/kernel"))
        + _f64(w, f"{prefix}/{n}/bias")[None, :, None, :]
        for n in ("query", "key", "value")
    )
    logits = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])  # [B, H, N, N]
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    heads = weights @ v  # [B, H, N, hd]
    out = np.einsum("bhnk,hkd->bnd", heads, _f64(w, f"{prefix}/out/kernel"))
    return out + _f64(w, f"{prefix}/out/bias")


def official_vit_logits(w, images, gelu=tanh_gelu):
    """big_vision ViT (pool 'tok'): position embedding on the patches, then the class token."""
    x = _patch_embed(w, "embedding", images) + _f64(w, "Transformer/posembed_input/pos_embedding")
    cls = np.broadcast_to(_f64(w, "cls"), (x.shape[0], 1, DIM))
    x = np.concatenate([cls, x], axis=1)
    for i in range(DEPTH):
        block = f"Transformer/encoderblock_{i}"
        y = _layer_norm(w, f"{block}/LayerNorm_0", x)
        x = x + _attention(w, f"{block}/MultiHeadDotProductAttention_0", y)
        y = _layer_norm(w, f"{block}/LayerNorm_1", x)
        x = x + _mlp_block(w, f"{block}/MlpBlock_0", y, gelu)
    x = _layer_norm(w, "Transformer/encoder_norm", x)
    return _linear(w, "head", x[:, 0])


def official_mixer_logits(w, images, gelu=tanh_gelu):
    """vit_jax MlpMixer: token- then channel-mixing MLP blocks, norm, mean over tokens."""
    x = _patch_embed(w, "stem", images)
    for i in range(DEPTH):
        block = f"MixerBlock_{i}"
        y = np.swapaxes(_layer_norm(w, f"{block}/LayerNorm_0", x), 1, 2)  # [B, D, N]
        x = x + np.swapaxes(_mlp_block(w, f"{block}/token_mixing", y, gelu), 1, 2)
        y = _layer_norm(w, f"{block}/LayerNorm_1", x)
        x = x + _mlp_block(w, f"{block}/channel_mixing", y, gelu)
    x = _layer_norm(w, "pre_head_layer_norm", x)
    return _linear(w, "head", x.mean(axis=1))


def _through_npz(tmp_path, flat):
    path = str(tmp_path / "official.npz")
    np.savez(path, **flat)
    return load_weight_file(path)


def _our_logits(model, variables):
    return np.asarray(jax.jit(lambda v, x: model.apply(v, x))(variables, IMAGES.astype(np.float32)))


CASES = {
    "vit_ti16": (big_vision_vit_checkpoint, official_vit_logits, VIT),
    "mixer_s16": (mixer_checkpoint, official_mixer_logits, MIXER),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_official_checkpoint_reproduces_official_logits(tmp_path, name):
    make_checkpoint, official_logits, fields = CASES[name]
    weights = _through_npz(tmp_path, make_checkpoint())
    expected = official_logits(weights, IMAGES.astype(np.float32).astype(np.float64))
    model, variables = convert_big_vision(name, weights, image_size=SIDE, **fields)
    assert model.gelu == "tanh"
    error = np.abs(_our_logits(model, variables) - expected).max()
    assert error <= 1e-5, error
    # the exact-GELU model on the same weights misses the official logits
    exact = dict(fields, gelu="exact")
    exact_model, exact_variables = convert_big_vision(name, weights, image_size=SIDE, **exact)
    exact_logits = _our_logits(exact_model, exact_variables)
    assert np.abs(exact_logits - expected).max() > 1e-5
    # ... and matches an official forward computed with the exact GELU instead
    images64 = IMAGES.astype(np.float32).astype(np.float64)
    assert np.abs(exact_logits - official_logits(weights, images64, exact_gelu)).max() <= 1e-5


def test_convert_command_records_the_tanh_gelu(tmp_path):
    path = str(tmp_path / "official.npz")
    # ViT-Ti/16 sizes (the command converts into the registered model) at 16x16 pixels
    np.savez(path, **big_vision_vit_checkpoint(patch=16, dim=192, heads=3, depth=12, tokens=1))
    out = str(tmp_path / "converted")
    convert_to_directory("vit_ti16", "big_vision", path, out, image_size=SIDE, num_classes=CLASSES)
    with open(f"{out}/model.json") as f:
        assert json.load(f)["overrides"]["gelu"] == "tanh"
    model, _ = load_converted(out)
    assert model.gelu == "tanh"
