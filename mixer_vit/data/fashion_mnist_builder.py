"""TFDS ``fashion_mnist`` built offline from the four original IDX ``.gz`` files.

Fashion-MNIST (Xiao et al. 2017): 70,000 grey 28x28 images of Zalando articles in 10
classes. The files install with ``apt-get install dataset-fashion-mnist`` into
``/usr/share/datasets/fashion-mnist/`` (Debian/Ubuntu); anywhere else, download the four
files or run ``tfds build fashion_mnist``.

The builder is the tensorflow-datasets catalogue's ``fashion_mnist`` (same name, version,
features, split names and example keys) with the download and the TensorFlow-based
reading replaced by ``idx_files``; it writes ``array_record`` files, so a data dir prepared
here and one prepared by ``tfds build fashion_mnist`` are read the same way by
``tfds.data_source`` and ``mixer_vit.data.open_source``.

Features of one example (the catalogue's):
  image: uint8 ``[28, 28, 1]`` (PNG-encoded in the files).
  label: int64 scalar, ``ClassLabel`` with names T-shirt/top, Trouser, Pullover, Dress,
    Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot.

Splits: train 60,000 (``train-*`` files), test 10,000 (``t10k-*`` files); no validation
split (carve one with a split string such as ``train[:90%]`` / ``train[90%:]``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import PIL.Image
import tensorflow_datasets as tfds
from tensorflow_datasets.image_classification import mnist as catalogue_mnist

from mixer_vit.data.idx_files import IdxFileError, read_idx_images, read_idx_labels
from mixer_vit.errors import UserError

DEBIAN_SOURCE_DIR = "/usr/share/datasets/fashion-mnist"
SOURCE_DIR_ENV = "FASHION_MNIST_DIR"
IDX_FILES = {  # split -> (images file, labels file)
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
IMAGE_SIZE = 28
NUM_CLASSES = 10
INSTALL_HINT = (
    "install the Fashion-MNIST files with `apt-get install dataset-fashion-mnist`, or point "
    f"--source (or ${SOURCE_DIR_ENV}) at a directory holding the four IDX .gz files"
)


def _holds_all_files(directory: str) -> bool:
    names = [name for pair in IDX_FILES.values() for name in pair]
    return all(os.path.isfile(os.path.join(directory, name)) for name in names)


def default_source_dir() -> str:
    """Where the IDX files are looked for without ``--source``: the Debian package's
    directory, then ``$FASHION_MNIST_DIR``; the first that holds all four files. When
    none does: ``$FASHION_MNIST_DIR`` if set (so errors name the files there), else the
    Debian directory."""
    from_env = os.environ.get(SOURCE_DIR_ENV)
    candidates = [DEBIAN_SOURCE_DIR] + ([from_env] if from_env else [])
    for directory in candidates:
        if _holds_all_files(directory):
            return directory
    return candidates[-1]


def load_fashion_mnist(source_dir: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Reads and checks the four IDX files in ``source_dir``.

    Returns:
      ``{"train": (images, labels), "test": (images, labels)}``; images uint8
      ``[N, 28, 28]``, labels uint8 ``[N]`` in 0..9, N as the files hold it.

    Raises:
      UserError: a file is missing, truncated or malformed, an image file's images are
        not 28x28, a label is out of range, or an image and a label file disagree on
        the number of examples. One line, naming the file and how to get good ones.
    """
    splits = {}
    for split, (images_name, labels_name) in IDX_FILES.items():
        images_path = os.path.join(source_dir, images_name)
        labels_path = os.path.join(source_dir, labels_name)
        try:
            images = read_idx_images(images_path)
            labels = read_idx_labels(labels_path)
        except IdxFileError as e:
            raise UserError(f"{e}; {INSTALL_HINT}") from None
        if images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise UserError(
                f"{images_path} holds {images.shape[1]}x{images.shape[2]} images, "
                f"Fashion-MNIST's are {IMAGE_SIZE}x{IMAGE_SIZE}; {INSTALL_HINT}"
            )
        if len(images) != len(labels):
            raise UserError(
                f"{images_path} holds {len(images)} images but {labels_path} holds "
                f"{len(labels)} labels; {INSTALL_HINT}"
            )
        if len(labels) and labels.max() >= NUM_CLASSES:
            raise UserError(
                f"{labels_path} holds label {labels.max()}, Fashion-MNIST's are "
                f"0..{NUM_CLASSES - 1}; {INSTALL_HINT}"
            )
        splits[split] = (images, labels)
    return splits


class FashionMnistFromIdx(catalogue_mnist.FashionMNIST, skip_registration=True):
    """The catalogue's ``fashion_mnist`` (name, version, info) filled from IDX arrays.

    Not registered: ``tfds.builder("fashion_mnist")`` stays the catalogue's class, and it
    reads what this one wrote.
    """

    name = "fashion_mnist"

    def __init__(
        self, *, splits: dict[str, tuple[np.ndarray, np.ndarray]] | None = None, **kwargs: Any
    ):
        """``splits``: ``load_fashion_mnist``'s arrays; only needed to build."""
        # array_record is readable (random access) without TensorFlow.
        kwargs.setdefault("file_format", "array_record")
        self._idx_splits = splits
        super().__init__(**kwargs)

    def _split_generators(self, dl_manager: Any) -> dict[str, Iterator]:
        del dl_manager  # Nothing to download: the arrays were read from local files.
        if self._idx_splits is None:
            raise UserError(
                "fashion_mnist is not prepared; run `mixer-vit prepare fashion_mnist`"
            )
        return {
            split: self._generate_examples(images, labels)
            for split, (images, labels) in self._idx_splits.items()
        }

    def _generate_examples(  # pylint: disable=arguments-differ
        self, images: np.ndarray, labels: np.ndarray
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """Yields ``(index in the file, example)``: the catalogue's keys, so the stored
        order (TFDS shuffles by key) is the catalogue's too."""
        for index, (pixels, label) in enumerate(zip(images, labels)):
            # The Image feature encodes numpy arrays with TensorFlow; a PIL image it
            # encodes with PIL.
            yield index, {"image": PIL.Image.fromarray(pixels), "label": int(label)}


def prepare_fashion_mnist(
    data_dir: str | os.PathLike, source_dir: str | os.PathLike | None = None
) -> tuple[tfds.core.DatasetBuilder, str | None]:
    """Writes ``data_dir/fashion_mnist/<catalogue version>/`` from the IDX files.

    Args:
      data_dir: the TFDS data dir.
      source_dir: directory of the four IDX ``.gz`` files; ``default_source_dir()`` when
        None.

    Returns:
      ``(builder, source_dir)``: the prepared builder and the directory read, None when
      the data set was already prepared (nothing is read or overwritten then).

    Raises:
      UserError: bad or missing files (see ``load_fashion_mnist``), or a data set already
        in ``data_dir`` in a format without random access (TFRecord).
    """
    data_dir = os.fspath(data_dir)
    # The catalogue's builder: it reads the format from what is on disk.
    builder = tfds.builder(FashionMnistFromIdx.name, data_dir=data_dir)
    if builder.is_prepared():
        stored_format = builder.info.file_format
        if stored_format is None or stored_format.value not in ("array_record", "parquet"):
            raise UserError(
                f"fashion_mnist in {builder.data_dir} is stored as {stored_format}, without "
                "random access; remove that directory or choose another --data_dir"
            )
        return builder, None
    source_dir = os.fspath(source_dir) if source_dir is not None else default_source_dir()
    splits = load_fashion_mnist(source_dir)
    builder = FashionMnistFromIdx(data_dir=data_dir, splits=splits)
    builder.download_and_prepare()
    return builder, source_dir
