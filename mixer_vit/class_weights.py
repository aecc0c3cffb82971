"""Class-balanced loss weights (``loss.class_weights``) and how the loss applies them.

From the training set's examples per class ``n_c`` (``K`` classes):

- ``"none"``: no weighting (the default);
- ``"inverse_frequency"``: ``w_c ∝ 1 / n_c``;
- ``"effective_number:BETA"`` (Cui et al. 2019, class-balanced loss): ``w_c ∝ (1 - beta) /
  (1 - beta ** n_c)``, the inverse of the class's effective number of examples; ``beta``
  in ``[0, 1)``: 0 gives equal weights, ``beta -> 1`` tends to inverse frequency (0.999
  and 0.9999 are the paper's usual values).

Weights are normalised to sum to ``K`` (so balanced classes get weight 1 each).

In the loss each example is weighted by its target: ``w_i = sum_c t_ic w_c`` with
``t_i`` the example's target row after label smoothing and mixup/CutMix, and the batch
loss is ``mean_i(w_i * loss_i)`` (divided by the batch size, not by ``sum_i w_i``). For a
one-hot target that is ``w_{y_i}``; smoothed by ``a`` it is ``(1 - a) w_y + a`` (the
weights sum to K); mixed with ratio ``lam`` it is ``lam w_a + (1 - lam) w_b``. Validation
and test losses stay unweighted.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mixer_vit.errors import UserError

FORMS = "'none', 'inverse_frequency' or 'effective_number:BETA' (e.g. 'effective_number:0.999')"


def parse_class_weights(spec: str) -> tuple[str, float]:
    """``loss.class_weights`` -> ``(kind, beta)``; kind ``none``, ``inverse_frequency`` or
    ``effective_number`` (beta 0.0 unless effective_number).

    Raises:
      UserError: anything else, or a beta outside [0, 1).
    """
    spec = str(spec or "none").strip()
    kind, sep, beta_text = spec.partition(":")
    if kind in ("none", "inverse_frequency") and not sep:
        return kind, 0.0
    if kind != "effective_number" or not sep:
        raise UserError(f"loss.class_weights {spec!r} is not understood; write {FORMS}")
    try:
        beta = float(beta_text)
    except ValueError:
        beta = float("nan")
    if not 0.0 <= beta < 1.0:
        raise UserError(
            f"loss.class_weights effective_number beta must be in [0, 1), got {beta_text!r}"
        )
    return kind, beta


def class_balanced_weights(counts: np.ndarray, spec: str) -> np.ndarray | None:
    """The weights of ``spec`` for class counts int ``[K]``: float64 ``[K]`` summing to K,
    or None for ``"none"``.

    Raises:
      UserError: a class without training examples (its weight would be infinite).
    """
    kind, beta = parse_class_weights(spec)
    if kind == "none":
        return None
    counts = np.asarray(counts, dtype=np.float64)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        raise UserError(
            f"class {int(empty[0])} has no training examples, so loss.class_weights={spec} "
            f"would weight it infinitely; train on every class or set loss.class_weights=none"
        )
    if kind == "inverse_frequency":
        raw = 1.0 / counts
    else:
        raw = (1.0 - beta) / (1.0 - np.power(beta, counts))
    return raw * (counts.size / raw.sum())


def weight_by_target(
    losses: jax.Array, targets: jax.Array, class_weights: tuple[float, ...]
) -> jax.Array:
    """Per-example losses float ``[B]`` times ``targets [B, K] @ class_weights [K]``: ``[B]``."""
    weights = jnp.asarray(class_weights, dtype=jnp.float32)
    return losses * (targets.astype(jnp.float32) @ weights)
