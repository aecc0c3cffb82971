"""Drawing a patch-grid map over the image it belongs to."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes

OVERLAY_CMAP = "inferno"
OVERLAY_ALPHA = 0.6


def display_image(image: np.ndarray) -> np.ndarray:
    """A preprocessed image ``[H, W, C]`` (any range) -> what ``imshow`` draws: ``[H, W]``
    grey for one channel (or any count but 3, averaged), ``[H, W, 3]`` RGB, min-max
    scaled to [0, 1]."""
    image = np.asarray(image, np.float64)
    image = image if image.shape[-1] == 3 else image.mean(axis=-1)
    low, high = image.min(), image.max()
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def draw_image(ax: Axes, image: np.ndarray) -> None:
    """``image`` ``[H, W, C]`` preprocessed, drawn in pixel coordinates, without ticks."""
    shown = display_image(image)
    ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None, vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])


def draw_overlay(ax: Axes, image: np.ndarray, patch_map: np.ndarray) -> None:
    """``patch_map`` ``[gh, gw]`` stretched over ``image`` ``[H, W, C]`` (each cell covers
    its patch exactly, no smoothing), semi-transparent, colour-scaled to its own range."""
    draw_image(ax, image)
    height, width = image.shape[:2]
    ax.imshow(
        patch_map,
        cmap=OVERLAY_CMAP,
        alpha=OVERLAY_ALPHA,
        extent=(-0.5, width - 0.5, height - 0.5, -0.5),
        interpolation="nearest",
    )
