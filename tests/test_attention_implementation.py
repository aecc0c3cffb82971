"""The attention implementation that ``implementation="auto"`` picks, per backend, dtype,
shape and dropout (mixer_vit.layers.attention_implementation)."""

from __future__ import annotations

import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixer_vit.layers import MultiHeadSelfAttention
from mixer_vit.layers.attention_implementation import (
    choose_attention_implementation,
    clear_recorded_choices,
    recorded_choices,
)
from mixer_vit.layers.blocked_attention import DEFAULT_BLOCK_BYTES

BF16, F16, F32 = jnp.bfloat16, jnp.float16, jnp.float32
VIT_B = dict(heads=12, tokens=197, head_dim=64)  # 12 * 197^2 * 4 B = 1.86 MB > 1 MiB block
VIT_S = dict(heads=6, tokens=197, head_dim=64)  # 0.93 MB: one image fits a block
H100, A100, V100 = (9, 0), (8, 0), (7, 0)

CASES = [
    # platform, dtype, shape, training, dropout, capability, cpu_tuned -> expected
    ("gpu", BF16, VIT_B, False, False, H100, True, "cudnn"),
    ("gpu", F16, VIT_B, True, False, A100, True, "cudnn"),
    ("gpu", BF16, VIT_B, True, True, H100, True, "xla"),  # attention dropout active
    ("gpu", F32, VIT_B, False, False, H100, True, "xla"),  # cuDNN takes no float32
    ("gpu", BF16, VIT_B, False, False, V100, True, "xla"),  # before Ampere
    ("gpu", BF16, VIT_B, False, False, None, True, "xla"),  # not CUDA (e.g. ROCm)
    ("gpu", BF16, dict(heads=3, tokens=50, head_dim=12), True, False, H100, True, "xla"),
    ("gpu", BF16, dict(heads=1, tokens=50, head_dim=128), True, False, A100, True, "cudnn"),
    ("gpu", BF16, dict(heads=1, tokens=50, head_dim=256), True, False, A100, True, "xla"),
    ("gpu", BF16, dict(heads=1, tokens=50, head_dim=256), True, False, H100, True, "cudnn"),
    ("gpu", BF16, dict(heads=1, tokens=50, head_dim=264), True, False, H100, True, "xla"),
    ("cpu", F32, VIT_B, True, False, None, True, "blocked"),  # training: always blocked
    ("cpu", F32, VIT_B, False, False, None, True, "xla"),  # one image's logits > block
    ("cpu", BF16, VIT_S, False, False, None, True, "blocked"),  # fits a block
    ("cpu", F32, VIT_S, True, True, None, True, "xla"),  # dropout: blocked has none
    ("cpu", F32, VIT_S, True, False, None, False, "xla"),  # tuned kernels off
    ("tpu", BF16, VIT_B, True, False, None, True, "xla"),
    ("METAL", BF16, VIT_B, True, False, None, True, "xla"),
]


@pytest.mark.parametrize(
    "platform, dtype, shape, training, dropout, capability, tuned, expected", CASES
)
def test_choice_table(platform, dtype, shape, training, dropout, capability, tuned, expected):
    choice = choose_attention_implementation(
        platform,
        dtype,
        **shape,
        training=training,
        dropout_active=dropout,
        compute_capability=capability,
        cpu_tuned=tuned,
    )
    assert choice == expected


def test_cpu_block_boundary_is_one_image_of_float32_logits():
    tokens = int((DEFAULT_BLOCK_BYTES / 4) ** 0.5)  # one head of tokens^2 float32 = block
    args = dict(heads=1, head_dim=64, training=False, dropout_active=False)
    assert choose_attention_implementation("cpu", F32, tokens=tokens, **args) == "blocked"
    assert choose_attention_implementation("cpu", F32, tokens=tokens + 1, **args) == "xla"


def test_auto_is_recorded_and_logged_once_per_case(caplog):
    clear_recorded_choices()
    module = MultiHeadSelfAttention(num_heads=2)
    x = jnp.ones((2, 5, 8))
    with caplog.at_level(logging.INFO, logger="mixer_vit.layers.attention_implementation"):
        variables = module.init(jax.random.key(0), x, deterministic=True)
        module.apply(variables, x, deterministic=True)
        jax.jit(lambda v, y: module.apply(v, y, deterministic=True))(variables, x)
        module.apply(variables, x, deterministic=False)
    logged = [r for r in caplog.records if "attention implementation" in r.getMessage()]
    assert len(logged) == 2  # inference (init, apply, jit) and training: two distinct cases
    choices = recorded_choices()
    seen = [(c["training"], c["platform"], c["heads"], c["tokens"], c["head_dim"]) for c in choices]
    assert seen == [
        (False, jax.default_backend(), 2, 5, 4),
        (True, jax.default_backend(), 2, 5, 4),
    ]
    expected = "blocked" if jax.default_backend() == "cpu" else choices[0]["implementation"]
    assert choices[0]["implementation"] == expected


@pytest.mark.skipif(jax.default_backend() == "gpu", reason="checks the non-GPU error")
def test_explicit_cudnn_off_gpu_is_a_one_line_error():
    module = MultiHeadSelfAttention(num_heads=2, implementation="cudnn", dtype=BF16)
    with pytest.raises(ValueError, match="needs a CUDA GPU"):
        module.init(jax.random.key(0), jnp.ones((1, 4, 16)), deterministic=True)


def test_fused_layout_matches_plain_attention():
    """The [B, N, H, hd] operands given to jax.nn.dot_product_attention (the layout the
    cuDNN path uses too) give the plain attention's result, with unequal sizes per axis."""
    x = jax.random.normal(jax.random.key(1), (3, 7, 32))  # B=3, N=7, D=32, H=4, hd=8
    plain = MultiHeadSelfAttention(num_heads=4, implementation="xla")
    fused = MultiHeadSelfAttention(num_heads=4, implementation="fused")
    variables = plain.init(jax.random.key(0), x, deterministic=True)
    np.testing.assert_allclose(
        fused.apply(variables, x, deterministic=True),
        plain.apply(variables, x, deterministic=True),
        rtol=1e-5,
        atol=1e-6,
    )
