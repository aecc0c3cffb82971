"""The pool of one loop: its candidate examples, their labels (read for the class-balanced
seed set only) and their images preprocessed for scoring."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mixer_vit.data.pipeline import read_examples


class PoolData:
    """candidates: sorted int64 [M] indices into the pool split; labels: int64 [M]; the
    raw examples of the candidates are kept and preprocessed once, on first use.

    Only pool-split examples are ever read here: scoring and selection see nothing of the
    validation or test splits.
    """

    def __init__(self, source: Sequence[dict], candidates: np.ndarray):
        self.candidates = np.asarray(candidates, dtype=np.int64)
        self._examples = read_examples(source, self.candidates)
        self.labels = np.asarray([int(ex["label"]) for ex in self._examples], dtype=np.int64)
        self._images: np.ndarray | None = None

    def rows(self, indices: np.ndarray) -> np.ndarray:
        """Positions in ``candidates`` of pool indices ``indices`` (all must be candidates)."""
        rows = np.searchsorted(self.candidates, indices)
        if not np.array_equal(self.candidates[np.minimum(rows, len(self.candidates) - 1)],
                              indices):
            raise AssertionError("an index outside the pool candidates")
        return rows

    def images(self, preprocess: Callable[[dict], dict]) -> np.ndarray:
        """float32 [M, H, W, C]: every candidate through ``preprocess`` (the trained run's
        eval preprocessing, the same in every round), computed once."""
        if self._images is None:
            self._images = np.stack(
                [np.asarray(preprocess(ex)["image"], dtype=np.float32) for ex in self._examples]
            )
        return self._images
