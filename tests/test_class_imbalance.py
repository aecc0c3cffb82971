"""Class-imbalanced training subsets, class-balanced loss weights, the majority-class
baseline, and one tiny run that uses all three."""

from __future__ import annotations

import json
import os
from fractions import Fraction

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY_MODEL, load_default_config

from mixer_vit import data, losses
from mixer_vit.class_weights import class_balanced_weights, parse_class_weights, weight_by_target
from mixer_vit.data.class_imbalance import (
    ImbalanceProfile,
    imbalanced_subset,
    parse_imbalance,
    target_class_counts,
)
from mixer_vit.errors import UserError
from mixer_vit.metrics.majority_baseline import majority_baseline
from mixer_vit.train.objective import augment_on_device, make_loss_fn
from mixer_vit.train.step_options import StepOptions

# -- the imbalance profiles ---------------------------------------------------------------

# CIFAR-10-LT (Cao et al. 2019; Cui et al. 2019): 5,000 images per class cut to an
# exponential profile. The published per-class counts (12,406 and 20,431 images).
CIFAR10_LT = {
    100: [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50],
    10: [5000, 3871, 2997, 2320, 1796, 1391, 1077, 834, 645, 500],
}


@pytest.mark.parametrize("ratio", sorted(CIFAR10_LT))
def test_long_tail_counts_are_cifar10_lt(ratio):
    profile = parse_imbalance(f"long_tail:{ratio}")
    counts = target_class_counts(np.full(10, 5000), profile)
    assert counts.tolist() == CIFAR10_LT[ratio]


def test_long_tail_takes_the_smallest_class_as_the_head():
    available = np.array([130, 121, 140, 125])  # n = 121, K = 4: 121 * 8^(-c/3)
    counts = target_class_counts(available, parse_imbalance("long_tail:8"))
    assert counts.tolist() == [121, 60, 30, 15]  # 121, 60.5, 30.25, 15.125 rounded down


@pytest.mark.parametrize("spec, minority", [
    ("step:9", [5, 6, 7, 8, 9]),
    ("step:9:last3", [7, 8, 9]),
    ("step:9:0+2+4", [0, 2, 4]),
    ("step:9:6", [6]),
])
def test_step_counts(spec, minority):
    available = np.array([130, 128, 125, 140, 133, 127, 131, 126, 135, 129])  # n = 125
    counts = target_class_counts(available, parse_imbalance(spec))
    expected = [125 // 9 if c in minority else 125 for c in range(10)]  # 13 or 125
    assert counts.tolist() == expected


def test_step_90_10_splits_the_examples_90_to_10():
    counts = target_class_counts(np.full(10, 900), parse_imbalance("step:9"))
    assert counts[:5].sum() == 9 * counts[5:].sum() == 4500


@pytest.fixture(scope="module")
def uneven_labels():
    """Labels [600] of 4 classes with 180 / 150 / 160 / 110 examples, shuffled."""
    labels = np.repeat(np.arange(4), [180, 150, 160, 110])
    return np.random.default_rng(3).permutation(labels)


def test_subset_has_the_profile_counts(uneven_labels):
    profile = parse_imbalance("long_tail:10")
    subset = imbalanced_subset(uneven_labels, 4, profile, seed=0)
    expected = [110, 51, 23, 11]  # floor(110 * 10^(-c/3)): 110, 51.06, 23.70, 11
    assert np.bincount(uneven_labels[subset], minlength=4).tolist() == expected
    assert subset.tolist() == sorted(set(subset.tolist()))  # distinct, sorted
    assert 0 <= subset.min() and subset.max() < uneven_labels.size


def test_subset_is_a_function_of_the_seed(uneven_labels):
    profile = parse_imbalance("step:4:last2")
    first = imbalanced_subset(uneven_labels, 4, profile, seed=7)
    again = imbalanced_subset(uneven_labels.copy(), 4, profile, seed=7)
    other = imbalanced_subset(uneven_labels, 4, profile, seed=8)
    np.testing.assert_array_equal(first, again)
    assert first.size == other.size == 110 + 110 + 27 + 27
    assert set(first.tolist()) != set(other.tolist())


@pytest.mark.parametrize("spec, message", [
    ("zipf:10", "not understood"),
    ("step", "not understood"),
    ("step:nine", "not understood"),
    ("step:0.5", "must be a number >= 1"),
    ("long_tail:inf", "must be a number >= 1"),
    ("long_tail:10:last2", "not understood"),
    ("step:9:last", "not understood"),
    ("step:9:1++2", "not understood"),
    ("step:9:a+b", "not understood"),
])
def test_bad_imbalance_specs(spec, message):
    with pytest.raises(UserError, match=message) as error:
        parse_imbalance(spec)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("spec, available, message", [
    ("step:9:last10", np.full(10, 50), "no majority class"),
    ("step:9:last0", np.full(10, 50), "no minority class"),
    ("step:9:3+12", np.full(10, 50), "distinct classes in 0..9"),
    ("step:9:3+3", np.full(10, 50), "distinct classes in 0..9"),
    ("long_tail:100", np.full(10, 50), "leaves class 9 no examples"),
    ("step:2", np.array([5, 0, 5]), "class 1 has no examples"),
])
def test_bad_profiles_for_the_split(spec, available, message):
    with pytest.raises(UserError, match=message):
        target_class_counts(available, parse_imbalance(spec))


def test_no_imbalance_is_off():
    assert parse_imbalance("") is None
    assert parse_imbalance("step:9") == ImbalanceProfile("step", 9.0, "")


# -- class-balanced weights ---------------------------------------------------------------


def _fractions(weights):
    return [Fraction(float(w)).limit_denominator(1000) for w in weights]


def test_inverse_frequency_weights():
    # 1/n = 1, 1/2, 1/4 (sum 7/4), scaled to sum 3: 12/7, 6/7, 3/7.
    weights = class_balanced_weights(np.array([1, 2, 4]), "inverse_frequency")
    np.testing.assert_allclose(weights, [12 / 7, 6 / 7, 3 / 7], rtol=1e-12)


def test_effective_number_weights():
    # beta 1/2: effective numbers (1 - beta^n) / (1 - beta) = 1, 3/2, 7/4; their inverses
    # 1, 2/3, 4/7 = (21, 14, 12) / 21, scaled to sum 3: (63, 42, 36) / 47.
    weights = class_balanced_weights(np.array([1, 2, 3]), "effective_number:0.5")
    assert _fractions(weights) == [Fraction(63, 47), Fraction(42, 47), Fraction(36, 47)]
    np.testing.assert_allclose(weights, [63 / 47, 42 / 47, 36 / 47], rtol=1e-12)


def test_effective_number_limits():
    counts = np.array([500, 50, 5])
    np.testing.assert_allclose(class_balanced_weights(counts, "effective_number:0"), np.ones(3))
    near_one = class_balanced_weights(counts, "effective_number:0.999999")
    inverse = class_balanced_weights(counts, "inverse_frequency")
    np.testing.assert_allclose(near_one, inverse, rtol=1e-3)
    assert class_balanced_weights(counts, "none") is None


@pytest.mark.parametrize("spec, message", [
    ("inverse", "not understood"),
    ("effective_number", "not understood"),
    ("inverse_frequency:2", "not understood"),
    ("effective_number:1", r"must be in \[0, 1\)"),
    ("effective_number:-0.1", r"must be in \[0, 1\)"),
    ("effective_number:x", r"must be in \[0, 1\)"),
])
def test_bad_class_weights(spec, message):
    with pytest.raises(UserError, match=message):
        parse_class_weights(spec)


def test_a_class_without_examples_is_refused():
    with pytest.raises(UserError, match="class 1 has no training examples"):
        class_balanced_weights(np.array([4, 0, 2]), "inverse_frequency")


# -- the weighted loss --------------------------------------------------------------------

LOGITS = np.array(
    [[2.0, -1.0, 0.5, 0.0], [0.1, 0.3, -2.0, 1.5], [-0.5, 0.0, 0.25, 3.0]], np.float32
)
WEIGHTS = (0.4, 0.8, 1.2, 1.6)  # sum 4 = K


def _numpy_weighted_loss(logits, targets, weights):
    """mean_i (t_i . w) * (-sum_c t_ic log softmax(z_i)_c), in float64."""
    z = logits.astype(np.float64)
    log_p = z - z.max(-1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
    per_example = -(targets * log_p).sum(-1)
    return float(np.mean(per_example * (targets @ np.asarray(weights))))


def test_weighted_loss_with_smoothing_and_mixup():
    targets = np.eye(4)[[0, 3, 2]] * 0.9 + 0.1 / 4  # label smoothing 0.1
    targets[1] = 0.7 * targets[1] + 0.3 * targets[0]  # row 1 mixed with row 0, lam 0.7
    per_example = losses.softmax_cross_entropy(jnp.asarray(LOGITS), jnp.asarray(targets))
    weighted = weight_by_target(per_example, jnp.asarray(targets), WEIGHTS)
    expected = _numpy_weighted_loss(LOGITS, targets, WEIGHTS)
    np.testing.assert_allclose(float(jnp.mean(weighted)), expected, rtol=1e-6)
    # the smoothed one-hot row's weight is (1 - a) w_y + a (weights sum to K)
    np.testing.assert_allclose(targets[0] @ np.asarray(WEIGHTS), 0.9 * 0.4 + 0.1, rtol=1e-12)


class _FixedLogits(nn.Module):
    """Returns LOGITS whatever the images (no parameters)."""

    num_classes: int = 4

    @nn.compact
    def __call__(self, images, train=False):
        return jnp.asarray(LOGITS) + 0.0 * images.sum()


@pytest.mark.parametrize("smoothing, mixup", [(0.0, 0.0), (0.1, 0.0), (0.1, 0.8)])
def test_the_training_objective_weights_by_target(smoothing, mixup):
    labels = np.array([0, 3, 2], np.int32)
    batch = {"image": jnp.zeros((3, 2, 2, 1)), "label": jnp.asarray(labels)}
    rng = jax.random.PRNGKey(0)
    opts = StepOptions(label_smoothing=smoothing, mixup_alpha=mixup, class_weights=WEIGHTS)
    loss, _ = make_loss_fn(_FixedLogits(), opts, {}, batch, rng, None)({})
    targets = np.eye(4)[labels] * (1 - smoothing) + smoothing / 4
    if mixup:  # the targets the objective mixed (same key as make_loss_fn's)
        _, mixed = augment_on_device(
            jax.random.split(rng)[0], batch["image"], jnp.asarray(targets), opts
        )
        assert not np.allclose(mixed, targets)
        targets = np.asarray(mixed, np.float64)
    np.testing.assert_allclose(
        float(loss), _numpy_weighted_loss(LOGITS, targets, WEIGHTS), rtol=1e-6
    )
    unweighted, _ = make_loss_fn(
        _FixedLogits(), StepOptions(label_smoothing=smoothing, mixup_alpha=mixup), {}, batch,
        rng, None,
    )({})
    np.testing.assert_allclose(
        float(unweighted), _numpy_weighted_loss(LOGITS, targets, (1.0,) * 4), rtol=1e-6
    )


# -- the majority-class baseline ----------------------------------------------------------


def test_majority_baseline_scores():
    # Classes 1 and 2 tie at 9 training examples: class 1 (the lower index) is predicted.
    # Test: 3 of 8 are class 1, so accuracy 3/8, recall 1 for class 1 and 0 elsewhere,
    # precision 3/8 for class 1; F1 of class 1 = 2 (3/8) / (1 + 3/8) = 6/11.
    baseline = majority_baseline(np.array([3, 9, 9, 1]), np.array([1, 1, 0, 2, 3, 1, 2, 2]))
    assert baseline["class"] == 1
    assert baseline["accuracy"] == pytest.approx(3 / 8)
    assert baseline["macro_recall"] == pytest.approx(1 / 4)
    assert baseline["macro_precision"] == pytest.approx(3 / 32)
    assert baseline["macro_f1"] == pytest.approx(6 / 44)
    assert baseline["train_class_counts"] == [3, 9, 9, 1]


# -- one tiny run: imbalanced subset, weights, report -------------------------------------


def _tiny_imbalanced_config(digits_data_dir):
    config = load_default_config()
    config.data.data_dir = digits_data_dir
    config.model.overrides = dict(TINY_MODEL)
    config.train.global_batch_size = 32
    config.train.num_epochs = 1
    config.train.end_of_run_images = False
    config.optim.warmup = "0"
    config.data.class_imbalance = "long_tail:10"
    config.data.class_imbalance_seed = 3
    config.loss.class_weights = "effective_number:0.99"
    return config


@pytest.fixture(scope="module")
def imbalanced_run(digits_data_dir, tmp_path_factory):
    from mixer_vit.train.loop import train_and_evaluate

    config = _tiny_imbalanced_config(digits_data_dir)
    workdir = str(tmp_path_factory.mktemp("imbalanced"))
    train_and_evaluate(config, workdir)
    with open(os.path.join(workdir, "test_report.json")) as f:
        return config, json.load(f)


def _digits_train_labels(digits_data_dir):
    """Labels of the digits train split from its decoded examples (not split_labels)."""
    source = data.open_source("sklearn_digits", "train", digits_data_dir, in_memory=True)
    return np.array([int(ex["label"]) for ex in source])


def test_the_run_trains_on_the_long_tail(imbalanced_run, digits_data_dir):
    from mixer_vit.train.plan import plan_run

    config, report = imbalanced_run
    labels = _digits_train_labels(digits_data_dir)
    n = np.bincount(labels, minlength=10).min()
    expected = [int(np.floor(n * 10.0 ** (-c / 9) + 1e-9)) for c in range(10)]
    plan = plan_run(config)
    subset_labels = labels[plan.train_indices]
    assert np.bincount(subset_labels, minlength=10).tolist() == expected
    source = plan.open_train_split()
    assert [int(source[i]["label"]) for i in range(len(source))] == subset_labels.tolist()
    assert plan.steps_per_epoch == sum(expected) // 32
    np.testing.assert_allclose(
        plan.step_options.class_weights,
        class_balanced_weights(np.array(expected), "effective_number:0.99"),
    )
    baseline = report["majority_baseline"]
    assert baseline["train_class_counts"] == expected and baseline["class"] == 0
    test_source = data.open_source("sklearn_digits", "test", digits_data_dir, in_memory=True)
    test_labels = np.array([int(ex["label"]) for ex in test_source])
    assert sum(report["support"]) == test_labels.size  # the test split is untouched
    assert baseline["accuracy"] == pytest.approx(np.mean(test_labels == 0))


def test_a_plain_run_reports_the_baseline_of_the_whole_split(digits_data_dir):
    from mixer_vit.train.plan import plan_run
    from mixer_vit.train.train_classes import trained_class_counts

    config = _tiny_imbalanced_config(digits_data_dir)
    config.data.class_imbalance, config.loss.class_weights = "", "none"
    plan = plan_run(config)
    assert plan.train_indices is None and plan.step_options.class_weights == ()
    counts = np.bincount(_digits_train_labels(digits_data_dir), minlength=10)
    assert trained_class_counts(plan).tolist() == counts.tolist()


@pytest.mark.parametrize("section, key, value, message", [
    ("data", "class_imbalance", "step:0", "ratio must be a number >= 1"),
    ("loss", "class_weights", "balanced", "loss.class_weights 'balanced' is not understood"),
])
def test_plan_refuses_bad_values(digits_data_dir, section, key, value, message):
    from mixer_vit.train.plan import plan_run

    config = _tiny_imbalanced_config(digits_data_dir)
    config[section][key] = value
    with pytest.raises(UserError, match=message):
        plan_run(config)


def test_the_profile_is_cut_from_an_index_file(digits_data_dir, tmp_path):
    from mixer_vit.train.plan import plan_run

    labels = _digits_train_labels(digits_data_dir)
    listed = np.arange(0, labels.size, 2)  # every other example
    config = _tiny_imbalanced_config(digits_data_dir)
    config.data.class_imbalance, config.loss.class_weights = "step:2:last5", "none"
    config.data.train_indices_file = data.write_index_file(str(tmp_path / "i.json"), listed)
    plan = plan_run(config)
    assert set(plan.train_indices.tolist()) <= set(listed.tolist())
    n = np.bincount(labels[listed], minlength=10).min()
    expected = [n] * 5 + [n // 2] * 5
    assert np.bincount(labels[plan.train_indices], minlength=10).tolist() == expected
    assert plan.train_class_counts.tolist() == expected
