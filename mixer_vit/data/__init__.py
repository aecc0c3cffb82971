"""Datasets by name (TFDS, offline), preprocessing and grain batching.

Typical use::

    from mixer_vit import data
    train_src = data.open_source("sklearn_digits", "train", data_dir)
    batches = data.train_batches(train_src, global_batch_size=128, seed=0)
    for batch in data.eval_batches(val_src, global_batch_size=256): ...
"""

from mixer_vit.data.digits_builder import SklearnDigits
from mixer_vit.data.image_augment import make_augment, rand_augment, random_resized_crop
from mixer_vit.data.image_folder import build_image_folder
from mixer_vit.data.index_subset import IndexSubset, read_index_file, write_index_file
from mixer_vit.data.pipeline import (
    EvalBatches,
    TrainIterator,
    epoch_order,
    eval_batches,
    train_batches,
)
from mixer_vit.data.preprocess import to_float_image
from mixer_vit.data.preprocess_ops import as_batch_example, make_preprocess
from mixer_vit.data.sources import (
    DataInfo,
    DatasetNotPreparedError,
    count_examples,
    data_info,
    default_data_dir,
    ensure_prepared,
    open_source,
)
from mixer_vit.data.stratified_split import stratified_split

__all__ = [
    "as_batch_example",
    "build_image_folder",
    "make_preprocess",
    "make_augment",
    "rand_augment",
    "random_resized_crop",
    "DataInfo",
    "DatasetNotPreparedError",
    "EvalBatches",
    "IndexSubset",
    "SklearnDigits",
    "TrainIterator",
    "count_examples",
    "data_info",
    "default_data_dir",
    "ensure_prepared",
    "epoch_order",
    "eval_batches",
    "open_source",
    "read_index_file",
    "stratified_split",
    "to_float_image",
    "train_batches",
    "write_index_file",
]
