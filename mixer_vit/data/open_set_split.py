"""The open-set split: train on the known classes, hold ``data.unknown_classes`` out.

With ``data.unknown_classes = (c1, c2, ...)`` (class ids of the data set, default ``()``:
off) a run sees K' = K - len(unknown_classes) classes: the known classes keep their order
and are renumbered 0..K'-1 (``class_map``), the model gets K' outputs, the training split
keeps only known-class examples, and every split the run evaluates during training
(validation each epoch, test at the end) is its known-class examples, so the usual
metrics keep their meaning. The held-out classes' images of the validation and test
splits come back, labelled -1 ("unknown"), only for the open-set evaluation at the end
(train/open_set_report.py).

Which example belongs to which class is read once per split from its stored labels,
without decoding the images (``read_split_labels``). The examples are served by
``RelabelledSubset``: the index-subset idea of data/index_subset.py with each label passed
through the class map (so with ``data.skip_corrupt`` an unreadable example's stand-in
keeps its own class: a held-out one becomes -1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

from mixer_vit.data.index_subset import IndexSubset
from mixer_vit.data.sources import count_examples, ensure_prepared
from mixer_vit.errors import UserError

UNKNOWN = -1  # the label of a held-out class's example after the class map


def check_unknown_classes(unknown: Any, num_classes: int) -> tuple[int, ...]:
    """``data.unknown_classes`` as a tuple of ints, checked against a data set of
    ``num_classes`` classes.

    Raises:
      UserError: not a tuple/list of integers, a repeated id, an id outside
        ``[0, num_classes)``, or every class held out (nothing left to train on).
    """
    fix = (
        f"give distinct class ids in 0..{num_classes - 1}, "
        f"e.g. --config.data.unknown_classes='(4, 6)'"
    )
    if unknown is None:
        return ()
    if not isinstance(unknown, (tuple, list)) or not all(
        isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in unknown
    ):
        raise UserError(
            f"data.unknown_classes must be a tuple of class ids, got {unknown!r}; {fix}"
        )
    ids = tuple(int(c) for c in unknown)
    if len(set(ids)) != len(ids):
        raise UserError(f"data.unknown_classes {ids} repeats a class; {fix}")
    outside = [c for c in ids if not 0 <= c < num_classes]
    if outside:
        raise UserError(
            f"data.unknown_classes names class {outside[0]}, but the data set has "
            f"{num_classes} classes; {fix}"
        )
    if len(ids) >= num_classes:
        raise UserError(
            f"data.unknown_classes {ids} holds out all {num_classes} classes, leaving none "
            f"to train on; keep at least one class known"
        )
    return ids


def class_map(num_classes: int, unknown: Sequence[int]) -> np.ndarray:
    """int64 ``[num_classes]``: the new label of each original class; the known classes
    get 0..K'-1 in their original order, the held-out ones ``UNKNOWN`` (-1)."""
    mapping = np.full(num_classes, UNKNOWN, dtype=np.int64)
    known = np.setdiff1d(np.arange(num_classes), np.asarray(unknown, dtype=np.int64))
    mapping[known] = np.arange(known.size)
    return mapping


def split_by_class(
    labels: np.ndarray, mapping: np.ndarray, within: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """labels: int ``[N]``, the original labels of a split; mapping: ``class_map``;
    within: optional int ``[n]`` indices into the split to consider (in that order).

    Returns (known_indices int64 ``[n_known]``, their new labels int64 ``[n_known]``,
    unknown_indices int64 ``[n_unknown]``), indices into the split in the order of
    ``within`` (default: ascending)."""
    labels = np.asarray(labels, dtype=np.int64)
    candidates = np.arange(labels.size) if within is None else np.asarray(within, np.int64)
    new = mapping[labels[candidates]]
    known = new != UNKNOWN
    return candidates[known], new[known], candidates[~known]


def known_class_names(names: Sequence[str], unknown: Sequence[int]) -> list[str]:
    """The names of the known classes in their new order (``names``: one per original
    class)."""
    mapping = class_map(len(names), unknown)
    return [name for name, new in zip(names, mapping) if new != UNKNOWN]


class RelabelledSubset(IndexSubset):
    """``source[indices[i]]`` with its ``label`` replaced by ``mapping[label]``."""

    def __init__(self, source: Sequence[Any], indices: Sequence[int], mapping: np.ndarray):
        super().__init__(source, indices)
        self.mapping = np.asarray(mapping, dtype=np.int64)

    def _relabel(self, example: Any) -> dict[str, Any]:
        return {**example, "label": self.mapping[int(example["label"])]}

    def __getitem__(self, i: int) -> Any:
        return self._relabel(super().__getitem__(i))

    def __getitems__(self, positions: Sequence[int]) -> list[Any]:
        return [self._relabel(example) for example in super().__getitems__(positions)]


def read_split_labels(name: str, split: str, data_dir: str) -> np.ndarray:
    """int64 ``[N]``: the stored label of every example of ``split`` (a split name or
    expression), read without decoding the images (a second or so for 60,000)."""
    count_examples(name, split, data_dir)  # a bad split fails here with a UserError
    builder = ensure_prepared(name, data_dir)
    skip = {"image": tfds.decode.SkipDecoding()}
    source = builder.as_data_source(split=split, decoders=skip)
    examples = source.__getitems__(list(range(len(source))))
    return np.asarray([int(example["label"]) for example in examples], dtype=np.int64)


class OpenSetSplit:
    """The known/unknown partition of every split a run reads.

    unknown: the held-out class ids; num_classes: K of the data set; labels_of: split ->
    its original labels int ``[N]`` (``read_split_labels``), called once per split."""

    def __init__(
        self,
        unknown: Sequence[int],
        num_classes: int,
        labels_of: Callable[[str], np.ndarray],
    ):
        self.unknown = tuple(int(c) for c in unknown)
        self.num_classes = int(num_classes)
        self.mapping = class_map(num_classes, unknown)
        self.num_known = int((self.mapping != UNKNOWN).sum())
        self._labels_of = labels_of
        self._labels: dict[str, np.ndarray] = {}

    def parts(self, split: str, within: np.ndarray | None = None):
        """``split_by_class`` of ``split``'s labels (see there)."""
        if split not in self._labels:
            self._labels[split] = self._labels_of(split)
        return split_by_class(self._labels[split], self.mapping, within)

    def known(self, source: Sequence[Any], split: str, within=None) -> RelabelledSubset:
        """The known-class examples of ``source`` (the opened ``split``), labels 0..K'-1."""
        return RelabelledSubset(source, self.parts(split, within)[0], self.mapping)

    def unknown_examples(self, source: Sequence[Any], split: str) -> RelabelledSubset:
        """The held-out classes' examples of ``source`` (the opened ``split``), label -1."""
        return RelabelledSubset(source, self.parts(split)[2], self.mapping)

    def class_names(self, names: Sequence[str]) -> list[str]:
        return known_class_names(names, self.unknown)


def open_set_split(
    unknown: Any, name: str, data_dir: str, num_classes: int
) -> OpenSetSplit | None:
    """The ``OpenSetSplit`` of ``data.unknown_classes`` (checked; a ``UserError`` names a
    bad value) for data set ``name``; None when no class is held out."""
    ids = check_unknown_classes(unknown, num_classes)
    if not ids:
        return None
    return OpenSetSplit(ids, num_classes, lambda split: read_split_labels(name, split, data_dir))
