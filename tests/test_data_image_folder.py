"""Image folder -> TFDS array_record import (no TensorFlow), its errors and CLI."""

from __future__ import annotations

import logging

import numpy as np
import PIL.Image
import pytest
from test_data_helpers import write_image_folder

from mixer_vit import cli
from mixer_vit.data import data_info, open_source
from mixer_vit.data.image_folder import build_image_folder
from mixer_vit.errors import UserError


def test_import_reads_back_sorted_classes_and_skips_corrupt_files(tmp_path, caplog):
    folder = write_image_folder(tmp_path / "f", {"train": 3, "test": 2}, ["zebra", "ant"])
    (folder / "train" / "ant" / "broken.jpg").write_bytes(b"not a jpeg")
    PIL.Image.new("L", (32, 32), 7).save(folder / "train" / "zebra" / "grey.png")
    (folder / "train" / "ant" / "notes.txt").write_text("ignored")
    with caplog.at_level(logging.WARNING):
        summary = build_image_folder(folder, "tiny_zoo", tmp_path / "data")
    assert "broken.jpg" in caplog.text
    assert summary.class_names == ["ant", "zebra"]
    assert summary.split_sizes == {"train": 7, "test": 4}
    assert [s.endswith("broken.jpg") for s in summary.skipped] == [True]

    info = data_info("tiny_zoo", tmp_path / "data")
    assert info == (2, (32, 32, 3), {"train": 7, "test": 4})
    source = open_source("tiny_zoo", "train", tmp_path / "data")
    examples = [source[i] for i in range(len(source))]
    assert all(ex["image"].shape == (32, 32, 3) for ex in examples)
    assert all(ex["image"].dtype == np.uint8 for ex in examples)
    labels = sorted(int(ex["label"]) for ex in examples)
    assert labels == [0, 0, 0, 1, 1, 1, 1]  # 3 ant, 3 zebra + grey zebra
    grey = [ex for ex in examples if (ex["image"] == 7).all()]
    assert len(grey) == 1 and int(grey[0]["label"]) == 1
    # PNG stores pixels exactly: the first train ant image reads back byte for byte.
    original = np.asarray(PIL.Image.open(folder / "train" / "ant" / "0.png"))
    assert any((ex["image"] == original).all() for ex in examples)


def test_mixed_sizes_give_variable_shape(tmp_path):
    folder = write_image_folder(tmp_path / "f", {"train": 1}, ["a"], size=(20, 30), fmt="jpg")
    write_image_folder(tmp_path / "f", {"train": 1}, ["b"], size=(24, 16), fmt="jpeg")
    build_image_folder(folder, "mixed", tmp_path / "data")
    assert data_info("mixed", tmp_path / "data").image_shape == (None, None, 3)
    shapes = {open_source("mixed", "train", tmp_path / "data")[i]["image"].shape for i in (0, 1)}
    assert shapes == {(20, 30, 3), (24, 16, 3)}


def test_user_errors_are_one_line(tmp_path):
    (tmp_path / "empty" / "train" / "cls").mkdir(parents=True)
    with pytest.raises(UserError, match=r"no images found in .*empty; expected layout"):
        build_image_folder(tmp_path / "empty", "nothing", tmp_path / "data")
    with pytest.raises(UserError, match="does not exist"):
        build_image_folder(tmp_path / "missing", "nothing", tmp_path / "data")
    folder = write_image_folder(tmp_path / "f", {"train": 1}, ["a"])
    with pytest.raises(UserError, match="lower_snake_case"):
        build_image_folder(folder, "Bad-Name", tmp_path / "data")
    with pytest.raises(UserError, match="TFDS catalogue name"):
        build_image_folder(folder, "cifar10", tmp_path / "data")
    build_image_folder(folder, "once", tmp_path / "data")
    marker = next((tmp_path / "data" / "once").rglob("dataset_info.json")).read_text()
    with pytest.raises(UserError, match="already exists"):
        build_image_folder(folder, "once", tmp_path / "data")
    assert next((tmp_path / "data" / "once").rglob("dataset_info.json")).read_text() == marker


def test_cli_import_folder(tmp_path, capsys):
    folder = write_image_folder(tmp_path / "f", {"train": 2, "val": 1}, ["x", "y"])
    argv = ["import-folder", f"--folder={folder}", "--name=cli_set", f"--data_dir={tmp_path}"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "train: 4" in out and "val: 2" in out and "2 classes: x, y" in out
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: dataset 'cli_set' already exists") and "\n" not in err
    assert cli.main(["import-folder", "--name=z"]) == 2
    assert "missing --folder" in capsys.readouterr().err
