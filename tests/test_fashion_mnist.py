"""`mixer-vit prepare fashion_mnist`: IDX files -> the catalogue's TFDS data set, offline.

The IDX files are written here byte by byte (header packed with ``struct``), tiny (12
train / 5 test images), so CI never needs the real files.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import struct

import numpy as np
import pytest
import tensorflow_datasets as tfds
from tensorflow_datasets.image_classification import mnist as catalogue_mnist

from mixer_vit import cli, data
from mixer_vit.data import fashion_mnist_builder
from mixer_vit.data.idx_files import IdxFileError, read_idx_images, read_idx_labels

NUM_TRAIN, NUM_TEST = 12, 5
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
INSTALL = "apt-get install dataset-fashion-mnist"


def write_gz(path, content: bytes) -> None:
    with gzip.open(path, "wb") as f:
        f.write(content)


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """IDX as the format's description has it: 0, 0, type 0x08, ndim, dims (>u4), data."""
    header = bytes([0, 0, 0x08, array.ndim]) if magic is None else struct.pack(">I", magic)
    dims = b"".join(struct.pack(">I", d) for d in array.shape)
    return header + dims + array.astype(np.uint8).tobytes()


def write_source(directory, seed=0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Four IDX .gz files of random images (distinct) and labels; returns the arrays."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    arrays = {}
    for split, count in (("train", NUM_TRAIN), ("test", NUM_TEST)):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=count).astype(np.uint8)
        labels[:2] = [0, 9]  # both ends of the label range
        write_gz(os.path.join(directory, FILES[split][0]), idx_bytes(images))
        write_gz(os.path.join(directory, FILES[split][1]), idx_bytes(labels))
        arrays[split] = (images, labels)
    return arrays


def prepare(capsys, source, data_dir, *extra):
    code = cli.main(
        ["prepare", "fashion_mnist", "--source", str(source), "--data_dir", str(data_dir), *extra]
    )
    return code, capsys.readouterr()


def assert_one_line_error(code, captured, *fragments):
    assert code == 2, captured.err
    err = captured.err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("error: ")
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """(data_dir, arrays written, prepare's stdout)."""
    root = tmp_path_factory.mktemp("fashion")
    arrays = write_source(root / "idx")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(
            ["prepare", "fashion_mnist", "--source", str(root / "idx")]
            + ["--data_dir", str(root / "tfds")]
        )
    assert code == 0
    return str(root / "tfds"), arrays, out.getvalue()


def test_idx_reader_returns_the_header_shape_and_bytes(tmp_path):
    arrays = write_source(tmp_path)
    images, labels = arrays["train"]
    got_images = read_idx_images(tmp_path / FILES["train"][0])
    got_labels = read_idx_labels(tmp_path / FILES["train"][1])
    assert got_images.shape == (NUM_TRAIN, 28, 28) and got_images.dtype == np.uint8
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    with pytest.raises(IdxFileError, match="magic number 2049, expected 2051"):
        read_idx_images(tmp_path / FILES["train"][1])


def test_prepared_data_set_reads_back_pixels_and_labels_exactly(prepared):
    data_dir, arrays, _ = prepared
    for split, (images, labels) in arrays.items():
        source = tfds.data_source("fashion_mnist", split=split, data_dir=data_dir)
        assert len(source) == len(images)
        # TFDS stores examples in key-hash order: match them by their (distinct) pixels.
        by_pixels = {images[i].tobytes(): i for i in range(len(images))}
        seen = set()
        for example in source:
            assert example["image"].shape == (28, 28, 1) and example["image"].dtype == np.uint8
            index = by_pixels[example["image"][:, :, 0].tobytes()]
            assert example["label"] == labels[index]
            seen.add(index)
        assert seen == set(range(len(images)))
    # The project's own reader sees the same.
    info = data.data_info("fashion_mnist", data_dir)
    assert info == data.DataInfo(10, (28, 28, 1), {"train": NUM_TRAIN, "test": NUM_TEST})
    test = data.open_source("fashion_mnist", "test", data_dir, in_memory=True)
    assert sorted(int(e["label"]) for e in test) == sorted(arrays["test"][1].tolist())


def test_prepared_data_set_is_the_catalogues(prepared):
    """Name, version dir, features (class names included), splits, array_record: what
    `tfds build fashion_mnist --file_format array_record` writes."""
    data_dir, _, out = prepared
    version = str(catalogue_mnist.FashionMNIST.VERSION)
    assert os.path.isfile(os.path.join(data_dir, "fashion_mnist", version, "dataset_info.json"))
    builder = tfds.builder("fashion_mnist", data_dir=data_dir)  # the registered catalogue class
    assert type(builder) is catalogue_mnist.FashionMNIST and builder.is_prepared()
    catalogue_info = catalogue_mnist.FashionMNIST(data_dir=data_dir + "_empty").info
    assert builder.info.features.to_json() == catalogue_info.features.to_json()
    assert builder.info.features["label"].names[0] == "T-shirt/top"
    assert builder.info.features["label"].names[9] == "Ankle boot"
    assert builder.info.supervised_keys == catalogue_info.supervised_keys
    assert builder.info.file_format.value == "array_record"
    assert sorted(builder.info.splits.keys()) == ["test", "train"]
    assert f"fashion_mnist {version} prepared from" in out and "train 12, test 5" in out
    assert f"--config.data.data_dir={data_dir}" in out


def test_prepare_again_reuses_the_data_set_without_reading_files(prepared, tmp_path, capsys):
    data_dir, _, _ = prepared
    code, captured = prepare(capsys, tmp_path / "no_such_dir", data_dir)
    assert code == 0, captured.err
    assert "already prepared" in captured.out and "train 12, test 5" in captured.out


def test_default_source_is_the_package_dir_then_the_environment(tmp_path, monkeypatch, capsys):
    arrays = write_source(tmp_path / "env_idx")
    monkeypatch.setattr(fashion_mnist_builder, "DEBIAN_SOURCE_DIR", str(tmp_path / "no_package"))
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "env_idx"))
    assert fashion_mnist_builder.default_source_dir() == str(tmp_path / "env_idx")
    # No flags: the data dir is the one training reads by default.
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    code = cli.main(["prepare", "fashion_mnist"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.splitlines()[-1] == "train on it with --config.data.name=fashion_mnist"
    source = data.open_source("fashion_mnist", "train")
    assert sorted(int(e["label"]) for e in source) == sorted(arrays["train"][1].tolist())
    # The package's directory comes first when it holds the files.
    write_source(tmp_path / "package_idx", seed=1)
    monkeypatch.setattr(fashion_mnist_builder, "DEBIAN_SOURCE_DIR", str(tmp_path / "package_idx"))
    assert fashion_mnist_builder.default_source_dir() == str(tmp_path / "package_idx")
    monkeypatch.delenv("FASHION_MNIST_DIR")
    monkeypatch.setattr(fashion_mnist_builder, "DEBIAN_SOURCE_DIR", str(tmp_path / "no_package"))
    assert fashion_mnist_builder.default_source_dir() == str(tmp_path / "no_package")


def _break_and_prepare(capsys, tmp_path, damage):
    source = tmp_path / "idx"
    write_source(source)
    damage(source)
    code, captured = prepare(capsys, source, tmp_path / "tfds")
    assert not os.path.exists(tmp_path / "tfds" / "fashion_mnist" / "3.0.1")
    return code, captured


def test_missing_file_names_it_and_the_package(tmp_path, capsys):
    missing = tmp_path / "idx" / FILES["test"][1]
    code, captured = _break_and_prepare(capsys, tmp_path, lambda d: os.remove(d / FILES["test"][1]))
    assert_one_line_error(code, captured, f"missing file {missing}", INSTALL, "FASHION_MNIST_DIR")


def test_truncated_gzip_names_the_file(tmp_path, capsys):
    def cut(directory):
        path = directory / FILES["train"][0]
        path.write_bytes(path.read_bytes()[:3000])

    code, captured = _break_and_prepare(capsys, tmp_path, cut)
    assert_one_line_error(code, captured, "truncated", FILES["train"][0], INSTALL)


def test_short_content_in_an_intact_gzip_is_truncated(tmp_path, capsys):
    def short(directory):
        images = np.zeros((NUM_TEST, 28, 28), np.uint8)
        write_gz(directory / FILES["test"][0], idx_bytes(images)[:-100])

    code, captured = _break_and_prepare(capsys, tmp_path, short)
    assert_one_line_error(code, captured, f"truncated file {tmp_path / 'idx' / FILES['test'][0]}")


def test_wrong_magic_names_the_file(tmp_path, capsys):
    def swap_magic(directory):
        images = np.zeros((NUM_TRAIN, 28, 28), np.uint8)
        write_gz(directory / FILES["train"][0], idx_bytes(images, magic=2049))

    code, captured = _break_and_prepare(capsys, tmp_path, swap_magic)
    assert_one_line_error(
        code,
        captured,
        FILES["train"][0],
        "not an IDX image file",
        "magic number 2049, expected 2051",
    )


def test_count_mismatch_names_both_files(tmp_path, capsys):
    def drop_label(directory):
        write_gz(directory / FILES["train"][1], idx_bytes(np.zeros(NUM_TRAIN - 1, np.uint8)))

    code, captured = _break_and_prepare(capsys, tmp_path, drop_label)
    assert_one_line_error(
        code,
        captured,
        f"holds {NUM_TRAIN} images but",
        f"holds {NUM_TRAIN - 1} labels",
        FILES["train"][1],
    )


def test_wrong_image_size_and_label_range(tmp_path, capsys):
    def small_images(directory):
        write_gz(directory / FILES["train"][0], idx_bytes(np.zeros((NUM_TRAIN, 8, 8), np.uint8)))

    code, captured = _break_and_prepare(capsys, tmp_path / "a", small_images)
    assert_one_line_error(code, captured, "8x8 images", "28x28")

    def label_ten(directory):
        write_gz(directory / FILES["test"][1], idx_bytes(np.full(NUM_TEST, 10, np.uint8)))

    code, captured = _break_and_prepare(capsys, tmp_path / "b", label_ten)
    assert_one_line_error(code, captured, "label 10", FILES["test"][1])


def test_unknown_or_missing_name(tmp_path, capsys):
    code = cli.main(["prepare", "imagenet2012", "--data_dir", str(tmp_path)])
    assert_one_line_error(code, capsys.readouterr(), "cannot prepare 'imagenet2012'", "tfds build")
    code = cli.main(["prepare", "--data_dir", str(tmp_path)])
    assert_one_line_error(code, capsys.readouterr(), "missing data set name", "fashion_mnist")


def test_training_on_unprepared_fashion_mnist_names_the_command(tmp_path):
    with pytest.raises(data.DatasetNotPreparedError) as err:
        data.open_source("fashion_mnist", "train", tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert f"mixer-vit prepare fashion_mnist --data_dir {tmp_path}" in message


def test_prepare_sklearn_digits(tmp_path, capsys):
    code = cli.main(["prepare", "sklearn_digits", "--data_dir", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "prepared from scikit-learn" in captured.out
    assert "train 1258, validation 180, test 359" in captured.out
    code = cli.main(["prepare", "sklearn_digits", "--data_dir", str(tmp_path)])
    assert code == 0 and "already prepared" in capsys.readouterr().out
    code = cli.main(["prepare", "sklearn_digits", "--source", "x", "--data_dir", str(tmp_path)])
    assert_one_line_error(code, capsys.readouterr(), "sklearn_digits needs no --source")
