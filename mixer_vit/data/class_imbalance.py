"""Class-imbalanced training sets carved from a (roughly) balanced training split.

``data.class_imbalance`` names a profile of examples per class; the run then trains on a
seeded subset of ``data.train_split`` with exactly those class counts (served through
``IndexSubset`` as ``data.train_indices_file`` is; with both set, the profile is cut from
the indexed examples). Validation and test splits are untouched: they stay balanced.

Let ``K`` be the number of classes and ``n = min_c n_avail[c]`` the size of the smallest
class in the split, so every class can supply what its profile asks. With ``rho = RATIO``
(>= 1, the largest class count over the smallest):

- ``"step:RATIO[:MINORITY]"`` (step imbalance, Buda et al. 2018): majority classes keep
  ``n`` examples, minority classes ``floor(n / rho)``. MINORITY names the minority classes:
  ``lastM`` (the M highest class indices), or class indices joined by ``+`` (``"3"``,
  ``"0+2+4"``); omitted, the last ``floor(K / 2)`` classes. ``"step:9"`` on 10 classes:
  classes 0-4 keep n, 5-9 keep n / 9, so majority : minority examples = 90 : 10.
- ``"long_tail:RATIO"`` (exponential profile, Cui et al. 2019; Cao et al. 2019): class
  ``c`` keeps ``floor(n * rho ** (-c / (K - 1)))``: class 0 has n, class K-1 has n / rho.

Counts are rounded down (to within 1e-9, so ``1200 / 10`` is 120 whatever the float
rounding). Which examples of class ``c`` are kept: the first ``count[c]`` of a
permutation of its examples drawn from ``np.random.default_rng(seed)`` (classes in
order, one generator), ``seed = data.class_imbalance_seed``; so the subset is a fixed data
set, the same for every run seed. Empty string: off.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from mixer_vit.errors import UserError

KINDS = ("step", "long_tail")
FORMS = (
    "'step:RATIO[:MINORITY]' (e.g. 'step:9', 'step:9:last3', 'step:9:0+2+4') or "
    "'long_tail:RATIO'"
)
ROUNDING_SLACK = 1e-9


@dataclasses.dataclass(frozen=True)
class ImbalanceProfile:
    """A parsed ``data.class_imbalance``: kind, ratio rho >= 1, and (step only) the
    minority classes as written: ``""`` (the last half), ``"lastM"`` or ``"a+b+..."``."""

    kind: str
    ratio: float
    minority: str = ""

    def minority_classes(self, num_classes: int) -> tuple[int, ...]:
        """The minority classes of a step profile over ``num_classes`` classes (sorted)."""
        where = f"data.class_imbalance minority classes {self.minority!r}"
        if not self.minority:
            classes = tuple(range(num_classes - num_classes // 2, num_classes))
        elif self.minority.startswith("last"):
            classes = tuple(range(num_classes - int(self.minority[4:]), num_classes))
        else:
            classes = tuple(sorted(int(c) for c in self.minority.split("+")))
        if not classes or len(classes) >= num_classes:
            raise UserError(
                f"{where} leave no {'minority' if not classes else 'majority'} class among "
                f"{num_classes}; name between 1 and {num_classes - 1} classes"
            )
        if classes[-1] >= num_classes or len(set(classes)) != len(classes):
            raise UserError(
                f"{where}: name distinct classes in 0..{num_classes - 1}, e.g. '0+2+4'"
            )
        return classes


def parse_imbalance(spec: str) -> ImbalanceProfile | None:
    """``data.class_imbalance`` -> a profile, or None for ``""`` (off).

    Raises:
      UserError: an unknown kind, a ratio that is not a number >= 1, or a malformed
        minority list (the message shows the accepted forms).
    """
    spec = str(spec or "").strip()
    if not spec:
        return None
    bad = UserError(f"data.class_imbalance {spec!r} is not understood; write {FORMS}")
    kind, _, rest = spec.partition(":")
    ratio_text, _, minority = rest.partition(":")
    if kind not in KINDS or (kind == "long_tail" and minority):
        raise bad
    try:
        ratio = float(ratio_text)
    except ValueError:
        raise bad from None
    if not math.isfinite(ratio) or ratio < 1:
        raise UserError(
            f"data.class_imbalance ratio must be a number >= 1 (largest class over smallest), "
            f"got {ratio_text!r}"
        )
    if minority:
        digits = minority[4:] if minority.startswith("last") else minority.replace("+", "")
        parts = minority.split("+")
        if not digits.isdigit() or (not minority.startswith("last") and not all(parts)):
            raise bad
    return ImbalanceProfile(kind, ratio, minority)


def target_class_counts(available: np.ndarray, profile: ImbalanceProfile) -> np.ndarray:
    """Examples each class keeps: ``available`` int ``[K]`` (examples per class in the
    split) -> int64 ``[K]``, by the formulas of the module docstring.

    Raises:
      UserError: a class with no examples, or a ratio that leaves a class none.
    """
    available = np.asarray(available, dtype=np.int64)
    num_classes = available.size
    empty = np.flatnonzero(available == 0)
    if empty.size:
        raise UserError(
            f"class {int(empty[0])} has no examples in the training split; "
            f"data.class_imbalance needs every class, choose a larger data.train_split"
        )
    n = int(available.min())
    if profile.kind == "step":
        scale = np.ones(num_classes)
        scale[list(profile.minority_classes(num_classes))] = 1.0 / profile.ratio
    else:
        exponents = np.arange(num_classes) / max(num_classes - 1, 1)
        scale = profile.ratio ** (-exponents)
    counts = np.floor(n * scale + ROUNDING_SLACK).astype(np.int64)
    if counts.min() == 0:
        raise UserError(
            f"data.class_imbalance ratio {profile.ratio:g} leaves class {int(scale.argmin())} "
            f"no examples (the smallest class has {n}); use a ratio of at most {n}"
        )
    return counts


def imbalanced_subset(
    labels: np.ndarray, num_classes: int, profile: ImbalanceProfile, seed: int
) -> np.ndarray:
    """The positions in ``labels`` (int ``[N]``) of the imbalanced subset: sorted int64
    ``[sum(target_class_counts)]``, drawn as the module docstring says."""
    labels = np.asarray(labels, dtype=np.int64)
    counts = target_class_counts(np.bincount(labels, minlength=num_classes), profile)
    rng = np.random.default_rng(seed)
    kept = [
        rng.permutation(np.flatnonzero(labels == c))[: counts[c]] for c in range(num_classes)
    ]
    return np.sort(np.concatenate(kept))
