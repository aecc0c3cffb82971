"""The memory plan's fitted model predicts what XLA allocates for a depth and batch it was
not fitted on, and counts the train state exactly."""

import jax.numpy as jnp
import optax
import pytest
from conftest import TINY_MODEL

from mixer_vit.train import memory_plan

OVERRIDES = {**TINY_MODEL, "embed_dim": 64}


@pytest.fixture(scope="module")
def plan():
    return memory_plan.measure("vit_ti16", 32, jnp.float32, overrides=OVERRIDES)


def test_fit_predicts_the_compiled_step_at_another_depth_and_batch(plan):
    tx = optax.adamw(1e-4, weight_decay=0.05)
    model = memory_plan.build("vit_ti16", **{**OVERRIDES, "depth": 6})
    # Depth: linear in XLA's buffers, so 1-2 blocks extrapolate to 6 closely.
    measured = memory_plan.compiled_temp_bytes(model, tx, 32, batch=32)
    assert abs(plan.temp_bytes(6, 32) - measured) <= 0.02 * measured
    # Batch: XLA's buffers grow a little faster than linearly beyond the fitted batches.
    measured = memory_plan.compiled_temp_bytes(model, tx, 32, batch=48)
    assert abs(plan.temp_bytes(6, 48) - measured) <= 0.1 * measured


def test_state_is_parameters_plus_two_adam_moments(plan):
    # float32 params, mu and nu (12 bytes per parameter) plus adam's int32 step count
    assert plan.state_bytes == 12 * plan.params + 4


def test_fsdp_fits_more_than_data_parallel_and_less_memory_fits_less():
    plan = memory_plan.MemoryModel(
        name="toy",
        params=10**9,
        depth=10,
        state_bytes=12 * 10**9,
        layer_param_bytes=4 * 10**8,
        temp_coefficients=(1e9, 4e8, 1e6, 1e7),
        input_bytes_per_image=600_000,
    )
    # data parallel: 12e9 + 1e9 + 4e9 fixed = 17e9; per image 0.6e6 + 1e6 + 1e8 = 101.6e6
    assert plan.largest_batch(20e9) == int((20e9 - 17e9) // 101.6e6)
    assert plan.largest_batch(16e9) == 0
    # FSDP over 8: (12e9 + 1e9 + 4e9) / 8 + 2 * 4e8 fixed
    assert plan.fsdp_bytes(0, 8) == 17e9 / 8 + 8e8
    assert plan.largest_batch(16e9, devices=8) > plan.largest_batch(16e9)
