"""Tiling many small images into one array, for a single fast ``imshow``."""

from __future__ import annotations

import math

import numpy as np


def tile_mosaic(tiles: np.ndarray, gap: int = 1) -> np.ndarray:
    """``[R, C, h, w] -> [R * (h + gap) - gap, C * (w + gap) - gap]``: tile (r, c) at row
    block r, column block c, with ``gap`` NaN pixels between tiles (drawn as background)."""
    rows, cols, h, w = tiles.shape
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan)
    for r in range(rows):
        for c in range(cols):
            out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = tiles[r, c]
    return out


def grid_of(images: np.ndarray, columns: int) -> np.ndarray:
    """``[U, h, w] -> [ceil(U / columns), columns, h, w]`` in reading order, NaN-padded."""
    count, h, w = images.shape
    rows = math.ceil(count / columns)
    padded = np.full((rows * columns, h, w), np.nan)
    padded[:count] = images
    return padded.reshape(rows, columns, h, w)
