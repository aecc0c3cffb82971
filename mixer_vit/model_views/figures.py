"""The four pictures as matplotlib figures (Agg, no pyplot state) and their PNG bytes."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from mixer_vit.run_plots.canvas import new_figure

from .mosaic import grid_of, tile_mosaic
from .overlay import draw_image, draw_overlay

PANEL_INCHES = 1.9
MIXING_COLUMNS = 8
TITLE_POINTS = 10
GAP_COLOUR = "0.7"  # the NaN gaps between tiles: grey, apart from any colour-scale value


def _title(figure: Figure, text: str) -> None:
    """A title wrapped to the figure's width (about 0.55 em per character)."""
    width_points = figure.get_figwidth() * 72
    chars = max(20, int(width_points / (0.55 * TITLE_POINTS)))
    figure.suptitle(textwrap.fill(text, chars), fontsize=TITLE_POINTS)


def figure_png(figure: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def attention_maps_figure(
    image: np.ndarray,
    maps: np.ndarray,
    row_labels: Sequence[str],
    heads: Sequence[int],
    title: str,
) -> Figure:
    """image ``[H, W, C]`` preprocessed; maps ``[layers, heads, gh, gw]``: one panel per
    (layer, head), rows = layers, columns = heads, each map over the image."""
    rows, cols = maps.shape[:2]
    figure = new_figure(PANEL_INCHES * cols + 0.8, PANEL_INCHES * rows + 0.6)
    axes = figure.subplots(rows, cols, squeeze=False)
    for r in range(rows):
        for c in range(cols):
            draw_overlay(axes[r, c], image, maps[r, c])
            if r == 0:
                axes[r, c].set_title(f"head {heads[c]}", fontsize=9)
        axes[r, 0].set_ylabel(row_labels[r], fontsize=8)
    _title(figure, title)
    return figure


def rollout_figure(image: np.ndarray, patch_map: np.ndarray, title: str) -> Figure:
    """image ``[H, W, C]`` preprocessed and its rollout map ``[gh, gw]``, side by side."""
    figure = new_figure(2 * PANEL_INCHES + 0.6, PANEL_INCHES + 0.8)
    left, right = figure.subplots(1, 2)
    draw_image(left, image)
    left.set_title("input", fontsize=9)
    draw_overlay(right, image, patch_map)
    right.set_title("rollout", fontsize=9)
    _title(figure, title)
    return figure


def token_mixing_figure(grids: np.ndarray, title: str) -> Figure:
    """grids ``[units, gh, gw]``: one small image per hidden unit, reading order, on one
    symmetric colour scale (blue negative, red positive, white zero)."""
    columns = min(MIXING_COLUMNS, grids.shape[0])
    tiles = grid_of(grids, columns)
    mosaic = tile_mosaic(tiles)
    limit = float(np.nanmax(np.abs(grids))) or 1.0
    figure = new_figure(0.9 * columns + 1.4, 0.9 * tiles.shape[0] + 0.9)
    ax = figure.subplots()
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad=GAP_COLOUR)
    shown = ax.imshow(mosaic, cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    figure.colorbar(shown, ax=ax, shrink=0.8)
    _title(figure, title)
    return figure


def position_similarity_figure(similarity: np.ndarray, title: str) -> Figure:
    """similarity ``[gh, gw, gh, gw]``: tile (r, c) is patch (r, c)'s cosine similarity
    with every patch, laid out like the patches; colour scale -1..1."""
    rows, cols = similarity.shape[:2]
    mosaic = tile_mosaic(similarity)
    figure = new_figure(min(0.45 * cols + 3.0, 12.0), min(0.45 * rows + 1.8, 11.0))
    ax = figure.subplots()
    shown = ax.imshow(mosaic, cmap="viridis", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xlabel("input patch column")
    ax.set_ylabel("input patch row")
    tile_width = similarity.shape[3] + 1
    tile_height = similarity.shape[2] + 1
    ax.set_xticks(np.arange(cols) * tile_width + (tile_width - 2) / 2, labels=range(cols))
    ax.set_yticks(np.arange(rows) * tile_height + (tile_height - 2) / 2, labels=range(rows))
    ax.tick_params(labelsize=7, length=0)
    figure.colorbar(shown, ax=ax, shrink=0.8, label="cosine similarity")
    _title(figure, title)
    return figure
