"""The number of training examples a run reads: its ``data.train_split`` (a split name or a
TFDS split expression such as ``"train[:1%]"``) counted by TFDS's split info through
``mixer_vit.data.count_examples``, the same call the train command sizes its epochs with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def count_train_examples(name: str, train_split: str, data_dir: str | None = None) -> int:
    """Examples in ``train_split`` of the prepared data set ``name`` (``data_dir`` None:
    ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``); ``UserError`` for a bad split."""
    from mixer_vit import data

    return data.count_examples(name, train_split, data_dir or data.default_data_dir())


def train_examples_of(data_config: Mapping[str, Any]) -> int | None:
    """The count for a run's ``data`` config section (a workdir's config.json), or None when
    it names no data set or the data set is not readable here (the run still counts)."""
    name, split = data_config.get("name"), data_config.get("train_split", "train")
    if not name:
        return None
    try:
        return count_train_examples(name, split, data_config.get("data_dir"))
    except Exception:  # noqa: BLE001 - a data set gone since the run finished
        return None
