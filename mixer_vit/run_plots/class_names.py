"""A run's class names for plot axes, from its config's data set where that is prepared
on this machine (the known classes' names for a run with ``data.unknown_classes``), else
"0".."K-1"."""

from __future__ import annotations

from collections.abc import Mapping


def class_names_for(config: Mapping | None, num_classes: int) -> list[str]:
    """config: a run's config (config.json as a dict, or a ConfigDict). Looks the data set
    ``config.data.name`` up in ``config.data.data_dir`` (default: ``data.default_data_dir()``)
    without preparing anything; falls back to indices when it is not there."""
    indices = [str(i) for i in range(num_classes)]
    data_config = (config or {}).get("data") or {}
    name = data_config.get("name")
    if not name:
        return indices
    import tensorflow_datasets as tfds

    from mixer_vit import data
    from mixer_vit.errors import UserError
    from mixer_vit.train.trained_model import class_names_of

    data_dir = data_config.get("data_dir") or data.default_data_dir()
    try:
        if not tfds.builder(name, data_dir=data_dir).is_prepared():
            return indices
        unknown = tuple(data_config.get("unknown_classes") or ())
        if unknown:  # an open-set run: names of the known classes (data/open_set_split.py)
            from mixer_vit.data.open_set_split import known_class_names

            all_names = class_names_of(name, data_dir, num_classes + len(unknown))
            return known_class_names(all_names, unknown)
        return class_names_of(name, data_dir, num_classes)
    except (tfds.core.registered.DatasetNotFoundError, UserError, OSError):
        return indices
