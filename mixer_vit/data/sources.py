"""Random-access TFDS data sources by name, never touching the network.

``open_source(name, split, data_dir)`` serves any TFDS dataset that is already
prepared in ``data_dir`` in a random-access format (array_record or parquet),
registered builder or not. The embedded data sets (``sklearn_digits``) are
built there on first use, offline. Anything else that is not prepared fails at
once with ``DatasetNotPreparedError``: nothing downloads at run time.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, NamedTuple

import tensorflow_datasets as tfds

from mixer_vit.data.digits_builder import SklearnDigits
from mixer_vit.data.skip_corrupt import SkipCorrupt
from mixer_vit.errors import UserError

# Data sets whose data ship with an installed package: built offline on demand.
EMBEDDED_BUILDERS = {"sklearn_digits": SklearnDigits}

_RANDOM_ACCESS_FORMATS = ("array_record", "parquet")

# Data sets that `mixer-vit prepare NAME` builds offline from local files.
PREPARED_BY_COMMAND = ("fashion_mnist",)


class DatasetNotPreparedError(UserError):
    """The dataset has no random-access files in the data dir."""


class DataInfo(NamedTuple):
    """What a trainer needs to size a model for a dataset."""

    num_classes: int
    image_shape: tuple[int | None, int | None, int]  # (H, W, C); None: varies per image
    split_sizes: dict[str, int]


def default_data_dir() -> str:
    """``$TFDS_DATA_DIR`` if set, else ``~/tensorflow_datasets`` (TFDS convention)."""
    return os.environ.get("TFDS_DATA_DIR") or os.path.expanduser("~/tensorflow_datasets")


def _base_name(name: str) -> str:
    """``"ds/config:1.0.0"`` -> ``"ds"``."""
    return name.split(":")[0].split("/")[0]


def _not_prepared(name: str, data_dir: str, why: str) -> DatasetNotPreparedError:
    if _base_name(name) in PREPARED_BY_COMMAND:
        return DatasetNotPreparedError(
            f"Dataset {name!r} is not prepared in {data_dir} ({why}): run "
            f"`mixer-vit prepare {_base_name(name)} --data_dir {data_dir}` "
            "or point --config.data.data_dir at a directory that has it."
        )
    return DatasetNotPreparedError(
        f"Dataset {name!r} is not prepared in {data_dir} ({why}): run "
        f"`tfds build {_base_name(name)} --data_dir {data_dir} --file_format array_record` "
        "or point --config.data.data_dir at a directory that has it."
    )


def ensure_prepared(
    name: str, data_dir: str | os.PathLike | None = None
) -> tfds.core.DatasetBuilder:
    """Returns the builder of a dataset prepared in ``data_dir``.

    Embedded datasets (``EMBEDDED_BUILDERS``) are built into ``data_dir`` on
    first use (offline, about a second). Any other dataset must already be
    there in a random-access file format.

    Raises:
      DatasetNotPreparedError: ``name`` is not embedded and not prepared
        (or prepared only as TFRecord) in ``data_dir``; raised at once.
    """
    data_dir = os.fspath(data_dir) if data_dir is not None else default_data_dir()
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise _not_prepared(name, data_dir, "no files and no registered builder") from None
    if not builder.is_prepared():
        if _base_name(name) not in EMBEDDED_BUILDERS:
            raise _not_prepared(name, data_dir, f"nothing at {builder.data_dir}")
        builder.download_and_prepare()
    file_format = builder.info.file_format
    if file_format is None or file_format.value not in _RANDOM_ACCESS_FORMATS:
        raise _not_prepared(name, data_dir, f"stored as {file_format}, not random access")
    return builder


SPLIT_FORMS = "'train', 'train[:90%]', 'train[54000:]', 'train[-10%:]', 'train+validation'"


def split_size(builder: tfds.core.DatasetBuilder, split: str) -> int:
    """Number of examples of ``split``: a split name or a TFDS split expression.

    Expressions slice and join splits: ``"train[:90%]"`` (first 90%), ``"train[54000:]"``
    (from example 54000 on), ``"train[-10%:]"`` (last 10%), ``"train+validation"`` (both,
    in that order). Every split source here (TFDS, the embedded digits, imported image
    folders) is a TFDS builder, so the same grammar holds for all of them.

    Raises:
      UserError: a split that does not exist, a malformed expression, or an empty result;
        the message lists the available splits and the accepted forms.
    """
    available = sorted(builder.info.splits.keys())
    for part in str(split).split("+"):
        base = part.split("[")[0].strip()
        if base not in available:
            raise UserError(
                f"unknown split {base!r} for data set {builder.info.full_name}; available "
                f"splits: {', '.join(available)} (slices like {SPLIT_FORMS} work too)"
            )
    try:
        size = int(builder.info.splits[split].num_examples)
    except (ValueError, KeyError, AssertionError) as error:
        reason = str(error).strip().splitlines()[-1]
        raise UserError(
            f"cannot read the split string {split!r} ({reason}); write it like {SPLIT_FORMS}"
        ) from None
    if size == 0:
        raise UserError(f"split {split!r} of {builder.info.full_name} selects no examples")
    return size


def open_source(
    name: str,
    split: str,
    data_dir: str | os.PathLike | None = None,
    *,
    in_memory: bool = False,
    skip_corrupt: bool = False,
) -> Sequence[dict[str, Any]]:
    """Opens one split of a prepared dataset as a random-access source.

    Args:
      name: TFDS name, optionally with config/version (``"ds/cfg:1.0.0"``).
      split: split name or TFDS split expression (``"train[:10%]"``, see
        ``split_size``).
      data_dir: TFDS data dir; ``default_data_dir()`` when None.
      in_memory: decode the whole split once and return it as a list, so
        epochs cost no decoding (for small splits: digits, CIFAR).
      skip_corrupt: an example that fails to read/decode is logged (warning) and
        replaced by the next readable one (see ``SkipCorrupt``), so a long run
        never stops on one bad image.

    Returns:
      A TFDS data source (or a list when ``in_memory``): ``len(src)``
      examples, ``src[i]`` a dict of numpy values (e.g. ``{"image": uint8
      [H, W, C], "label": int64 []}``).

    Raises:
      DatasetNotPreparedError: see ``ensure_prepared``.
      UserError: unknown split or malformed split expression (see ``split_size``).
    """
    builder = ensure_prepared(name, data_dir)
    split_size(builder, split)
    source = builder.as_data_source(split=split)
    if skip_corrupt:
        source = SkipCorrupt(source, f"{name}[{split}]")
    if in_memory:
        return list(source.__getitems__(range(len(source))))
    return source


def data_info(name: str, data_dir: str | os.PathLike | None = None) -> DataInfo:
    """Reads ``(num_classes, (H, W, C), {split: size})`` from the builder info.

    Prepares an embedded dataset if needed. Expects ``image`` and ``label``
    features (a ``ClassLabel``).
    """
    info = ensure_prepared(name, data_dir).info
    features = info.features
    return DataInfo(
        num_classes=int(features["label"].num_classes),
        image_shape=tuple(None if d is None else int(d) for d in features["image"].shape),
        split_sizes={split: int(info.splits[split].num_examples) for split in info.splits.keys()},
    )


def count_examples(name: str, split: str, data_dir: str | os.PathLike | None = None) -> int:
    """Examples in ``split`` (name or split expression) of a prepared data set; raises
    ``UserError`` as ``split_size`` does."""
    return split_size(ensure_prepared(name, data_dir), split)
