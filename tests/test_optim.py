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
    optim = optim_config(lr=1e-3, warmup="2ep", end_lr_factor=0.0, schedule="cosine")
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
    constant = build_schedule(optim_config(schedule="constant", lr=0.3, warmup="0"), 100, 10)
    assert float(constant(57)) == pytest.approx(0.3)


@pytest.mark.parametrize("warmup, steps", [("20%", 20), ("3ep", 30), ("7", 7), ("7st", 7)])
def test_warmup_durations_in_steps_epochs_and_percent(warmup, steps):
    schedule = build_schedule(optim_config(schedule="constant", lr=1.0, warmup=warmup), 100, 10)
    assert float(schedule(steps)) == pytest.approx(1.0)
    assert float(schedule(steps - 1)) == pytest.approx((steps - 1) / steps)


def test_cosine_with_warm_restarts_values():
    optim = optim_config(
        schedule="cosine_restarts",
        lr=1.0,
        warmup="0",
        end_lr_factor=0.0,
        restart_period="1ep",
        restart_mult=2.0,
    )
    schedule = build_schedule(optim, total_steps=70, steps_per_epoch=10)
    # Cycles of 10, 20 and 40 steps starting at 0, 10 and 30, each restarting at lr.
    for step, (start, length) in {
        0: (0, 10),
        5: (0, 10),
        10: (10, 20),
        15: (10, 20),
        30: (30, 40),
        50: (30, 40),
        69: (30, 40),
    }.items():
        expected = 0.5 * (1 + math.cos(math.pi * (step - start) / length))
        assert float(schedule(step)) == pytest.approx(expected, abs=1e-6), step


def test_step_decay_divides_by_ten_at_the_given_epochs():
    optim = optim_config(
        schedule="step", lr=1.0, warmup="1ep", decay_at="3ep,6ep", decay_factor=0.1
    )
    schedule = build_schedule(optim, total_steps=100, steps_per_epoch=10)
    expected = {5: 0.5, 10: 1.0, 29: 1.0, 30: 0.1, 59: 0.1, 60: 0.01, 99: 0.01}
    for step, value in expected.items():
        assert float(schedule(step)) == pytest.approx(value, rel=1e-6), step


def test_bad_duration_is_a_user_error():
    with pytest.raises(ValueError, match="optim.warmup='5 days' is not a duration"):
        build_schedule(optim_config(warmup="5 days"), 100, 10)


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


def test_frozen_parameters_never_change_and_multipliers_scale_updates():
    optim = optim_config(
        name="sgd",
        momentum=0.0,
        weight_decay=0.0,
        grad_clip_norm=0.0,
        freeze="^embed",
        lr_mults="head:10",
    )
    tx = build_optimizer(optim, optax.constant_schedule(0.1))
    params = {
        "embed": {"kernel": jnp.ones(3)},
        "head": {"kernel": jnp.ones(3)},
        "body": {"kernel": jnp.ones(3)},
    }
    grads = jax.tree.map(jnp.ones_like, params)
    updates, _ = tx.update(grads, tx.init(params), params)
    np.testing.assert_allclose(updates["embed"]["kernel"], 0.0)
    np.testing.assert_allclose(updates["head"]["kernel"], -1.0, rtol=1e-6)
    np.testing.assert_allclose(updates["body"]["kernel"], -0.1, rtol=1e-6)


def test_bad_regex_rules_are_user_errors():
    with pytest.raises(ValueError, match="optim.lr_mults: rule 'head' is not 'pattern:number'"):
        build_optimizer(optim_config(lr_mults="head"), optax.constant_schedule(0.1))


def test_reduce_on_plateau_scales_updates_after_patience_flat_epochs():
    optim = optim_config(name="sgd", momentum=0.0, weight_decay=0.0, grad_clip_norm=0.0)
    optim.plateau.factor = 0.5
    optim.plateau.patience = 2
    tx = build_optimizer(optim, optax.constant_schedule(1.0), steps_per_epoch=2)
    params = {"w": jnp.zeros(1)}
    state = tx.init(params)
    grads = {"w": jnp.ones(1)}
    scales = []
    # Validation loss fed per step (constant within an epoch): improves, then flat.
    for value in [1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]:
        updates, state = tx.update(grads, state, params, value=jnp.asarray(value))
        scales.append(float(-updates["w"][0]))
    # Epoch means: 1.0, 0.5 (better), 0.5, 0.5: the second flat epoch's last step already
    # uses the halved rate (optax updates the plateau state before scaling that update).
    assert scales[:7] == [1.0] * 7
    assert scales[7:] == [0.5, 0.5, 0.5]


def test_lamb_and_lars_build_and_step():
    for name in ("lamb", "lars"):
        tx = build_optimizer(optim_config(name=name), optax.constant_schedule(0.01))
        params = {"dense": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}}
        updates, _ = tx.update(jax.tree.map(jnp.ones_like, params), tx.init(params), params)
        assert all(bool(jnp.all(jnp.isfinite(u))) for u in jax.tree.leaves(updates))
