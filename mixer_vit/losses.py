"""Classification losses (pure functions of logits and integer labels)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def softmax_cross_entropy(
    logits: jax.Array, labels: jax.Array, label_smoothing: float = 0.0
) -> jax.Array:
    """Per-example cross-entropy against one-hot targets smoothed as y(1-a) + a/K.

    Args:
      logits: float [B, K].
      labels: int [B] class indices.
      label_smoothing: a in [0, 1).
    Returns:
      float32 [B] losses.
    """
    num_classes = logits.shape[-1]
    targets = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
    if label_smoothing:
        targets = optax.smooth_labels(targets, label_smoothing)
    return optax.softmax_cross_entropy(logits.astype(jnp.float32), targets)
