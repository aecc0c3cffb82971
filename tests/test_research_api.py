"""Intermediates for research (docs/research_api.md): the example runs, the sown values
equal a recomputation from the parameters, and collecting leaves the logits unchanged."""

from __future__ import annotations

import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special

from mixer_vit.models import create_model

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "research_api.md"


def _doc_examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_docs_example_returns_vit_attention_maps_and_mixer_token_mixing_weights():
    scope: dict = {}
    exec(compile(_doc_examples()[0], str(DOC), "exec"), scope)  # noqa: S102 - our own doc
    maps = np.asarray(scope["maps"])
    assert maps.shape == (2, 3, 17, 17)  # ViT-Ti/16 at 64x64: 3 heads, 1 + 4 * 4 tokens
    np.testing.assert_allclose(maps.sum(-1), 1.0, atol=1e-5)
    assert (maps >= 0).all()
    mlp = scope["token_mixing"]
    assert mlp["fc1"]["kernel"].shape == (16, 256)  # Mixer-S/16: N = 16, tokens_mlp_dim 256
    assert mlp["fc2"]["kernel"].shape == (256, 16)


def _layer_norm(x, p, eps=1e-6):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * p["scale"] + p["bias"]


def _gelu(model, x: np.ndarray) -> np.ndarray:
    """The model's GELU (exact unless the model has a ``gelu="tanh"`` option), in float64."""
    if getattr(model, "gelu", "exact") == "tanh":
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + scipy.special.erf(x / np.sqrt(2)))


def _vit_block(model, p, x, heads):
    """One pre-norm ViT block in numpy float64: (weights [B, H, N, N], output [B, N, D])."""
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), p)
    batch, tokens, dim = x.shape
    hd = dim // heads
    y = _layer_norm(x, p["norm1"])
    qkv = (y @ p["mixer"]["qkv"]["kernel"] + p["mixer"]["qkv"]["bias"]).reshape(
        batch, tokens, 3, heads, hd
    )
    q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))  # [B, H, N, hd]
    logits = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    attn = (weights @ v).transpose(0, 2, 1, 3).reshape(batch, tokens, dim)
    x = x + attn @ p["mixer"]["proj"]["kernel"] + p["mixer"]["proj"]["bias"]
    y = _layer_norm(x, p["norm2"])
    hidden = _gelu(model, y @ p["mlp"]["fc1"]["kernel"] + p["mlp"]["fc1"]["bias"])
    return weights, x + hidden @ p["mlp"]["fc2"]["kernel"] + p["mlp"]["fc2"]["bias"]


@pytest.mark.parametrize("options", [{}, {"scan_blocks": True}, {"remat_blocks": True}])
def test_vit_intermediates_equal_a_recomputation_and_leave_logits_unchanged(options):
    model = create_model("vit_ti16", num_classes=5, depth=2, embed_dim=48, **options)
    x = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
    variables = model.init(jax.random.key(0), x)
    logits, state = model.apply(variables, x, mutable=["intermediates"])
    np.testing.assert_array_equal(logits, model.apply(variables, x))

    inter = state["intermediates"]
    if options.get("scan_blocks"):
        outputs = inter["blocks"]["output"][0]  # [depth, B, N, D]
        weights = inter["blocks"]["mixer"]["attention_weights"][0]  # [depth, B, H, N, N]
        block1 = jax.tree.map(lambda a: a[1], variables["params"]["blocks"])
        out0, out1, w1 = outputs[0], outputs[1], weights[1]
    else:
        out0, out1 = inter["blocks_0"]["output"][0], inter["blocks_1"]["output"][0]
        w1 = inter["blocks_1"]["mixer"]["attention_weights"][0]
        block1 = variables["params"]["blocks_1"]
    assert out1.shape == (2, 5, 48) and w1.shape == (2, 3, 5, 5)

    expected_w, expected_out = _vit_block(model, block1, np.asarray(out0, np.float64), heads=3)
    np.testing.assert_allclose(w1, expected_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out1, expected_out, rtol=1e-4, atol=1e-5)


def test_mixer_token_mixing_output_equals_a_recomputation():
    model = create_model("mixer_s16", num_classes=5, depth=1, embed_dim=16, mlp_ratio=2.0,
                         mixer_kwargs={"tokens_mlp_dim": 8})
    x = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
    variables = model.init(jax.random.key(0), x)
    logits, state = model.apply(variables, x, mutable=["intermediates"])
    np.testing.assert_array_equal(logits, model.apply(variables, x))

    p = jax.tree.map(lambda a: np.asarray(a, np.float64), variables["params"])
    kernel = p["patch_embed"]["proj"]["kernel"]  # [16, 16, 3, D]
    patches = np.asarray(x, np.float64).reshape(2, 2, 16, 2, 16, 3).transpose(0, 1, 3, 2, 4, 5)
    tokens = patches.reshape(2, 4, -1) @ kernel.reshape(-1, 16) + p["patch_embed"]["proj"]["bias"]
    mlp = p["blocks_0"]["mixer"]["mlp"]
    y = _layer_norm(tokens, p["blocks_0"]["norm1"]).transpose(0, 2, 1)  # [B, D, N]
    hidden = _gelu(model, y @ mlp["fc1"]["kernel"] + mlp["fc1"]["bias"])
    mixed = (hidden @ mlp["fc2"]["kernel"] + mlp["fc2"]["bias"]).transpose(0, 2, 1)  # [B, N, D]
    sown = state["intermediates"]["blocks_0"]["mixer"]["output"][0]
    np.testing.assert_allclose(sown, mixed, rtol=1e-4, atol=1e-5)


def test_nothing_is_sown_unless_asked():
    model = create_model("vit_ti16", num_classes=5, depth=1, embed_dim=48)
    x = jnp.ones((1, 32, 32, 3))
    variables = model.init(jax.random.key(0), x)
    assert set(variables) == {"params"}
    _, state = model.apply(variables, x, mutable=["batch_stats"])
    assert "intermediates" not in state


FAMILIES = {  # tiny sizes; (overrides, image size, sown blocks, sown attention maps)
    "cait_xxs24": (dict(patch_size=8, embed_dim=16, depth=1, num_heads=2, num_classes=3), 32,
                   3, 3),  # 1 talking-heads block + 2 class-attention blocks
    "swin_t": (dict(embed_dim=16, depths=(2,), num_heads=(2,), num_classes=3), 32, 2, 2),
    "resmlp_12": (dict(patch_size=8, depth=2, embed_dim=8, num_classes=3), 32, 2, 0),
    "poolformer_s12": (dict(depths=(1,), dims=(8,), num_classes=3), 32, 1, 0),
}


def _sown(tree, name):
    paths = jax.tree_util.tree_flatten_with_path(tree)[0]
    return [leaf for path, leaf in paths if any(getattr(k, "key", None) == name for k in path)]


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_other_families_sow_block_outputs_and_attention(name):
    overrides, size, blocks, maps = FAMILIES[name]
    model = create_model(name, **overrides)
    x = jax.random.normal(jax.random.key(1), (2, size, size, 3))
    variables = jax.jit(model.init)(jax.random.key(0), x)
    collect = jax.jit(lambda v, y: model.apply(v, y, mutable=["intermediates"]))
    logits, state = collect(variables, x)
    np.testing.assert_allclose(logits, jax.jit(model.apply)(variables, x), rtol=1e-6, atol=1e-6)
    outputs = _sown(state["intermediates"], "output")
    weights = _sown(state["intermediates"], "attention_weights")
    assert len(outputs) == blocks and all(o.shape[0] == 2 for o in outputs)
    assert len(weights) == maps
    for w in weights:
        if name != "cait_xxs24" or w.shape[-2] == 1:  # talking heads mix after the softmax
            np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)
