"""One image file -> uint8 ``[H, W, C]`` in the layout the run's data set stores.

The file is decoded with Pillow (the first frame of an animated GIF or WebP), converted
to the data set's channel count (1: grey ``L``, 3: ``RGB``, 4: ``RGBA``; 16-bit grey is
scaled to 8 bits first) and, when the data set stores one fixed size that differs,
resized to it with bilinear interpolation (the aspect ratio is not kept). EXIF
orientation tags are ignored, as they are when a data set's images are decoded.
"""

from __future__ import annotations

import numpy as np
import PIL.Image

CHANNEL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
"""Channels of the stored images -> the Pillow mode a file is converted to."""

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")


class UnreadableImage(Exception):
    """A file Pillow cannot open or decode; ``reason`` says why in a few words."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: cannot read image ({reason})")
        self.path = path
        self.reason = reason


def _reason(error: Exception) -> str:
    if isinstance(error, PIL.UnidentifiedImageError):
        return "not an image format Pillow can decode"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return " ".join(str(error).split()) or type(error).__name__


def _decoded(path: str, mode: str, size: tuple[int, int] | None) -> PIL.Image.Image:
    """The first frame in ``mode`` at ``size``; raises ``UnreadableImage`` for any
    failure to open, decode or convert it."""
    try:
        with PIL.Image.open(path) as image:
            image.load()  # decode now: truncated data fails here, not later
            image = _to_mode(image, mode)
            if size is not None and (image.height, image.width) != tuple(size):
                image = image.resize((size[1], size[0]), PIL.Image.Resampling.BILINEAR)
            return image.copy()
    except (OSError, ValueError, SyntaxError, EOFError, PIL.Image.DecompressionBombError) as e:
        raise UnreadableImage(path, _reason(e)) from None


def _to_mode(image: PIL.Image.Image, mode: str) -> PIL.Image.Image:
    if image.mode in _SIXTEEN_BIT_MODES:  # Pillow's own I;16 -> L conversion clips at 255
        eight_bit = (np.asarray(image, dtype=np.uint16) >> 8).astype(np.uint8)
        image = PIL.Image.fromarray(eight_bit)  # uint8 [H, W]: mode L
    return image if image.mode == mode else image.convert(mode)


def read_image(
    path: str, channels: int, size: tuple[int, int] | None = None
) -> np.ndarray:
    """Reads ``path`` as uint8 ``[H, W, channels]``.

    Args:
      path: an image file.
      channels: 1, 3 or 4 (``CHANNEL_MODES``), the channel count of the data set.
      size: (height, width) to resize to when the image has another size; None keeps
        the file's size (for data sets of varying sizes, whose eval preprocessing sizes
        every image).

    Raises:
      UnreadableImage: the file cannot be opened or decoded.
      ValueError: ``channels`` is not one of ``CHANNEL_MODES``.
    """
    if channels not in CHANNEL_MODES:
        raise ValueError(f"no Pillow mode for {channels} channels; known: {sorted(CHANNEL_MODES)}")
    image = _decoded(path, CHANNEL_MODES[channels], size)
    pixels = np.asarray(image, dtype=np.uint8)
    return pixels.reshape(image.height, image.width, channels)
