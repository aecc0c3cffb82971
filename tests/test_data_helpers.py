"""Writes tiny image folders for the image-folder and end-to-end data tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image


def write_image_folder(
    root: Path,
    splits: dict[str, int],
    classes: list[str],
    size: tuple[int, int] = (32, 32),
    fmt: str = "png",
    seed: int = 0,
) -> Path:
    """``root/<split>/<class>/<i>.<fmt>``: ``splits[split]`` random RGB images per class."""
    rng = np.random.default_rng(seed)
    for split, per_class in splits.items():
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
                PIL.Image.fromarray(pixels).save(folder / f"{i}.{fmt}")
    return root
