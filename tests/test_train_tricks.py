"""The tricks inside the jitted train step, each against an independently derived value."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from train_helpers import max_diff, random_batch, run_steps, tiny_model

from mixer_vit import losses, parallel
from mixer_vit.train.step import make_train_step
from mixer_vit.train.step_options import StepOptions


def test_ema_after_n_steps_matches_the_recurrence():
    decay = 0.9
    batches = [random_batch(seed=i) for i in range(4)]
    states, _ = run_steps(StepOptions(ema_decay=decay), batches)
    plain, _ = run_steps(StepOptions(), batches)
    init = tiny_model().init(jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 1)))["params"]
    expected = init
    for state in plain:  # EMA does not change training itself
        expected = jax.tree.map(lambda e, p: decay * e + (1 - decay) * p, expected, state.params)
    assert max_diff(states[-1].params, plain[-1].params) == 0.0
    assert max_diff(states[-1].ema_params, expected) < 1e-6


def test_accumulating_4_micro_batches_of_8_equals_one_batch_of_32():
    batches = [random_batch(seed=i) for i in range(2)]
    big, big_metrics = run_steps(StepOptions(), batches)
    accumulated, acc_metrics = run_steps(StepOptions(accumulation_steps=4), batches)
    assert max_diff(big[-1].params, accumulated[-1].params) < 1e-6
    assert int(accumulated[-1].step) == 2
    assert float(acc_metrics[0]["loss"]) == pytest.approx(float(big_metrics[0]["loss"]), abs=1e-6)


def test_sam_step_uses_gradient_at_perturbed_weights():
    rho, lr = 0.05, 1e-2
    batch = random_batch()
    states, _ = run_steps(
        StepOptions(sam_rho=rho),
        [batch],
        lr=lr,
        optim_changes={"name": "sgd", "momentum": 0.0, "weight_decay": 0.0, "grad_clip_norm": 0.0},
    )
    model = tiny_model()
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 1)))["params"]

    def loss(p):
        logits = model.apply(
            {"params": p}, batch["image"], train=True, rngs={"dropout": jax.random.PRNGKey(9)}
        )
        return losses.softmax_cross_entropy(logits, batch["label"]).mean()

    g = jax.grad(loss)(params)
    norm = optax.tree.norm(g)
    g_sam = jax.grad(loss)(jax.tree.map(lambda w, gi: w + rho * gi / norm, params, g))
    expected = jax.tree.map(lambda w, gs: w - lr * gs, params, g_sam)
    assert max_diff(states[0].params, expected) < 1e-5
    plain, _ = run_steps(
        StepOptions(),
        [batch],
        lr=lr,
        optim_changes={"name": "sgd", "momentum": 0.0, "weight_decay": 0.0, "grad_clip_norm": 0.0},
    )
    assert max_diff(states[0].params, plain[0].params) > 1e-6


class BatchNormNet(nn.Module):
    """Conv -> BatchNorm -> pool -> Dense: the smallest model with batch statistics."""

    num_classes: int = 10

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.Conv(4, (3, 3))(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
        return nn.Dense(self.num_classes)(jnp.mean(nn.relu(x), axis=(1, 2)))


def test_sam_with_batchnorm_updates_statistics_once_from_the_clean_pass():
    model = BatchNormNet()
    batch = random_batch()
    states, _ = run_steps(StepOptions(sam_rho=0.5), [batch], model=model)
    init = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 1)))
    _, clean = model.apply(init, batch["image"], train=True, mutable=["batch_stats"])
    assert max_diff(states[0].model_state["batch_stats"], clean["batch_stats"]) < 1e-6


def test_per_device_sam_on_one_device_equals_global_sam():
    batch = random_batch()
    global_sam, _ = run_steps(StepOptions(sam_rho=0.05), [batch])
    per_device, _ = run_steps(StepOptions(sam_rho=0.05, sam_per_device=True), [batch])
    assert max_diff(global_sam[0].params, per_device[0].params) < 1e-6


def test_mixing_erasing_and_sigmoid_loss_run_inside_the_step_and_change_the_update():
    batches = [random_batch()]
    plain, _ = run_steps(StepOptions(), batches)
    for options in (
        StepOptions(mixup_alpha=0.8, cutmix_alpha=1.0, erase_prob=1.0),
        StepOptions(loss="sigmoid", label_smoothing=0.1),
    ):
        states, metrics = run_steps(options, batches)
        assert np.isfinite(metrics[0]["loss"])
        assert max_diff(states[0].params, plain[0].params) > 1e-6


def test_soft_distillation_loss_inside_the_step_matches_the_formula():
    teacher_model = tiny_model(embed_dim=16)
    teacher_vars = teacher_model.init(jax.random.PRNGKey(5), jnp.zeros((1, 8, 8, 1)))
    teacher_vars = jax.tree.map(lambda x: x + 0.3 * jnp.sign(x + 1e-3), teacher_vars)
    student = tiny_model()
    batch = random_batch()
    options = StepOptions(distillation="soft", distill_temperature=2.0, distill_alpha=0.7)
    mesh = parallel.make_mesh(1)
    _, metrics = run_steps(options, [batch], teacher=(teacher_model, teacher_vars), mesh=mesh)
    params = student.init(jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 1)))
    s = np.asarray(
        student.apply(params, batch["image"], train=True, rngs={"dropout": jax.random.PRNGKey(3)}),
        np.float64,
    )
    t = np.asarray(teacher_model.apply(teacher_vars, batch["image"]), np.float64)

    def log_softmax(x):
        x = x - x.max(-1, keepdims=True)
        return x - np.log(np.exp(x).sum(-1, keepdims=True))

    ce = -log_softmax(s)[np.arange(32), batch["label"]]
    pt = np.exp(log_softmax(t / 2.0))
    kl = (pt * (np.log(pt) - log_softmax(s / 2.0))).sum(-1) * 4.0
    expected = np.mean(0.3 * ce + 0.7 * kl)
    assert float(metrics[0]["loss"]) == pytest.approx(expected, rel=1e-5)


def test_make_train_step_rejects_nothing_silently_for_bad_options():
    with pytest.raises(ValueError, match="unknown loss"):
        StepOptions(loss="hinge")
    with pytest.raises(ValueError, match="grad_accum_steps"):
        StepOptions(accumulation_steps=0)
    model = tiny_model()
    assert callable(
        make_train_step(
            model, optax.sgd(0.1), parallel.make_mesh(1), base_rng=jax.random.PRNGKey(0)
        )
    )
