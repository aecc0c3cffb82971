"""data.unknown_classes (data/open_set_split.py): the kept examples and their new labels
against a NumPy computation from the raw labels, the run plan built on it, bad values, and
the ``open_set`` section of a trained run's test report."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from conftest import TINY_MODEL, load_default_config

from mixer_vit import data
from mixer_vit.data.index_subset import write_index_file
from mixer_vit.data.open_set_split import (
    RelabelledSubset,
    class_map,
    read_split_labels,
    split_by_class,
)
from mixer_vit.errors import UserError
from mixer_vit.metrics.open_set_rejection import compare_rejection
from mixer_vit.train.loop import train_and_evaluate
from mixer_vit.train.plan import plan_run
from mixer_vit.train.trained_model import load_trained_model

HELD_OUT = (4, 6)
KNOWN = np.array([0, 1, 2, 3, 5, 7, 8, 9])  # digits' classes without 4 and 6


def _config(data_dir, **data_changes):
    config = load_default_config()
    config.data.data_dir = data_dir
    config.data.unknown_classes = HELD_OUT
    config.model.overrides = dict(TINY_MODEL)
    config.train.global_batch_size = 32
    config.train.num_epochs = 2
    config.train.end_of_run_images = False
    config.optim.warmup = "1ep"
    for key, value in data_changes.items():
        config.data[key] = value
    return config


def _raw_labels(data_dir, split):
    """Labels as the decoding source serves them (not the label-only read under test)."""
    source = data.open_source("sklearn_digits", split, data_dir)
    return np.array([int(source[i]["label"]) for i in range(len(source))])


def _expected(raw, within=None):
    """Known indices, their labels 0..7 and unknown indices, by NumPy set operations."""
    candidates = np.arange(raw.size) if within is None else np.asarray(within)
    held = np.isin(raw[candidates], HELD_OUT)
    known = candidates[~held]
    return known, np.searchsorted(KNOWN, raw[known]), candidates[held]


def test_split_by_class_equals_numpy():
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 10, size=500)
    within = rng.permutation(500)[:200]
    for subset in (None, within):
        got = split_by_class(raw, class_map(10, HELD_OUT), subset)
        for a, b in zip(got, _expected(raw, subset)):
            np.testing.assert_array_equal(a, b)
    assert class_map(10, HELD_OUT).tolist() == [0, 1, 2, 3, -1, 4, -1, 5, 6, 7]


def test_relabelled_subset_serves_the_kept_examples_with_new_labels():
    source = [{"image": np.full((2, 2, 1), i, np.uint8), "label": i % 10} for i in range(30)]
    raw = np.arange(30) % 10
    known, labels, _ = _expected(raw)
    subset = RelabelledSubset(source, known, class_map(10, HELD_OUT))
    assert len(subset) == known.size
    served = subset.__getitems__(range(len(subset)))
    assert [int(e["image"][0, 0, 0]) for e in served] == known.tolist()
    assert [int(e["label"]) for e in served] == labels.tolist()
    assert int(subset[3]["label"]) == labels[3]


@pytest.fixture(scope="module")
def plan(digits_data_dir):
    return plan_run(_config(digits_data_dir))


def test_label_read_without_decoding_equals_the_decoded_labels(digits_data_dir):
    for split in ("train", "validation"):
        np.testing.assert_array_equal(
            read_split_labels("sklearn_digits", split, digits_data_dir),
            _raw_labels(digits_data_dir, split),
        )


def test_plan_trains_and_evaluates_on_the_known_classes(plan, digits_data_dir):
    known, labels, _ = _expected(_raw_labels(digits_data_dir, "train"))
    train = plan.open_train_split()
    np.testing.assert_array_equal(train.indices, known)
    np.testing.assert_array_equal([int(e["label"]) for e in train.__getitems__(range(len(train)))],
                                  labels)
    assert plan.num_classes == 8 and plan.model.num_classes == 8
    assert plan.steps_per_epoch == known.size // 32
    for split in ("validation", "test"):
        known, labels, unknown = _expected(_raw_labels(digits_data_dir, split))
        batches = list(plan.eval_batches(split))
        seen = np.concatenate([b["label"][b["mask"] > 0] for b in batches])
        np.testing.assert_array_equal(seen, labels)
        held = list(plan.unknown_batches(split))
        held_labels = np.concatenate([b["label"][b["mask"] > 0] for b in held])
        assert held_labels.size == unknown.size and set(held_labels.tolist()) == {-1}
    assert plan.class_names() == [str(c) for c in KNOWN]


def test_train_indices_file_keeps_its_known_examples_in_order(digits_data_dir, tmp_path):
    within = np.random.default_rng(1).permutation(1258)[:300]
    path = write_index_file(str(tmp_path / "indices.json"), within)
    plan = plan_run(_config(digits_data_dir, train_indices_file=path))
    known, labels, _ = _expected(_raw_labels(digits_data_dir, "train"), within)
    np.testing.assert_array_equal(plan.open_train_split().indices, known)
    assert plan.steps_per_epoch == known.size // 32


@pytest.mark.parametrize(
    "value, message",
    [
        ((4, 10), "names class 10, but the data set has 10 classes"),
        ((4, 4), r"data.unknown_classes \(4, 4\) repeats a class"),
        (tuple(range(10)), "holds out all 10 classes"),
        (("4",), "must be a tuple of class ids"),
    ],
)
def test_bad_unknown_classes_are_one_line_user_errors(digits_data_dir, value, message):
    config = _config(digits_data_dir)
    config.data.unknown_classes = value
    with pytest.raises(UserError, match=message) as raised:
        plan_run(config)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "key, value", [("class_imbalance", "long_tail:10"), ("class_weights", "inverse_frequency")]
)
def test_held_out_classes_refuse_class_counts_of_all_classes(digits_data_dir, key, value):
    config = _config(digits_data_dir)
    config.data.unknown_classes = (4, 6)
    (config.data if key == "class_imbalance" else config.loss)[key] = value
    with pytest.raises(UserError, match="does not combine with data.class_imbalance"):
        plan_run(config)


@pytest.fixture(scope="module")
def trained(digits_data_dir, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("open_set_run"))
    train_and_evaluate(_config(digits_data_dir), workdir)
    with open(os.path.join(workdir, "test_report.json")) as f:
        return workdir, json.load(f)


def _probs(model, split_sources):
    """Softmax probabilities [N, 8] and labels [N] of the examples of the sources."""
    examples = [e for source in split_sources for e in source.__getitems__(range(len(source)))]
    batch = np.stack([model.preprocess(e)["image"] for e in examples])
    logits = np.asarray(model.logits(batch), np.float64)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    return probs / probs.sum(-1, keepdims=True), np.array([int(e["label"]) for e in examples])


def test_report_compares_the_rules_on_the_held_out_images(trained, plan, digits_data_dir):
    workdir, report = trained
    open_set = report["open_set"]
    assert open_set["held_out_classes"] == list(HELD_OUT)
    for split, name in (("validation", "validation"), ("test", "test")):
        known, _, unknown = _expected(_raw_labels(digits_data_dir, split))
        assert open_set[name] == {"known": known.size, "unknown": unknown.size}
    # without rejection the known-class recall is the usual (known-only) report's
    assert open_set["none"]["recall"] == pytest.approx(report["macro_recall"])
    assert open_set["none"]["coverage"] == 1.0 and open_set["none"]["unknown_rejection"] == 0.0
    # the same numbers from the checkpoint's probabilities, computed here
    model = load_trained_model(workdir)
    splits = {}
    for split in ("validation", "test"):
        source = data.open_source("sklearn_digits", split, digits_data_dir)
        parts = [plan.open_set.known(source, split), plan.open_set.unknown_examples(source, split)]
        splits[split] = _probs(model, parts)
    expected = compare_rejection(*splits["validation"], *splits["test"])
    for rule in ("none", "global", "per_class"):
        for key in ("precision", "recall", "f1", "unknown_rejection", "coverage"):
            assert open_set[rule][key] == pytest.approx(expected[rule][key], abs=1e-6), (rule, key)
    assert open_set["per_class"]["thresholds"] == pytest.approx(
        expected["per_class"]["thresholds"], abs=1e-5
    )


def test_resuming_with_other_held_out_classes_is_refused(trained, digits_data_dir):
    workdir, _ = trained
    config = _config(digits_data_dir)
    config.data.unknown_classes = (4, 7)
    with pytest.raises(UserError, match="holds a checkpoint of model"):
        train_and_evaluate(config, workdir)


@pytest.mark.slow  # ~30 s: a population's own compile
def test_population_members_write_the_open_set_section(digits_data_dir, tmp_path):
    config = _config(digits_data_dir)
    config.train.population, config.train.num_epochs = 2, 1
    train_and_evaluate(config, str(tmp_path))
    for seed in (0, 1):
        with open(tmp_path / "members" / f"seed_{seed}" / "test_report.json") as f:
            section = json.load(f)["open_set"]
        assert section["test"]["unknown"] == int(np.isin(_raw_labels(digits_data_dir, "test"),
                                                         HELD_OUT).sum())
        assert set(section) >= {"none", "global", "per_class"}
