"""Tests of mixer_vit.data: the digits builder, sources by name, grain batching."""

from __future__ import annotations

import collections
import json
import socket
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds
from sklearn.datasets import load_digits

from mixer_vit import data
from mixer_vit.data import digits_builder

DIGITS = "sklearn_digits"
EXPECTED_SIZES = {"train": 1258, "validation": 180, "test": 359}  # documented in digits_builder


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    data.ensure_prepared(DIGITS, data_dir)
    return data_dir


@pytest.fixture(scope="module")
def digits_splits(digits_dir):
    """split -> (images uint8 [N, 8, 8, 1], labels [N]) in storage order."""
    out = {}
    for split in EXPECTED_SIZES:
        examples = data.open_source(DIGITS, split, digits_dir, in_memory=True)
        out[split] = (
            np.stack([ex["image"] for ex in examples]),
            np.array([ex["label"] for ex in examples]),
        )
    return out


def _sklearn_examples():
    """sklearn's digits, rescaled here independently: 0..16 -> 0..255."""
    digits = load_digits()
    images = np.round(digits.images.astype(np.float64) / 16.0 * 255.0).astype(np.uint8)
    return images[..., None], digits.target


def _list_source(num_examples: int) -> list[dict[str, np.ndarray]]:
    """Examples whose label is their index: ``{"image": uint8 [2, 2, 1], "label": i}``."""
    return [
        {"image": np.full((2, 2, 1), i % 256, np.uint8), "label": np.int64(i)}
        for i in range(num_examples)
    ]


def _no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the data code tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


# ----------------------------------------------------------------------------- builder


def test_split_sizes_are_the_documented_ones(digits_dir):
    info = data.data_info(DIGITS, digits_dir)
    assert info.split_sizes == EXPECTED_SIZES == digits_builder.SPLIT_SIZES
    assert sum(info.split_sizes.values()) == 1797
    assert info.num_classes == 10
    assert info.image_shape == (8, 8, 1)
    for split, size in EXPECTED_SIZES.items():
        assert len(data.open_source(DIGITS, split, digits_dir)) == size
        assert f"{size} examples" in digits_builder.__doc__


def test_splits_partition_sklearn_digits_exactly(digits_splits):
    # Every sklearn example (image + label) is in exactly one split: the
    # multisets match, so the splits are disjoint and together complete.
    images, labels = _sklearn_examples()
    expected = collections.Counter(
        (img.tobytes(), int(lab)) for img, lab in zip(images, labels, strict=True)
    )
    found = collections.Counter()
    for split_images, split_labels in digits_splits.values():
        assert split_images.dtype == np.uint8 and split_images.shape[1:] == (8, 8, 1)
        found.update(
            (img.tobytes(), int(lab)) for img, lab in zip(split_images, split_labels, strict=True)
        )
    assert found == expected
    all_images = np.concatenate([imgs for imgs, _ in digits_splits.values()])
    assert all_images.min() == 0 and all_images.max() == 255


def test_known_pixels_of_sklearn_first_digit(digits_splits):
    # sklearn's digits.images[0] is a 0 whose first two rows are
    # [0 0 5 13 9 1 0 0] and [0 0 13 15 10 15 5 0]; x 255/16, rounded:
    want_rows = np.array([[0, 0, 80, 207, 143, 16, 0, 0], [0, 0, 207, 239, 159, 239, 80, 0]])
    raw = load_digits().images[0]
    np.testing.assert_array_equal(
        raw[:2], [[0, 0, 5, 13, 9, 1, 0, 0], [0, 0, 13, 15, 10, 15, 5, 0]]
    )
    hits = [
        (split, int(labels[i]))
        for split, (images, labels) in digits_splits.items()
        for i in range(len(labels))
        if np.array_equal(images[i, :2, :, 0], want_rows)
        and np.array_equal(images[i, :, :, 0], np.round(raw * 255 / 16))
    ]
    assert [label for _, label in hits] == [0]


def test_splits_are_stratified(digits_splits):
    class_counts = np.bincount(load_digits().target, minlength=10)
    for split, (_, labels) in digits_splits.items():
        share = class_counts * len(labels) / class_counts.sum()
        counts = np.bincount(labels, minlength=10)
        assert np.all(np.abs(counts - share) <= 2), (split, counts, share)


def test_building_twice_gives_identical_data(digits_splits, tmp_path):
    data.ensure_prepared(DIGITS, tmp_path)
    for split, (images, labels) in digits_splits.items():
        again = data.open_source(DIGITS, split, tmp_path, in_memory=True)
        np.testing.assert_array_equal(np.stack([ex["image"] for ex in again]), images)
        np.testing.assert_array_equal([ex["label"] for ex in again], labels)


def test_stratified_split_is_seeded_partition():
    labels = np.repeat(np.arange(3), [50, 30, 20])
    a = data.stratified_split(labels, {"test": 0.2, "val": 0.1}, rest="train", seed=3)
    b = data.stratified_split(labels, {"test": 0.2, "val": 0.1}, rest="train", seed=3)
    c = data.stratified_split(labels, {"test": 0.2, "val": 0.1}, rest="train", seed=4)
    assert {k: len(v) for k, v in a.items()} == {"test": 20, "val": 10, "train": 70}
    np.testing.assert_array_equal(np.sort(np.concatenate(list(a.values()))), np.arange(100))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["test"], c["test"])
    np.testing.assert_array_equal(np.bincount(labels[a["test"]]), [10, 6, 4])


# ----------------------------------------------------------------------------- sources


def test_missing_dataset_fails_at_once_without_network(tmp_path, monkeypatch):
    _no_network(monkeypatch)
    for name in ["mnist", "cifar10", "no_such_dataset"]:
        start = time.perf_counter()
        with pytest.raises(data.DatasetNotPreparedError) as err:
            data.open_source(name, "train", tmp_path)
        assert time.perf_counter() - start < 5
        message = str(err.value)
        assert "\n" not in message
        assert repr(name) in message and str(tmp_path) in message
        assert f"tfds build {name}" in message and "data_dir" in message
    assert isinstance(err.value, ValueError)


def test_embedded_dataset_builds_without_network(tmp_path, monkeypatch):
    _no_network(monkeypatch)
    assert len(data.open_source(DIGITS, "validation", tmp_path)) == 180


def test_unknown_split_names_the_available_ones(digits_dir):
    with pytest.raises(ValueError, match="available splits: test, train, validation") as err:
        data.open_source(DIGITS, "val", digits_dir)
    assert "\n" not in str(err.value)
    assert len(data.open_source(DIGITS, "train[:10]+test", digits_dir)) == 10 + 359


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    assert data.default_data_dir() == str(tmp_path)
    monkeypatch.delenv("TFDS_DATA_DIR")
    assert data.default_data_dir().endswith("tensorflow_datasets")


# Not registered: reading it goes through the files in data_dir only, the path
# a dataset built elsewhere (another program, `tfds build`) takes.
with tfds.core.registered.skip_registration():

    class TinyCounts(tfds.core.GeneratorBasedBuilder):
        """1001 examples whose label is their index (for the any-dataset path)."""

        VERSION = tfds.core.Version("0.1.0")

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                features=tfds.features.FeaturesDict(
                    {
                        "image": tfds.features.Tensor(shape=(2, 2, 1), dtype=np.uint8),
                        "label": tfds.features.ClassLabel(num_classes=1001),
                    }
                ),
                disable_shuffling=True,
            )

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(1001)}

        def _generate_examples(self, num):
            for i in range(num):
                yield i, {"image": np.full((2, 2, 1), i % 256, np.uint8), "label": i}


def test_any_prepared_dataset_is_served_by_name(tmp_path, monkeypatch):
    TinyCounts(data_dir=tmp_path, file_format="array_record").download_and_prepare()
    with pytest.raises(tfds.core.registered.DatasetNotFoundError):
        tfds.builder_cls("tiny_counts")  # really not registered
    _no_network(monkeypatch)
    info = data.data_info("tiny_counts", tmp_path)
    assert info == (1001, (2, 2, 1), {"train": 1001})
    source = data.open_source("tiny_counts", "train", tmp_path)
    batches = list(data.eval_batches(source, global_batch_size=64))
    assert len(batches) == 16
    labels = np.concatenate([b["label"][b["mask"] > 0] for b in batches])
    np.testing.assert_array_equal(labels, np.arange(1001))


# ----------------------------------------------------------------------------- preprocess


def test_to_float_image():
    out = data.to_float_image({"image": np.array([[[0], [255]]], np.uint8), "label": np.int64(7)})
    assert out["image"].dtype == np.float32 and out["image"].shape == (1, 2, 1)
    np.testing.assert_allclose(out["image"].ravel(), [-1.0, 1.0])
    assert out["label"].dtype == np.int32 and out["label"] == 7
    rgb = data.to_float_image(
        {"image": np.full((1, 1, 3), 255, np.uint8), "label": 0},
        mean=(0.0, 0.5, 1.0),
        std=(1, 1, 2),
    )
    np.testing.assert_allclose(rgb["image"].ravel(), [1.0, 0.5, 0.0])


# ----------------------------------------------------------------------------- training batches


def _take(iterator, n):
    return [next(iterator) for _ in range(n)]


def _assert_same_batches(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])


def test_train_batches_shape_and_dtype(digits_dir):
    source = data.open_source(DIGITS, "train", digits_dir)
    batches = data.train_batches(source, global_batch_size=32, seed=0)
    assert batches.steps_per_epoch == 1258 // 32
    batch = next(batches)
    assert set(batch) == {"image", "label"}
    assert batch["image"].shape == (32, 8, 8, 1) and batch["image"].dtype == np.float32
    assert batch["label"].shape == (32,) and batch["label"].dtype == np.int32
    assert -1.0 <= batch["image"].min() < batch["image"].max() <= 1.0
    assert set(batch["label"].tolist()) <= set(range(10))


def test_same_seed_same_batches_and_each_epoch_reshuffled():
    source = _list_source(103)
    make = lambda seed: data.train_batches(source, global_batch_size=10, seed=seed)
    first, again, other = _take(make(1), 30), _take(make(1), 30), _take(make(2), 30)
    _assert_same_batches(first, again)
    assert not np.array_equal(first[0]["label"], other[0]["label"])
    epochs = [np.concatenate([b["label"] for b in first[e * 10 : (e + 1) * 10]]) for e in range(3)]
    for order in epochs:  # 10 batches of 10, drop_remainder: 100 distinct of 103
        assert len(set(order.tolist())) == 100
    assert not np.array_equal(epochs[0], epochs[1])
    assert not np.array_equal(epochs[1], epochs[2])


@pytest.mark.parametrize("num_threads", [0, 2])
def test_resume_from_state_across_epoch_boundary(num_threads):
    source = _list_source(57)  # 5 steps per epoch at 10
    make = lambda: data.train_batches(source, global_batch_size=10, seed=7, num_threads=num_threads)
    uninterrupted = _take(make(), 14)
    for k in (0, 3, 4, 5, 9):
        interrupted = make()
        _take(interrupted, k)
        state = json.loads(json.dumps(interrupted.get_state()))
        assert len(json.dumps(state)) < 500
        resumed = make()
        resumed.set_state(state)
        assert resumed.step == k and resumed.epoch == k // 5
        _assert_same_batches(_take(resumed, 14 - k), uninterrupted[k:])
        # The interrupted iterator itself also rewinds exactly.
        interrupted.set_state({**state, "step": 1})
        _assert_same_batches(_take(interrupted, 2), uninterrupted[1:3])


def test_resume_on_tfds_source(digits_dir):
    source = data.open_source(DIGITS, "train", digits_dir)
    make = lambda: data.train_batches(source, global_batch_size=300, seed=0)
    uninterrupted = _take(make(), 7)  # 4 steps per epoch
    interrupted = make()
    _take(interrupted, 3)
    resumed = make()
    resumed.set_state(interrupted.get_state())
    _assert_same_batches(_take(resumed, 4), uninterrupted[3:])


def test_state_from_another_config_is_refused():
    source = _list_source(50)
    state = data.train_batches(source, global_batch_size=10, seed=0).get_state()
    with pytest.raises(ValueError, match="seed"):
        data.train_batches(source, global_batch_size=10, seed=1).set_state(state)


def test_num_epochs_stops():
    batches = list(data.train_batches(_list_source(25), global_batch_size=10, seed=0, num_epochs=3))
    assert len(batches) == 6


def test_process_slices_form_the_global_batch():
    source = _list_source(50)
    whole = _take(data.train_batches(source, global_batch_size=8, seed=3), 8)
    parts = [
        _take(
            data.train_batches(
                source, global_batch_size=8, seed=3, process_index=p, process_count=2
            ),
            8,
        )
        for p in range(2)
    ]
    for step, batch in enumerate(whole):
        assert parts[0][step]["label"].shape == (4,)
        np.testing.assert_array_equal(
            np.concatenate([parts[0][step]["label"], parts[1][step]["label"]]), batch["label"]
        )


def test_in_memory_source_matches_tfds_source(digits_dir):
    lazy = data.open_source(DIGITS, "validation", digits_dir)
    eager = data.open_source(DIGITS, "validation", digits_dir, in_memory=True)
    a = _take(data.train_batches(lazy, global_batch_size=50, seed=0), 4)
    b = _take(data.train_batches(eager, global_batch_size=50, seed=0), 4)
    _assert_same_batches(a, b)


# ----------------------------------------------------------------------------- eval batches


def test_eval_covers_every_example_once_in_order():
    batches = data.eval_batches(_list_source(1001), global_batch_size=64)
    seen = list(batches)
    assert len(batches) == len(seen) == 16
    for batch in seen:
        assert batch["image"].shape == (64, 2, 2, 1) and batch["mask"].shape == (64,)
        assert batch["mask"].dtype == np.float32
    assert sum(b["mask"].sum() for b in seen) == 1001
    labels = np.concatenate([b["label"][b["mask"] == 1] for b in seen])
    np.testing.assert_array_equal(labels, np.arange(1001))
    last = seen[-1]
    assert last["mask"][: 1001 - 15 * 64].all() and not last["mask"][1001 - 15 * 64 :].any()
    assert not last["image"][last["mask"] == 0].any()
    _assert_same_batches(list(batches), seen)  # iterable again, same result


def test_eval_process_slices_cover_the_split():
    source = _list_source(101)
    parts = [
        list(data.eval_batches(source, global_batch_size=16, process_index=p, process_count=4))
        for p in range(4)
    ]
    assert all(len(p) == 7 for p in parts)
    labels = np.concatenate(
        [np.concatenate([parts[p][b]["label"] for p in range(4)]) for b in range(7)]
    )
    mask = np.concatenate(
        [np.concatenate([parts[p][b]["mask"] for p in range(4)]) for b in range(7)]
    )
    np.testing.assert_array_equal(labels[mask == 1], np.arange(101))
    assert mask.sum() == 101
