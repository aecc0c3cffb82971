"""Seeded, stratified partition of a labelled data set into named splits.

Pure numpy, no I/O: the dataset builders call it to carve fixed splits.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def stratified_split(
    labels: np.ndarray,
    fractions: Mapping[str, float],
    *,
    rest: str,
    seed: int,
) -> dict[str, np.ndarray]:
    """Partitions example indices into splits with the class mix of the whole.

    Each split named in ``fractions`` gets exactly ``round(fraction * N)``
    examples, taken in the order given; the split ``rest`` gets what is left.
    Stratification: within each class the examples get a random rank ``r`` and
    the key ``(r + 0.5) / class_size``; all examples sorted by key (ties broken
    at random) interleave the classes in proportion, so every contiguous run of
    that order -- and hence every split -- holds each class within one example
    of its proportional share.

    Args:
      labels: int array ``[N]``, the class of each example.
      fractions: split name -> fraction of all N examples (sum below 1).
      rest: name of the split that receives the remaining examples.
      seed: seed of ``np.random.default_rng``; same seed, same partition.

    Returns:
      split name -> sorted int64 indices into ``labels``; the splits are
      disjoint and together cover ``range(N)`` exactly once.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if rest in fractions:
        raise ValueError(f"split {rest!r} is both in fractions and rest")
    if sum(fractions.values()) >= 1 or min(fractions.values(), default=0) < 0:
        raise ValueError(f"fractions must be >= 0 and sum below 1: {dict(fractions)}")
    num = labels.shape[0]
    rng = np.random.default_rng(seed)
    keys = np.empty(num, dtype=np.float64)
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        ranks = rng.permutation(members.size)
        keys[members] = (ranks + 0.5) / members.size
    tie_break = rng.random(num)
    order = np.lexsort((tie_break, keys))

    splits: dict[str, np.ndarray] = {}
    start = 0
    for name, fraction in fractions.items():
        count = int(round(fraction * num))
        splits[name] = np.sort(order[start : start + count])
        start += count
    splits[rest] = np.sort(order[start:])
    return splits
