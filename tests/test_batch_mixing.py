"""Mixup, CutMix and random erasing: label weights sum to one and match what was pasted."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixer_vit.data.batch_mixing import cutmix, mixup, mixup_or_cutmix, random_erasing


def batch(b=4, h=16, w=12, k=3):
    images = jnp.stack([jnp.full((h, w, 2), float(i + 1)) for i in range(b)])
    targets = jax.nn.one_hot(jnp.arange(b) % k, k)
    return images, targets


@pytest.mark.parametrize("seed", range(5))
def test_cutmix_label_weights_equal_the_pasted_area(seed):
    images, targets = batch()
    mixed, mixed_targets, lam = cutmix(jax.random.PRNGKey(seed), images, targets, alpha=1.0)
    np.testing.assert_allclose(mixed_targets.sum(-1), 1.0, rtol=1e-6)
    for i in range(4):
        partner = 3 - i
        pasted = np.mean(np.asarray(mixed[i, :, :, 0]) == partner + 1)
        if partner == i:
            continue
        assert float(lam) == pytest.approx(1 - pasted, abs=1e-6)
        expected = lam * targets[i] + (1 - lam) * targets[partner]
        np.testing.assert_allclose(mixed_targets[i], expected, rtol=1e-6)


def test_cutmix_box_is_a_rectangle():
    images, targets = batch(h=20, w=20)
    mixed, _, _ = cutmix(jax.random.PRNGKey(3), images, targets, alpha=1.0)
    inside = np.asarray(mixed[0, :, :, 0]) == 4.0
    if inside.any():
        rows, cols = np.where(inside)
        assert inside[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()


def test_mixup_is_a_convex_combination_with_matching_weights():
    images, targets = batch()
    mixed, mixed_targets, lam = mixup(jax.random.PRNGKey(0), images, targets, alpha=0.4)
    lam = float(lam)
    assert 0.0 <= lam <= 1.0
    for i in range(4):
        np.testing.assert_allclose(mixed[i], lam * (i + 1) + (1 - lam) * (4 - i), rtol=1e-5)
    np.testing.assert_allclose(mixed_targets.sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(
        mixed_targets[0], lam * targets[0] + (1 - lam) * targets[3], rtol=1e-6
    )


def test_switching_uses_both_and_jits():
    images, targets = batch()
    fn = jax.jit(
        lambda key: mixup_or_cutmix(
            key, images, targets, mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5
        )
    )
    kinds = set()
    for seed in range(20):
        mixed, _, _ = fn(jax.random.PRNGKey(seed))
        values = np.unique(np.asarray(mixed[0]))
        kinds.add("cutmix" if set(values) <= {1.0, 4.0} else "mixup")
    assert kinds == {"cutmix", "mixup"}
    same, same_targets, _ = mixup_or_cutmix(
        jax.random.PRNGKey(0), images, targets, mixup_alpha=0.0, cutmix_alpha=0.0
    )
    assert same is images and same_targets is targets


def test_random_erasing_erases_squares_with_the_given_probability():
    images = jnp.ones((200, 16, 16, 1))
    erased = random_erasing(jax.random.PRNGKey(0), images, prob=0.5, area=(0.1, 0.2))
    erased_fraction = 1 - np.asarray(erased).mean(axis=(1, 2, 3))
    touched = erased_fraction > 0
    assert 0.35 < touched.mean() < 0.65
    assert erased_fraction.max() <= 0.2 + 1e-6
    assert np.median(erased_fraction[touched]) > 0.05
