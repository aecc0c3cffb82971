"""The training set's classes at plan time: the imbalanced subset of
``data.class_imbalance`` (data/class_imbalance.py), the examples per class it leaves, and
the class-balanced loss weights of ``loss.class_weights`` (mixer_vit/class_weights.py)
derived from them; and, for the test report, the examples per class a run trained on."""

from __future__ import annotations

import dataclasses
import logging

import ml_collections
import numpy as np

from mixer_vit.class_weights import class_balanced_weights, parse_class_weights
from mixer_vit.data.class_imbalance import imbalanced_subset, parse_imbalance
from mixer_vit.data.split_labels import class_counts, read_split_labels
from mixer_vit.train.step_options import StepOptions

log = logging.getLogger(__name__)


def _imbalance_spec(config: ml_collections.ConfigDict) -> str:
    return str(config.data.get("class_imbalance", "") or "")


def _weights_spec(config: ml_collections.ConfigDict) -> str:
    return str(config.loss.get("class_weights", "none") or "none")


def check_class_options(config: ml_collections.ConfigDict) -> None:
    """Raises ``UserError`` for a bad ``data.class_imbalance`` or ``loss.class_weights``
    (reads no data)."""
    parse_imbalance(_imbalance_spec(config))
    parse_class_weights(_weights_spec(config))


def training_labels(
    config: ml_collections.ConfigDict, data_dir: str, train_indices: np.ndarray | None
) -> np.ndarray:
    """Labels int64 ``[n]`` of the examples the run trains on before any imbalance: the
    train split, or its ``train_indices`` (``data.train_indices_file``)."""
    labels = read_split_labels(config.data.name, config.data.train_split, data_dir)
    return labels if train_indices is None else labels[train_indices]


def plan_train_classes(
    config: ml_collections.ConfigDict,
    data_dir: str,
    num_classes: int,
    train_indices: np.ndarray | None,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(train_indices, counts)``: the indices into the train split the run trains on
    (int64 ``[n]``, None: the whole split) and its examples per class (int64 ``[K]``), or
    ``(train_indices, None)`` unchanged when neither option is on (no labels are read)."""
    profile = parse_imbalance(_imbalance_spec(config))
    if profile is None and parse_class_weights(_weights_spec(config))[0] == "none":
        return train_indices, None
    labels = training_labels(config, data_dir, train_indices)
    if profile is not None:
        seed = int(config.data.get("class_imbalance_seed", 0))
        positions = imbalanced_subset(labels, num_classes, profile, seed)
        train_indices = positions if train_indices is None else train_indices[positions]
        labels = labels[positions]
    counts = class_counts(labels, num_classes)
    if profile is not None:
        log.info("data.class_imbalance %s: %d training examples, per class %s",
                 _imbalance_spec(config), len(labels), counts.tolist())
    return train_indices, counts


def with_class_weights(
    options: StepOptions, config: ml_collections.ConfigDict, counts: np.ndarray | None
) -> StepOptions:
    """``options`` with the class weights of ``loss.class_weights`` for ``counts`` [K]."""
    weights = None if counts is None else class_balanced_weights(counts, _weights_spec(config))
    if weights is None:
        return options
    log.info("loss.class_weights %s: %s", _weights_spec(config),
             [round(float(w), 4) for w in weights])
    return dataclasses.replace(options, class_weights=tuple(float(w) for w in weights))


def trained_class_counts(plan) -> np.ndarray:
    """Examples per class the run of ``plan`` (a ``RunPlan``) trained on: int64 ``[K]``
    (read from the train split's labels unless the plan already counted them)."""
    if plan.train_class_counts is not None:
        return plan.train_class_counts
    labels = training_labels(plan.config, plan.data_dir, plan.train_indices)
    return class_counts(labels, plan.num_classes)
