"""Training on chosen examples of a split: an index list read from a file, and a source
that serves only those examples.

``data.train_indices_file`` (a JSON list of example indices into ``data.train_split``)
makes a run train on that subset alone, e.g. the labelled set of an active-learning round
(mixer_vit/active/). The indices are checked when the run is planned: a file that is
missing, not a list of integers, repeats an index or names one outside the split is a
one-line ``UserError``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from mixer_vit.errors import UserError


class IndexSubset:
    """The examples ``source[indices[0]], source[indices[1]], ...`` as a random-access
    source: ``len(subset) == len(indices)``, ``subset[i] == source[indices[i]]``."""

    def __init__(self, source: Sequence[Any], indices: Sequence[int]):
        self._source = source
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, i: int) -> Any:
        return self._source[int(self.indices[i])]

    def __getitems__(self, positions: Sequence[int]) -> list[Any]:
        wanted = [int(self.indices[i]) for i in positions]
        getitems = getattr(self._source, "__getitems__", None)
        if getitems is not None:
            return list(getitems(wanted))
        return [self._source[i] for i in wanted]


def write_index_file(path: str, indices: Sequence[int]) -> str:
    """Writes ``indices`` (ints) as the JSON list ``read_index_file`` reads; returns path."""
    with open(path, "w") as f:
        json.dump([int(i) for i in indices], f)
    return path


def read_index_file(path: str, split_size: int, split: str = "the train split") -> np.ndarray:
    """The int64 indices ``[n]`` of the JSON list in ``path``, checked against a split of
    ``split_size`` examples.

    Raises:
      UserError: no such file, not a non-empty JSON list of integers, a repeated index, or
        an index outside ``[0, split_size)``.
    """
    fix = "write a JSON list of distinct example indices, e.g. [0, 5, 17]"
    if not os.path.isfile(path):
        raise UserError(f"data.train_indices_file {path}: no such file; {fix}")
    try:
        with open(path) as f:
            values = json.load(f)
    except (OSError, ValueError) as error:
        raise UserError(f"data.train_indices_file {path} is not JSON ({error}); {fix}") from None
    if (
        not isinstance(values, list)
        or not values
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    ):
        raise UserError(
            f"data.train_indices_file {path} does not hold a non-empty list of integers; {fix}"
        )
    indices = np.asarray(values, dtype=np.int64)
    if np.unique(indices).size != indices.size:
        raise UserError(f"data.train_indices_file {path} repeats an index; {fix}")
    outside = indices[(indices < 0) | (indices >= split_size)]
    if outside.size:
        raise UserError(
            f"data.train_indices_file {path} names example {int(outside[0])}, outside "
            f"{split} ({split_size} examples); use indices 0..{split_size - 1}"
        )
    return indices
