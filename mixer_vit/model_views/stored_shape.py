"""The (H, W, C) a trained run's data set stores its images in (H, W None when they vary)."""

from __future__ import annotations

from mixer_vit import data


def stored_image_shape(trained) -> tuple[int | None, int | None, int]:
    """The stored image shape of the data set a ``TrainedModel`` was trained on, read from
    the prepared data set's features (the config's data.name and data.data_dir)."""
    config = trained.config
    data_dir = config.data.get("data_dir") or data.default_data_dir()
    height, width, channels = data.data_info(config.data.name, data_dir).image_shape
    return height, width, int(channels)
