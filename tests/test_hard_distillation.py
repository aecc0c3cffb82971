"""Hard distillation into a student without a distillation token (DeiT Table 3's "hard"
row): its one head learns half from the labels, half from the teacher's arg-max."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixer_vit.train.objective import make_loss_fn
from mixer_vit.train.step_options import StepOptions

STUDENT = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-0.5, 1.5, 0.0]], np.float32)
TEACHER = np.array([[0.0, 3.0, 1.0], [5.0, 0.0, 0.0], [0.0, 1.0, 2.0]], np.float32)


class _FixedStudent(nn.Module):
    """One head returning STUDENT whatever the images (no parameters)."""

    num_classes: int = 3

    @nn.compact
    def __call__(self, images, train=False):
        return jnp.asarray(STUDENT) + 0.0 * images.sum()


def _cross_entropy(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    logits = logits.astype(np.float64)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return -(targets * log_probs).sum(-1)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_one_head_learns_half_labels_half_teacher_argmax(smoothing):
    labels = np.array([0, 2, 1], np.int32)
    batch = {"image": jnp.zeros((3, 2, 2, 1)), "label": jnp.asarray(labels)}
    opts = StepOptions(label_smoothing=smoothing, distillation="hard")
    loss, (logits, _) = make_loss_fn(
        _FixedStudent(), opts, {}, batch, jax.random.PRNGKey(0), lambda images: TEACHER
    )({})
    smoothed = np.eye(3)[labels] * (1 - smoothing) + smoothing / 3
    teacher_labels = np.eye(3)[TEACHER.argmax(-1)]  # 1, 0, 2: unsmoothed, as DeiT
    expected = np.mean(
        0.5 * _cross_entropy(STUDENT, smoothed) + 0.5 * _cross_entropy(STUDENT, teacher_labels)
    )
    np.testing.assert_allclose(float(loss), expected, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(logits), STUDENT)
