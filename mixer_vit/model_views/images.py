"""Image files -> the run's model input: decoded like the data set stores its images, then
put through the run's own eval preprocessing."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mixer_vit.errors import UserError

PIL_MODES = {1: "L", 3: "RGB"}


def read_picture(path: str) -> Image.Image:
    """The file at ``path`` decoded by Pillow (EXIF orientation applied); ``UserError``
    naming the file when it is missing or not an image Pillow reads."""
    if not os.path.isfile(path):
        raise UserError(f"image file {path} does not exist; pass existing files to --images")
    try:
        with Image.open(path) as opened:
            opened.load()
            return ImageOps.exif_transpose(opened)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        reason = " ".join(str(e).split()) or type(e).__name__
        raise UserError(
            f"cannot read image {path} ({reason}); pass a PNG, JPEG or other image file "
            f"Pillow reads"
        ) from None


def check_image_files(paths: Sequence[str]) -> None:
    """``UserError`` for the first of ``paths`` that :func:`read_picture` cannot read (run
    before the slow model loading)."""
    for path in paths:
        read_picture(path)


def decode_image(path: str, stored_shape: tuple[int | None, int | None, int]) -> np.ndarray:
    """The file at ``path`` as uint8 ``[H, W, C]`` in the data set's stored form:
    ``stored_shape`` (H, W, C) with C 1 (grey) or 3 (RGB); H and W (None when the data set's
    images vary in size: the file's own size is kept) resized to with Pillow's bicubic
    filter. ``UserError`` for a missing or unreadable file."""
    height, width, channels = stored_shape
    if channels not in PIL_MODES:
        raise UserError(
            f"images with {channels} channels cannot be read from files; `show` reads grey "
            f"(1) or RGB (3) images"
        )
    picture = read_picture(path).convert(PIL_MODES[channels])
    if height is not None and width is not None and picture.size != (width, height):
        picture = picture.resize((width, height), Image.Resampling.BICUBIC)
    pixels = np.asarray(picture, np.uint8)
    return pixels.reshape(*pixels.shape[:2], channels)


def model_inputs(
    paths: Sequence[str],
    stored_shape: tuple[int | None, int | None, int],
    preprocess,
    image_shape: tuple[int, int, int],
) -> np.ndarray:
    """Files -> float32 ``[B, H, W, C]`` model input: :func:`decode_image`, then
    ``preprocess`` (the run's eval preprocessing, ``{"image": uint8 [H0, W0, C], "label"}
    -> {"image": float32 [H, W, C], ...}``); ``image_shape`` is the (H, W, C) the model
    takes. ``UserError`` when a file cannot be brought to that shape."""
    inputs = []
    for path in paths:
        example = preprocess({"image": decode_image(path, stored_shape), "label": 0})
        image = np.asarray(example["image"], np.float32)
        if image.shape != tuple(image_shape):
            raise UserError(
                f"image {path} preprocesses to {image.shape}, the model takes "
                f"{tuple(image_shape)}; resize it to {stored_shape[0]}x{stored_shape[1]}"
            )
        inputs.append(image)
    return np.stack(inputs)
