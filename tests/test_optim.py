"""Optimizer, schedule, mask and loss pieces against values derived by hand."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import TINY_MODEL, load_default_config

from mixer_vit.losses import softmax_cross_entropy
from mixer_vit.models import create_model
from mixer_vit.optim import build_optimizer, build_schedule, decay_mask, flat_param_names


def tiny_vit_params():
    model = create_model("vit_ti16", num_classes=10, **TINY_MODEL)
    variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 1))))
    return variables["params"]


def test_decay_mask_skips_norms_biases_and_embeddings():
    params = tiny_vit_params()
    flat = dict(zip(flat_param_names(params), jax.tree.leaves(decay_mask(params))))
    decayed = {name for name, on in flat.items() if on}
    assert decayed == {name for name in flat if name.endswith("/kernel")}
    for name in ("pos_embed", "cls_token", "norm/scale", "blocks_0/norm1/bias", "head/bias"):
        assert flat[name] is False, name


def optim_config(**changes):
    optim = load_default_config().optim
    for key, value in changes.items():
        optim[key] = value
    return optim


@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_weight_decay_applies_only_where_the_mask_says(name):
    lr, wd = 0.1, 0.5
    optim = optim_config(name=name, weight_decay=wd, grad_clip_norm=0.0)
    tx = build_optimizer(optim, optax.constant_schedule(lr))
    params = {"dense": {"kernel": jnp.ones((2, 3)), "bias": jnp.ones((3,))}}
    zero_grads = jax.tree.map(jnp.zeros_like, params)
    updates, _ = tx.update(zero_grads, tx.init(params), params)
    new = optax.apply_updates(params, updates)
    # Zero gradient: adam's step is 0, so only the decoupled decay -lr*wd*w moves the kernel;
    # sgd adds wd*w to the gradient and steps by -lr times it. Same number either way.
    np.testing.assert_allclose(new["dense"]["kernel"], 1 - lr * wd, rtol=1e-6)
    np.testing.assert_allclose(new["dense"]["bias"], 1.0)


def test_warmup_cosine_schedule_values():
    optim = optim_config(lr=1e-3, warmup_epochs=2.0, end_lr_factor=0.0, schedule="warmup_cosine")
    schedule = build_schedule(optim, total_steps=100, steps_per_epoch=10)
    expected = {
        0: 0.0,
        10: 5e-4,
        20: 1e-3,
        60: 1e-3 * 0.5 * (1 + math.cos(math.pi * 40 / 80)),
        90: 1e-3 * 0.5 * (1 + math.cos(math.pi * 70 / 80)),
        100: 0.0,
    }
    for step, value in expected.items():
        assert float(schedule(step)) == pytest.approx(value, abs=1e-9), step
    assert float(
        build_schedule(optim_config(schedule="constant", lr=0.3), 100, 10)(57)
    ) == pytest.approx(0.3)


def test_gradient_clipping_bounds_the_update():
    optim = optim_config(name="sgd", momentum=0.0, weight_decay=0.0, grad_clip_norm=1.0)
    tx = build_optimizer(optim, optax.constant_schedule(1.0))
    params = {"w": jnp.zeros((2,))}
    updates, _ = tx.update({"w": jnp.array([30.0, 40.0])}, tx.init(params), params)
    np.testing.assert_allclose(updates["w"], [-0.6, -0.8], rtol=1e-6)


def test_label_smoothed_cross_entropy_matches_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 7)).astype(np.float32)
    labels = rng.integers(0, 7, size=5)
    a = 0.1
    targets = np.full((5, 7), a / 7)
    targets[np.arange(5), labels] += 1 - a
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -(targets * log_probs).sum(-1)
    got = softmax_cross_entropy(jnp.asarray(logits), jnp.asarray(labels), label_smoothing=a)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    plain = softmax_cross_entropy(jnp.asarray(logits), jnp.asarray(labels))
    np.testing.assert_allclose(plain, -log_probs[np.arange(5), labels], rtol=1e-5)


def test_unknown_optimizer_and_schedule_are_user_errors():
    with pytest.raises(ValueError, match="unknown optimizer 'lion'"):
        build_optimizer(optim_config(name="lion"), optax.constant_schedule(1.0))
    with pytest.raises(ValueError, match="unknown schedule 'linear'"):
        build_schedule(optim_config(schedule="linear"), 10, 1)
