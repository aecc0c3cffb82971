"""``model.dtype`` from the config: parameters stay float32, activations follow the dtype,
training steps stay finite, and a checkpoint resumes across dtypes."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixer_vit import cli
from mixer_vit.errors import UserError
from mixer_vit.train.plan import plan_run
from tests.conftest import DEFAULT_CONFIG


@pytest.mark.parametrize("preset_dtype", ["bfloat16", "float16"])
def test_low_precision_computes_in_the_dtype_and_keeps_float32_parameters(
    tiny_config, preset_dtype
):
    config = tiny_config()
    config.model.dtype = preset_dtype
    plan = plan_run(config)
    state = plan.init_state()
    assert {leaf.dtype for leaf in jax.tree.leaves(state.params)} == {jnp.dtype(jnp.float32)}
    images = jnp.zeros((2, *plan.image_shape), jnp.float32)
    logits, captured = plan.model.apply(
        {"params": state.params}, images, train=False, capture_intermediates=True
    )
    assert logits.dtype == jnp.float32  # the head returns float32 logits for the loss
    block_outputs = [
        value
        for path, value in jax.tree_util.tree_flatten_with_path(captured["intermediates"])[0]
        if re.fullmatch(r"\['blocks_\d+'\]\['__call__'\]\[0\]", jax.tree_util.keystr(path))
    ]
    assert len(block_outputs) == 2  # the two blocks of the tiny ViT
    assert all(out.dtype == jnp.dtype(preset_dtype) for out in block_outputs)


def test_float32_default_and_identity_ignore_the_compute_dtype(tiny_config):
    f32 = plan_run(tiny_config())
    assert f32.model.dtype == jnp.float32
    config = tiny_config()
    config.model.dtype = "bfloat16"
    bf16 = plan_run(config)
    # A float32 run's checkpoint resumes in bfloat16: same parameter tree, same identity.
    assert bf16.model_identity() == f32.model_identity()
    shapes = jax.tree.map(lambda x: (x.shape, x.dtype), jax.eval_shape(bf16.init_state).params)
    assert shapes == jax.tree.map(
        lambda x: (x.shape, x.dtype), jax.eval_shape(f32.init_state).params
    )


def test_bad_dtype_is_a_user_error(tiny_config):
    config = tiny_config()
    config.model.dtype = "float8"
    with pytest.raises(UserError, match="model.dtype must be one of"):
        plan_run(config)


def test_dtype_is_settable_from_the_command_line(digits_data_dir, tmp_path):
    workdir = tmp_path / "run"
    code = cli.main(
        [
            "train",
            "--config",
            DEFAULT_CONFIG,
            "--workdir",
            str(workdir),
            f"--config.data.data_dir={digits_data_dir}",
            "--config.model.dtype=bfloat16",
            "--config.model.overrides.embed_dim=32",
            "--config.model.overrides.depth=1",
            "--config.model.overrides.mixer_kwargs.num_heads=2",
            "--config.train.halt_after_steps=3",
            "--config.train.log_every_steps=3",
        ]
    )
    assert code == 0
    import json

    saved = json.load(open(workdir / "config.json"))
    assert saved["model"]["dtype"] == "bfloat16"
    rows = [json.loads(line) for line in open(workdir / "metrics.jsonl")]
    assert rows and all(np.isfinite(r["loss"]) for r in rows if r["split"] == "train")
