"""Classification losses: pure functions of logits and labels, per example ([B] out)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def smoothed_targets(
    labels: jax.Array, num_classes: int, label_smoothing: float = 0.0
) -> jax.Array:
    """One-hot targets smoothed as y(1-a) + a/K: int [B] -> float32 [B, K]."""
    targets = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
    return optax.smooth_labels(targets, label_smoothing) if label_smoothing else targets


def softmax_cross_entropy(
    logits: jax.Array, labels: jax.Array, label_smoothing: float = 0.0
) -> jax.Array:
    """Per-example cross-entropy against one-hot targets smoothed as y(1-a) + a/K.

    Args:
      logits: float [B, K].
      labels: int [B] class indices, or float [B, K] soft targets (e.g. after mixup;
        then ``label_smoothing`` is not applied again).
      label_smoothing: a in [0, 1).
    Returns:
      float32 [B] losses.
    """
    if labels.ndim == logits.ndim:
        targets = labels.astype(jnp.float32)
    else:
        targets = smoothed_targets(labels, logits.shape[-1], label_smoothing)
    return optax.softmax_cross_entropy(logits.astype(jnp.float32), targets)


def sigmoid_cross_entropy(
    logits: jax.Array, labels: jax.Array, label_smoothing: float = 0.0
) -> jax.Array:
    """Per-example sum over classes of binary cross-entropy (big_vision's sigmoid_xent).

    Args:
      logits: float [B, K].
      labels: int [B] or float [B, K] targets in [0, 1].
    Returns:
      float32 [B].
    """
    if labels.ndim == logits.ndim:
        targets = labels.astype(jnp.float32)
    else:
        targets = smoothed_targets(labels, logits.shape[-1], label_smoothing)
    return optax.sigmoid_binary_cross_entropy(logits.astype(jnp.float32), targets).sum(-1)


def soft_distillation(
    student_logits: jax.Array, teacher_logits: jax.Array, temperature: float
) -> jax.Array:
    """KL(teacher_T || student_T) * T^2 per example, with p_T = softmax(logits / T).

    Args:
      student_logits, teacher_logits: float [B, K].
    Returns:
      float32 [B]. The T^2 factor keeps gradient magnitudes comparable across T
      (Hinton et al., 2015).
    """
    t = jnp.float32(temperature)
    teacher_log_probs = jax.nn.log_softmax(teacher_logits.astype(jnp.float32) / t)
    student_log_probs = jax.nn.log_softmax(student_logits.astype(jnp.float32) / t)
    kl = jnp.sum(jnp.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs), axis=-1)
    return kl * t * t


def hard_distillation(student_logits: jax.Array, teacher_logits: jax.Array) -> jax.Array:
    """Cross-entropy of the student against the teacher's arg-max class (DeiT), [B]."""
    teacher_labels = jnp.argmax(teacher_logits, axis=-1)
    return softmax_cross_entropy(student_logits, teacher_labels)
