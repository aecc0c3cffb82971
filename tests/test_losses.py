"""Losses against NumPy computations of their formulas."""

import jax.numpy as jnp
import numpy as np
import pytest

from mixer_vit import losses


def log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


@pytest.fixture
def logits_pair():
    rng = np.random.default_rng(0)
    return (
        rng.normal(size=(6, 5)).astype(np.float32) * 3,
        rng.normal(size=(6, 5)).astype(np.float32) * 3,
        rng.integers(0, 5, size=6),
    )


def test_smoothed_labels_are_y_times_1_minus_a_plus_a_over_k():
    got = np.asarray(losses.smoothed_targets(jnp.array([2, 0]), 4, 0.2))
    np.testing.assert_allclose(got, [[0.05, 0.05, 0.85, 0.05], [0.85, 0.05, 0.05, 0.05]], rtol=1e-6)
    np.testing.assert_allclose(got.sum(-1), 1.0, rtol=1e-6)


def test_soft_targets_pass_through_softmax_cross_entropy(logits_pair):
    student, _, labels = logits_pair
    soft = np.full((6, 5), 0.1, np.float32)
    soft[np.arange(6), labels] = 0.6
    got = losses.softmax_cross_entropy(jnp.asarray(student), jnp.asarray(soft), label_smoothing=0.3)
    np.testing.assert_allclose(got, -(soft * log_softmax(student)).sum(-1), rtol=1e-5)


def test_sigmoid_cross_entropy_matches_numpy(logits_pair):
    student, _, labels = logits_pair
    y = np.eye(5)[labels]
    p = 1 / (1 + np.exp(-student.astype(np.float64)))
    expected = -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum(-1)
    got = losses.sigmoid_cross_entropy(jnp.asarray(student), jnp.asarray(labels))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_soft_distillation_is_kl_times_t_squared(logits_pair, temperature):
    student, teacher, _ = logits_pair
    p_teacher = np.exp(log_softmax(teacher.astype(np.float64) / temperature))
    kl = p_teacher * (np.log(p_teacher) - log_softmax(student.astype(np.float64) / temperature))
    expected = kl.sum(-1) * temperature**2
    got = losses.soft_distillation(jnp.asarray(student), jnp.asarray(teacher), temperature)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    same = losses.soft_distillation(jnp.asarray(teacher), jnp.asarray(teacher), temperature)
    np.testing.assert_allclose(same, 0.0, atol=1e-6)


def test_hard_distillation_uses_teacher_argmax(logits_pair):
    student, teacher, _ = logits_pair
    expected = -log_softmax(student)[np.arange(6), teacher.argmax(-1)]
    got = losses.hard_distillation(jnp.asarray(student), jnp.asarray(teacher))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
