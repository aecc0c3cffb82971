"""Image files -> the run's model input: decoded as the data set stores its images
(``mixer_vit.data.image_file``), then put through the run's own eval preprocessing."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from mixer_vit.data.image_file import CHANNEL_MODES, UnreadableImage, read_image
from mixer_vit.errors import UserError


def _unreadable(error: UnreadableImage) -> UserError:
    return UserError(
        f"cannot read image {error.path} ({error.reason}); pass a PNG, JPEG or other image "
        f"file Pillow reads"
    )


def check_image_files(paths: Sequence[str]) -> None:
    """``UserError`` for the first of ``paths`` that is missing or cannot be decoded (run
    before the slow model loading)."""
    for path in paths:
        if not os.path.isfile(path):
            raise UserError(f"image file {path} does not exist; pass existing files to --images")
        try:
            read_image(path, 3)
        except UnreadableImage as error:
            raise _unreadable(error) from None


def decode_image(path: str, stored_shape: tuple[int | None, int | None, int]) -> np.ndarray:
    """The file at ``path`` as uint8 ``[H, W, C]`` in the data set's stored form
    ``stored_shape`` (H, W, C); H and W None (images of varying size) keep the file's size.
    ``UserError`` for an unreadable file or a channel count files cannot give."""
    height, width, channels = stored_shape
    if channels not in CHANNEL_MODES:
        raise UserError(
            f"images with {channels} channels cannot be read from files; `show` reads "
            f"{', '.join(map(str, CHANNEL_MODES))}-channel images"
        )
    size = None if height is None or width is None else (height, width)
    try:
        return read_image(path, channels, size)
    except UnreadableImage as error:
        raise _unreadable(error) from None


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
