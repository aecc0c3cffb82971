"""A source wrapper that survives examples which fail to read or decode (corrupt images)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)


class SkipCorrupt(Sequence):
    """``source`` where a failing ``source[i]`` becomes the next readable example.

    A failed read of index ``i`` logs a warning naming the dataset and index, then tries
    ``i + 1, i + 2, ...`` (wrapping around), so the substitute is a pure function of ``i``
    and resumed runs read the same batches. After ``max_tries`` failures in a row it raises.

    Args:
      source: random-access examples (``len``, ``[int]``, optionally ``__getitems__``).
      name: dataset name for the warnings, e.g. ``"imagenet2012[train]"``.
      max_tries: consecutive unreadable examples tolerated per read.
    """

    def __init__(self, source: Sequence[Any], name: str, max_tries: int = 100):
        self._source = source
        self._name = name
        self._max_tries = max_tries

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, index: int) -> Any:  # type: ignore[override]
        n = len(self._source)
        index = int(index)
        last_error: Exception | None = None
        for offset in range(min(self._max_tries, n)):
            i = (index + offset) % n
            try:
                return self._source[i]
            except Exception as e:  # noqa: BLE001 - any failure of one example
                log.warning("%s: skipping unreadable example %d (%s)", self._name, i, e)
                last_error = e
        raise RuntimeError(
            f"{self._name}: {self._max_tries} unreadable examples in a row from index {index}"
        ) from last_error

    def __getitems__(self, indices: Sequence[int]) -> list[Any]:
        """Batched read when every example is fine; one at a time otherwise."""
        getitems = getattr(self._source, "__getitems__", None)
        if getitems is not None:
            try:
                return list(getitems([int(i) for i in indices]))
            except Exception:  # noqa: BLE001 - find the bad one(s) below
                pass
        return [self[i] for i in indices]
