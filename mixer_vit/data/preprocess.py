"""Per-example preprocessing: uint8 image -> normalised float32, label -> int32."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def to_float_image(
    example: Mapping[str, Any],
    mean: float | Sequence[float] = 0.5,
    std: float | Sequence[float] = 0.5,
) -> dict[str, np.ndarray]:
    """Scales the image to [0, 1], normalises it, and casts the label.

    Args:
      example: ``{"image": uint8 [H, W, C], "label": int []}``; other keys are
        dropped. Leading batch dimensions are fine too.
      mean, std: scalars or per-channel ``[C]`` sequences, applied after the
        scaling to [0, 1]; the defaults map [0, 1] to [-1, 1].

    Returns:
      ``{"image": float32 [H, W, C], "label": int32 []}``.
    """
    image = np.asarray(example["image"], dtype=np.float32) * np.float32(1.0 / 255.0)
    image = (image - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return {"image": image, "label": np.asarray(example["label"], dtype=np.int32)}
