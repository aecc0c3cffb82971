"""TFDS builder ``sklearn_digits``: scikit-learn's bundled 8x8 digits, offline.

The UCI optical-recognition digits ship inside the scikit-learn wheel
(``sklearn.datasets.load_digits``): 1797 grey images of 8x8 pixels with values
0..16 and 10 classes. This builder needs no download and no TensorFlow; it
writes ``array_record`` files that ``tfds.data_source`` reads as numpy.

Features of one example:
  image: uint8 ``[8, 8, 1]``, the 0..16 values rescaled to 0..255 as
    ``round(v * 255 / 16)`` (round half to even: 8 -> 128, 16 -> 255).
  label: int64 scalar, ``ClassLabel(num_classes=10)`` (the digit 0..9).

Splits (fixed, stratified by class, ``numpy.random.default_rng(0)``; see
``stratified_split``):
  test:        359 examples (round(20% of 1797))
  validation:  180 examples (round(10% of 1797), carved from the non-test part)
  train:      1258 examples (the rest)
Each class is within two examples of its proportional share in every split.

Build it by hand with
``tfds build --imports mixer_vit.data.digits_builder sklearn_digits``, or let
``mixer_vit.data.ensure_prepared("sklearn_digits", data_dir)`` do it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import PIL.Image
import tensorflow_datasets as tfds

from mixer_vit.data.stratified_split import stratified_split

NUM_CLASSES = 10
IMAGE_SHAPE = (8, 8, 1)
SPLIT_SEED = 0
SPLIT_FRACTIONS = {"test": 0.2, "validation": 0.1}  # of all examples; rest: train
SPLIT_SIZES = {"train": 1258, "validation": 180, "test": 359}


def load_digits_uint8() -> tuple[np.ndarray, np.ndarray]:
    """Loads scikit-learn's digits, rescaled to uint8.

    Returns:
      images: uint8 ``[1797, 8, 8, 1]`` in 0..255.
      labels: int64 ``[1797]`` in 0..9.
    """
    from sklearn.datasets import load_digits  # sklearn is slow to import

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)
    return images[..., None], digits.target.astype(np.int64)


class SklearnDigits(tfds.core.GeneratorBasedBuilder):
    """scikit-learn digits (8x8, 10 classes) with fixed train/validation/test."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release: stratified 1258/180/359 split, seed 0."}

    def __init__(self, **kwargs: Any):
        # array_record is readable (random access) without TensorFlow.
        kwargs.setdefault("file_format", "array_record")
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        # DatasetInfo is built directly: `dataset_info_from_configs` would look
        # for metadata files (README, CITATIONS.bib) beside this module.
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "scikit-learn's copy of the UCI optical recognition of "
                "handwritten digits test set: 1797 8x8 images, 10 classes."
            ),
            features=tfds.features.FeaturesDict(
                {
                    # Image features encode numpy arrays with tf.image.encode_png
                    # (TensorFlow), but they take PIL images as they are and
                    # decode with PIL/OpenCV: so we hand over PIL images.
                    "image": tfds.features.Image(shape=IMAGE_SHAPE, encoding_format="png"),
                    "label": tfds.features.ClassLabel(num_classes=NUM_CLASSES),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://scikit-learn.org/stable/datasets/toy_dataset.html#digits-dataset",
            citation=(
                "@misc{alpaydin1998optical, author={Alpaydin, E. and Kaynak, C.}, "
                "title={Optical Recognition of Handwritten Digits}, year={1998}, "
                "howpublished={UCI Machine Learning Repository}, "
                "doi={10.24432/C50P49}}"
            ),
        )

    def _split_generators(self, dl_manager: Any) -> dict[str, Iterator]:
        del dl_manager  # Nothing to download: the data ship with scikit-learn.
        images, labels = load_digits_uint8()
        parts = stratified_split(labels, SPLIT_FRACTIONS, rest="train", seed=SPLIT_SEED)
        return {
            name: self._generate_examples(images, labels, indices)
            for name, indices in parts.items()
        }

    def _generate_examples(
        self, images: np.ndarray, labels: np.ndarray, indices: np.ndarray
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """Yields ``(sklearn index, example)`` for the given indices."""
        for index in indices:
            pixels = images[index]
            assert pixels.shape == IMAGE_SHAPE and pixels.dtype == np.uint8
            yield (
                int(index),
                {
                    "image": PIL.Image.fromarray(pixels[:, :, 0]),
                    "label": int(labels[index]),
                },
            )
