"""The small ViT for small images (``vit_mini_p4``): its size, its timm counterpart and
its bench row on one-channel images."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixer_vit import cli
from mixer_vit.bench.timm_throughput import timm_kwargs
from mixer_vit.models import create_model, model_default_image_size


def _params(model, channels: int) -> dict:
    images = jnp.zeros((1, 28, 28, channels))
    return jax.eval_shape(lambda: model.init(jax.random.key(0), images, train=False))["params"]


def _hand_count(channels: int) -> int:
    """6 blocks of width 128 (MLP 512), patch 4 on 28x28 (49 patches + class token)."""
    width, hidden, tokens, classes = 128, 512, 7 * 7 + 1, 10
    patch_embed = 4 * 4 * channels * width + width
    block = (
        2 * width  # norm1
        + width * 3 * width + 3 * width  # qkv
        + width * width + width  # proj
        + 2 * width  # norm2
        + width * hidden + hidden  # fc1
        + hidden * width + width  # fc2
    )
    return patch_embed + width + tokens * width + 6 * block + 2 * width + width * classes + classes


@pytest.mark.parametrize("channels", [1, 3])
def test_parameter_count_derived_by_hand(channels):
    model = create_model("vit_mini_p4")
    leaves = jax.tree.leaves(_params(model, channels))
    assert sum(math.prod(leaf.shape) for leaf in leaves) == _hand_count(channels)
    assert _hand_count(1) == 1_199_882
    assert model_default_image_size("vit_mini_p4") == 28
    assert (model.depth, model.embed_dim, model.patch_size, model.num_classes) == (6, 128, 4, 10)
    assert model.mixer_kwargs["num_heads"] == 4 and model.mlp_ratio == 4.0


def test_timm_kwargs_carry_the_architecture_and_channels():
    kwargs = timm_kwargs("vit_mini_p4", 28, {"depth": 2}, channels=1)
    assert kwargs == dict(
        img_size=28, patch_size=4, embed_dim=128, depth=2, num_heads=4, num_classes=10, in_chans=1
    )
    assert timm_kwargs("vit_ti16", 224, {}) == {"img_size": 224, "in_chans": 3}


def test_logits_match_timm_on_one_channel_images():
    pytest.importorskip("torch")
    from timm_reference import random_timm_model, state_dict_numpy, timm_logits

    from mixer_vit.convert import convert_timm, timm_converters

    entry = timm_converters()["vit_mini_p4"]
    reference = random_timm_model(entry.timm_name, **entry.timm_kwargs, in_chans=1)
    model, variables = convert_timm(
        "vit_mini_p4", state_dict_numpy(reference), image_size=28, channels=1
    )
    images = np.random.default_rng(0).normal(size=(3, 28, 28, 1)).astype(np.float32)
    expected = timm_logits(reference, images)
    got = np.asarray(jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, images))
    assert expected.shape == got.shape == (3, 10) and np.abs(expected).max() > 1e-2
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def test_bench_row_on_one_channel_images(capsys):
    pytest.importorskip("torch")
    args = ["bench", "--models", "vit_mini_p4", "--image_sizes", "28", "--batch_sizes", "2"]
    args += ["--channels", "1", "--dtypes", "float32", "--modes", "train", "--repeats", "1"]
    args += ["--warmup", "0", "--vs_timm", "--override", "depth=1"]
    assert cli.main(args) == 0
    row = capsys.readouterr().out.splitlines()[3]
    assert row.startswith("| vit_mini_p4 | train | float32 | 28 | 2 |")
    assert float(row.split("|")[-4]) > 0  # ours / timm


def test_bench_refuses_zero_channels(capsys):
    args = ["bench", "--models", "vit_mini_p4", "--image_sizes", "28", "--channels", "0"]
    assert cli.main(args) == 2
    assert "--channels must be >= 1" in capsys.readouterr().err


def test_small_attention_runs_unblocked_and_equals_the_plain_math():
    from mixer_vit.layers.blocked_attention import blocked_attention, softmax_attention

    q, k, v, g = (jax.random.normal(jax.random.key(i), (8, 2, 9, 4)) for i in range(4))
    whole_batch = 8 * 2 * 9 * 9 * 4  # float32 logits of the whole batch
    for limit, looped in ((whole_batch, False), (whole_batch - 1, True)):
        attend = jax.jit(
            lambda q, k, v, limit=limit: blocked_attention(
                q, k, v, block_bytes=2 * 9 * 9 * 4 * 2, whole_batch_bytes=limit
            )
        )
        assert ("while" in attend.lower(q, k, v).as_text()) == looped
        out, back = jax.vjp(attend, q, k, v)
        out_ref, back_ref = jax.vjp(softmax_attention, q, k, v)
        np.testing.assert_allclose(out, out_ref, rtol=1e-5, atol=1e-6)
        for a, b in zip(back(g), back_ref(g)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
