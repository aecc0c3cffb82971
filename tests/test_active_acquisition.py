"""Acquisition functions and pool scoring (mixer_vit/active), each checked against an
independent NumPy computation on fixed probabilities and features."""

from __future__ import annotations

import itertools
import math

import jax
import numpy as np
import pytest

from mixer_vit.active.acquisition import STRATEGIES, select
from mixer_vit.active.acquisition import batchbald as batchbald_module
from mixer_vit.active.acquisition import uncertainty
from mixer_vit.active.acquisition.availability import balanced_quotas
from mixer_vit.active.acquisition.badge import badge, sq_distances_to
from mixer_vit.active.acquisition.batchbald import batchbald
from mixer_vit.active.acquisition.coreset import kcenter_greedy
from mixer_vit.active.pool_outputs import PoolOutputs, score_pool
from mixer_vit.errors import UserError

# S = 2 samples, N = 5 images, K = 3 classes. Image 0 and 1 have the same mean
# probabilities (a margin tie); image 2: both samples agree; image 3: samples disagree.
PROBS = np.array(
    [
        [[0.5, 0.3, 0.2], [0.3, 0.5, 0.2], [0.7, 0.2, 0.1], [1.0, 0.0, 0.0], [0.2, 0.2, 0.6]],
        [[0.3, 0.5, 0.2], [0.5, 0.3, 0.2], [0.7, 0.2, 0.1], [0.0, 1.0, 0.0], [0.4, 0.1, 0.5]],
    ],
    np.float32,
)


def entropy_loop(p) -> float:
    return -sum(float(x) * math.log(float(x)) for x in p if x > 0)


def random_probs(rng, s, n, k, concentration=0.5):
    return rng.dirichlet(np.full(k, concentration), size=(s, n)).astype(np.float32)


def test_uncertainty_scores_match_loops():
    p = PROBS.astype(np.float64)
    for i in range(p.shape[1]):
        mean = [(p[0, i, c] + p[1, i, c]) / 2 for c in range(3)]
        top = sorted(mean, reverse=True)
        assert uncertainty.least_confidence(PROBS)[i] == pytest.approx(1 - top[0], abs=1e-7)
        assert uncertainty.margin(PROBS)[i] == pytest.approx(top[0] - top[1], abs=1e-7)
        assert uncertainty.entropy(PROBS)[i] == pytest.approx(entropy_loop(mean), abs=1e-7)
        mutual = entropy_loop(mean) - (entropy_loop(p[0, i]) + entropy_loop(p[1, i])) / 2
        assert uncertainty.bald(PROBS)[i] == pytest.approx(mutual, abs=1e-7)
    assert uncertainty.bald(PROBS)[2] == 0.0  # the samples agree
    assert uncertainty.bald(PROBS)[3] == pytest.approx(math.log(2), abs=1e-7)


def test_margin_ties_go_to_the_lower_index():
    pool = PoolOutputs(PROBS, np.zeros((5, 2), np.float32))
    # images 0, 1 and 3 all have mean (0.4|0.5, ...) margins: 0 and 1 tie at 0.0 with 3.
    margins = uncertainty.margin(PROBS)
    assert margins[0] == margins[1] == margins[3] == 0.0
    picks = select("margin", pool, 4, labelled_features=None, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(picks, [0, 1, 3, 4])


def brute_force_batchbald_value(probs, chosen) -> float:
    """a(chosen) = H[y_chosen] - sum_i mean_s H[p_s(y_i)], by enumerating K^m labels."""
    s, _, k = probs.shape
    p = probs.astype(np.float64)
    joint = 0.0
    for labels in itertools.product(range(k), repeat=len(chosen)):
        prob = np.mean([np.prod([p[j, i, y] for i, y in zip(chosen, labels)]) for j in range(s)])
        if prob > 0:
            joint -= prob * math.log(prob)
    return joint - sum(np.mean([entropy_loop(p[j, i]) for j in range(s)]) for i in chosen)


def test_batchbald_is_exact_greedy_and_starts_with_bald():
    probs = random_probs(np.random.default_rng(1), s=3, n=7, k=3)
    picks, gains = batchbald(probs, 3, rng=np.random.default_rng(0))
    assert picks[0] == np.argmax(uncertainty.bald(probs))
    assert gains[0] == pytest.approx(uncertainty.bald(probs).max(), abs=1e-5)
    chosen = []
    for step in range(3):
        values = [
            brute_force_batchbald_value(probs, chosen + [i]) if i not in chosen else -np.inf
            for i in range(7)
        ]
        chosen.append(int(np.argmax(values)))
        assert np.sum(gains[: step + 1]) == pytest.approx(max(values), abs=1e-5)
    np.testing.assert_array_equal(picks, chosen)


def test_batchbald_skips_a_duplicate_that_bald_takes():
    # 4 samples = 2 independent bits (a, b). Images 0 and 1 reveal bit a exactly (log 2
    # nats each, the top BALD scores); image 2 reveals bit b less surely; image 3 is noise.
    a = np.array([0, 0, 1, 1])
    b = np.array([0, 1, 0, 1])
    probs = np.zeros((4, 4, 2), np.float32)
    probs[np.arange(4), 0, a] = 1.0
    probs[np.arange(4), 1, a] = 1.0
    probs[:, 2] = np.where(b[:, None] == 0, [0.9, 0.1], [0.1, 0.9])
    probs[:, 3] = 0.5
    pool = PoolOutputs(probs, np.zeros((4, 2), np.float32))
    rng = np.random.default_rng(0)
    bald_picks = select("bald", pool, 2, labelled_features=None, rng=rng)
    np.testing.assert_array_equal(bald_picks, [0, 1])
    picks, gains = batchbald(probs, 2, rng=rng)
    np.testing.assert_array_equal(picks, [0, 2])
    assert gains[1] == pytest.approx(uncertainty.bald(probs)[2], abs=1e-5)


def test_batchbald_sampled_configurations_estimate_the_exact_gain():
    probs = random_probs(np.random.default_rng(2), s=4, n=6, k=3)
    chosen = [0, 1, 2]
    log_probs = np.log(probs.astype(np.float64))
    log_p = batchbald_module._sampled(log_probs[:, chosen], 40000, np.random.default_rng(0))
    weights = np.exp(log_p - log_p.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    estimate = batchbald_module.conditional_entropy(weights, np.full(40000, 1 / 40000), probs)
    for i in (3, 4, 5):
        exact = brute_force_batchbald_value(probs, chosen + [i]) - brute_force_batchbald_value(
            probs, chosen
        )
        expected = np.mean([entropy_loop(probs[j, i]) for j in range(4)])
        assert estimate[i] - expected == pytest.approx(exact, abs=0.01)


def test_batchbald_beyond_enumeration_picks_distinct_points():
    probs = random_probs(np.random.default_rng(3), s=4, n=30, k=5)
    picks, gains = batchbald(probs, 8, rng=np.random.default_rng(0), max_configs=16)
    assert len(set(picks.tolist())) == 8 and picks.min() >= 0 and picks.max() < 30
    assert np.all(gains > -1e-6)


def test_coreset_matches_a_brute_force_loop():
    rng = np.random.default_rng(4)
    features = rng.normal(size=(25, 3))
    labelled = rng.normal(size=(4, 3))
    picks = kcenter_greedy(features, 6, labelled_features=labelled, rng=rng)
    centres = [tuple(c) for c in labelled]
    expected = []
    for _ in range(6):
        best, best_distance = None, -1.0
        for i, x in enumerate(features):
            if i in expected:
                continue
            nearest = min(sum((xd - cd) ** 2 for xd, cd in zip(x, c)) for c in centres)
            if nearest > best_distance:
                best, best_distance = i, nearest
        expected.append(best)
        centres.append(tuple(features[best]))
    np.testing.assert_array_equal(picks, expected)

    first = np.random.default_rng(7).choice(np.arange(25))
    no_labels = kcenter_greedy(features, 2, labelled_features=None, rng=np.random.default_rng(7))
    assert no_labels[0] == first
    assert no_labels[1] == np.argmax(np.sum((features - features[first]) ** 2, axis=1))


def test_badge_matches_materialised_gradient_embeddings():
    rng = np.random.default_rng(5)
    probs_mean = random_probs(rng, 1, 12, 3)[0].astype(np.float64)
    features = rng.normal(size=(12, 4))
    onehot = np.eye(3)[probs_mean.argmax(1)]
    g = np.stack([np.outer(onehot[i] - probs_mean[i], features[i]).ravel() for i in range(12)])
    a = onehot - probs_mean
    for j in (0, 5):
        np.testing.assert_allclose(
            sq_distances_to(a, features, j), np.sum((g - g[j]) ** 2, axis=1), atol=1e-12
        )

    picks = badge(probs_mean, features, 5, rng=np.random.default_rng(9))
    draw = np.random.default_rng(9)
    expected = [int(np.argmax(np.linalg.norm(g, axis=1)))]
    while len(expected) < 5:
        d2 = np.min([np.sum((g - g[c]) ** 2, axis=1) for c in expected], axis=0)
        d2[expected] = 0.0
        target = draw.random() * d2.sum()
        running = 0.0
        for i, w in enumerate(d2):
            running += w
            if running > target:
                expected.append(i)
                break
    np.testing.assert_array_equal(picks, expected)


def test_balanced_quotas():
    np.testing.assert_array_equal(balanced_quotas(np.array([10, 10, 10]), 7), [3, 2, 2])
    np.testing.assert_array_equal(balanced_quotas(np.array([1, 10, 10, 0]), 9), [1, 4, 4, 0])
    np.testing.assert_array_equal(balanced_quotas(np.array([2, 3, 10]), 12), [2, 3, 7])


@pytest.fixture(scope="module")
def pool():
    rng = np.random.default_rng(6)
    return PoolOutputs(random_probs(rng, 3, 40, 4), rng.normal(size=(40, 5)).astype(np.float32))


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("class_balanced", [False, True])
def test_selections_are_distinct_pool_indices(pool, strategy, class_balanced):
    labelled = np.random.default_rng(0).normal(size=(3, 5))
    picks = select(
        strategy,
        pool,
        12,
        labelled_features=labelled,
        rng=np.random.default_rng(0),
        class_balanced=class_balanced,
    )
    assert picks.shape == (12,) and picks.dtype == np.int64
    assert len(set(picks.tolist())) == 12 and picks.min() >= 0 and picks.max() < 40
    if class_balanced:
        classes = pool.probs.mean(0).argmax(1)
        counts = np.bincount(classes[picks], minlength=4)
        sizes = np.bincount(classes, minlength=4)
        np.testing.assert_array_equal(counts, balanced_quotas(sizes, 12))


def test_class_balanced_takes_the_best_of_each_class():
    pool = PoolOutputs(PROBS, np.zeros((5, 2), np.float32))
    # Predicted classes (argmax of the mean): 0, 0, 0, 0, 2. Entropy picks 2 of class 0
    # and the one image of class 2.
    rng = np.random.default_rng(0)
    picks = select("entropy", pool, 3, labelled_features=None, rng=rng, class_balanced=True)
    order = [i for i in uncertainty.rank_descending(uncertainty.entropy(PROBS)) if i != 4]
    assert sorted(picks.tolist()) == sorted(order[:2] + [4])


def test_select_rejects_bad_requests(pool):
    rng = np.random.default_rng(0)
    with pytest.raises(UserError, match="unknown acquisition strategy 'maxent'.*badge"):
        select("maxent", pool, 3, labelled_features=None, rng=rng)
    with pytest.raises(UserError, match="pool of 40"):
        select("entropy", pool, 41, labelled_features=None, rng=rng)
    deterministic = PoolOutputs(pool.probs[:1], pool.features)
    for strategy in ("bald", "batchbald"):
        with pytest.raises(UserError, match="mc_samples > 1"):
            select(strategy, deterministic, 3, labelled_features=None, rng=rng)


@pytest.fixture(scope="module")
def tiny_vit():
    import tiny_models

    model = tiny_models.tiny_model("vit", dropout_rate=0.2)
    images = tiny_models.images(7)
    return model, moved_variables(model, images[:1]), images


def moved_variables(model, x):
    """Jitted init with every parameter moved by 0.1 * N(0, 1) (the head is not zero)."""
    variables = jax.jit(model.init)(jax.random.key(0), x)
    rng = np.random.default_rng(0)
    params = jax.tree.map(
        lambda p: np.asarray(p) + 0.1 * rng.normal(size=p.shape).astype(np.float32),
        variables["params"],
    )
    return {**variables, "params": params}


def jitted_apply(model, train=False):
    """``(variables, images[, dropout key]) -> logits``, jitted."""
    if train:
        return jax.jit(lambda v, x, key: model.apply(v, x, train=True, rngs={"dropout": key}))
    return jax.jit(lambda v, x: model.apply(v, x, train=False))


def test_score_pool_equals_apply_and_head_input(tiny_vit):
    model, variables, images = tiny_vit
    out = score_pool(model, variables, images, mc_samples=1, rng=0, batch_size=4)
    logits = np.asarray(jitted_apply(model)(variables, images), np.float64)
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    assert out.probs.shape == (1, 7, 5) and out.features.shape == (7, 16)
    np.testing.assert_allclose(out.probs[0], expected, atol=1e-6)
    head = variables["params"]["head"]
    np.testing.assert_allclose(
        out.features @ np.asarray(head["kernel"]) + np.asarray(head["bias"]), logits, atol=1e-5
    )
    batches = iter([images[:3], images[3:5], images[5:]])
    again = score_pool(model, variables, batches, mc_samples=1, rng=0, batch_size=4)
    np.testing.assert_allclose(again.features, out.features, atol=1e-6)


def test_score_pool_mc_samples_are_dropout_forwards(tiny_vit):
    model, variables, images = tiny_vit
    out = score_pool(model, variables, images, mc_samples=3, rng=jax.random.key(1), batch_size=4)
    assert out.probs.shape == (3, 7, 5)
    np.testing.assert_allclose(out.probs.sum(-1), 1.0, atol=1e-5)
    assert np.abs(out.probs[0] - out.probs[1]).max() > 1e-4  # dropout is on
    keys = jax.random.split(jax.random.fold_in(jax.random.key(1), 1), 3)  # second batch
    logits = jitted_apply(model, train=True)(variables, images[4:], keys[2])
    np.testing.assert_allclose(out.probs[2, 4:], jax.nn.softmax(logits), atol=1e-5)
    deterministic = score_pool(model, variables, images, mc_samples=1, rng=0, batch_size=4)
    np.testing.assert_allclose(out.features, deterministic.features, atol=1e-6)


def test_score_pool_finds_a_resnet_fc_head_and_refuses_mc_with_batchnorm():
    from mixer_vit.models import create_model

    model = create_model(
        "resnet18", stem="cifar", depths=(1, 1), stage_widths=(4, 8), num_classes=3
    )
    images = np.random.default_rng(0).normal(size=(5, 8, 8, 1)).astype(np.float32)
    variables = moved_variables(model, images[:1])
    fc = variables["params"]["fc"]
    out = score_pool(model, variables, images, mc_samples=1, rng=0, batch_size=8)
    logits = np.asarray(jitted_apply(model)(variables, images))
    np.testing.assert_allclose(
        out.features @ np.asarray(fc["kernel"]) + np.asarray(fc["bias"]), logits, atol=1e-5
    )
    with pytest.raises(UserError, match="BatchNorm"):
        score_pool(model, variables, images, mc_samples=2, rng=0, batch_size=8)
