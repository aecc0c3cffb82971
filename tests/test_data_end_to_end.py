"""CIFAR-10- and ImageNet-shaped folders -> open_source -> spec ops -> train_batches -> one
sharded train step; and a corrupt stored image at read time.

``tfds.testing.mock_data`` is not used: it mocks neither ``is_prepared`` nor the file
format that ``open_source`` checks, and its data source is a MagicMock; tiny datasets
built through the image-folder importer exercise the real array_record path instead.
"""

from __future__ import annotations

import io
import logging

import jax
import numpy as np
import optax
import PIL.Image
import pytest
from test_data_helpers import write_image_folder

from mixer_vit import parallel
from mixer_vit.data import open_source, train_batches
from mixer_vit.data.image_folder import Record, build_image_folder, make_builder_class
from mixer_vit.data.preprocess_ops import as_batch_example, make_preprocess
from mixer_vit.models import create_model
from mixer_vit.train.state import create_train_state
from mixer_vit.train.step import make_train_step

CASES = {  # name: (classes, image size, format)
    "cifar10_like": ([f"c{i}" for i in range(10)], (32, 32), "png"),
    "imagenet2012_like": (["n01440764", "n01443537", "n01484850"], (45, 60), "jpg"),
}
TRAIN_SPEC = "decode|random_resized_crop(32)|flip|randaugment(2,9)|normalize(imagenet)"


def _one_step(batch, num_classes):
    model = create_model(
        "vit_ti16",
        num_classes=num_classes,
        patch_size=8,
        embed_dim=32,
        depth=1,
        mixer_kwargs={"num_heads": 2},
    )
    mesh = parallel.make_mesh(1)
    tx = optax.sgd(0.1)
    state = create_train_state(
        model, tx, (32, 32, 3), jax.random.PRNGKey(0), parallel.replicated(mesh)
    )
    step = make_train_step(model, tx, mesh, base_rng=jax.random.PRNGKey(1))
    state, metrics = step(state, parallel.shard_batch(batch, mesh))
    jax.block_until_ready(state)
    return int(state.step), float(metrics["loss"])


@pytest.mark.parametrize("name", sorted(CASES))
def test_folder_to_train_step(tmp_path, name):
    classes, size, fmt = CASES[name]
    folder = write_image_folder(tmp_path / "f", {"train": 2}, classes, size=size, fmt=fmt)
    build_image_folder(folder, name, tmp_path / "data")
    source = open_source(name, "train", tmp_path / "data")
    batches = train_batches(
        source,
        global_batch_size=4,
        seed=0,
        augment=make_preprocess(TRAIN_SPEC),
        preprocess=as_batch_example,
        num_threads=0,
    )
    batch = next(batches)
    assert batch["image"].shape == (4, 32, 32, 3) and batch["image"].dtype == np.float32
    assert batch["label"].dtype == np.int32 and batch["label"].max() < len(classes)
    again = train_batches(
        source,
        global_batch_size=4,
        seed=0,
        augment=make_preprocess(TRAIN_SPEC),
        preprocess=as_batch_example,
        num_threads=0,
    )
    np.testing.assert_array_equal(next(again)["image"], batch["image"])  # pure fn of step
    steps, loss = _one_step(batch, len(classes))
    assert steps == 1 and np.isfinite(loss)


def _png(value):
    buffer = io.BytesIO()
    PIL.Image.new("RGB", (8, 8), (value, value, value)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_corrupt_stored_image_is_skipped_at_read_time(tmp_path, caplog):
    records = [Record(f"k{i}", _png(10 * i), i % 2) for i in range(8)]
    records[3] = Record("k3", b"\x89PNG garbage", 1)
    builder = make_builder_class("has_corrupt", ["a", "b"], (8, 8, 3), {"train": records})
    builder(data_dir=str(tmp_path)).download_and_prepare()

    plain = open_source("has_corrupt", "train", tmp_path)
    bad = next(i for i in range(len(plain)) if not _reads(plain, i))
    source = open_source("has_corrupt", "train", tmp_path, skip_corrupt=True)
    with caplog.at_level(logging.WARNING):
        substitute = source[bad]
        batches = train_batches(source, global_batch_size=8, seed=0, num_threads=0)
        batch = next(batches)
    assert f"has_corrupt[train]: skipping unreadable example {bad}" in caplog.text
    np.testing.assert_array_equal(substitute["image"], plain[(bad + 1) % 8]["image"])
    assert batch["image"].shape == (8, 8, 8, 3)


def _reads(source, index):
    try:
        source[index]
        return True
    except Exception:  # noqa: BLE001
        return False
