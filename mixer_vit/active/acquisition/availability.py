"""Which pool points may still be picked: not picked yet and, under the class-balanced
option, predicted to be of a class whose quota is not used up.

Class balance: each image's class is the argmax of its mean probabilities. The k picks
are split as evenly as the classes allow (:func:`balanced_quotas`): every class gets
``k // K``; a class with fewer predicted images gets them all, and what it leaves over,
like the remainder of the division, is shared out again evenly among the classes that
still have images, one extra each to the lowest class indices first. Every strategy then
runs its own greedy order, skipping images whose class has no quota left; so within each
class the best-scored images are taken.
"""

from __future__ import annotations

import numpy as np


def balanced_quotas(class_sizes: np.ndarray, k: int) -> np.ndarray:
    """class_sizes [K] images predicted per class, k <= their sum -> quotas [K] (int,
    summing to k, each <= its class size, as equal as those caps allow)."""
    sizes = np.asarray(class_sizes, np.int64)
    quotas = np.zeros_like(sizes)
    left = int(k)
    while left > 0:
        open_classes = np.flatnonzero(quotas < sizes)
        share, extra = divmod(left, len(open_classes))
        add = np.full(len(open_classes), share)
        add[:extra] += 1
        add = np.minimum(add, sizes[open_classes] - quotas[open_classes])
        quotas[open_classes] += add
        left -= int(add.sum())
    return quotas


class Availability:
    """The pool's pickable points ``available`` [N] bool, updated by :meth:`take`.

    classes: [N] predicted class per point and quotas [K] picks allowed per class, or both
    None (no class balance)."""

    def __init__(
        self, n: int, classes: np.ndarray | None = None, quotas: np.ndarray | None = None
    ):
        self.available = np.ones(n, bool)
        self.classes = classes
        self.quotas = None if quotas is None else np.array(quotas, np.int64)
        if self.quotas is not None:
            self.available &= self.quotas[classes] > 0

    def take(self, index: int) -> None:
        self.available[index] = False
        if self.quotas is not None:
            c = self.classes[index]
            self.quotas[c] -= 1
            if self.quotas[c] == 0:
                self.available[self.classes == c] = False

    def take_in_order(self, order: np.ndarray, k: int) -> np.ndarray:
        """The first k available points of ``order`` [N] (a ranking), taken in order."""
        if self.quotas is None:
            chosen = np.asarray(order)[self.available[order]][:k]
            self.available[chosen] = False
            return chosen.astype(np.int64)
        chosen = []
        for index in order:
            if len(chosen) == k:
                break
            if self.available[index]:
                chosen.append(int(index))
                self.take(index)
        return np.asarray(chosen, np.int64)
