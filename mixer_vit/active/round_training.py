"""One round's training: an ordinary ``mixer-vit train`` run on the labelled set.

The round's config is the active config's training config with the labelled set as its
training data (``data.train_indices_file`` into the pool split), validation and test
splits from the active config, a length from ``epochs_per_round`` /
``min_steps_per_round``, the loop's seed, and, when warm-starting, the previous
round's weights as ``model.init_from``. ``train_and_evaluate`` then trains it in the
round's folder exactly as ``mixer-vit train`` would (checkpoint, metrics.jsonl,
TensorBoard, test_report.json there).
"""

from __future__ import annotations

import copy
import json
import math
import os

import ml_collections

from mixer_vit.active.settings import ActiveSettings
from mixer_vit.data.index_subset import write_index_file
from mixer_vit.train.trained_model import TrainedModel

LABELLED_FILE = "labelled.json"  # the round's labelled set, the run's train_indices_file
WEIGHTS_DIR = "weights"  # the round's trained weights, the next round's warm start


def round_epochs(settings: ActiveSettings, labelled: int, batch_size: int) -> int:
    """Epochs a round with ``labelled`` examples trains: ``epochs_per_round``, or more
    where that would be fewer than ``min_steps_per_round`` steps of ``batch_size``."""
    steps_per_epoch = labelled // batch_size
    return max(settings.epochs_per_round, math.ceil(settings.min_steps_per_round / steps_per_epoch))


def round_config(
    base: ml_collections.ConfigDict,
    settings: ActiveSettings,
    *,
    seed: int,
    round_index: int,
    round_dir: str,
    labelled: list[int],
    warm_from: str | None,
) -> ml_collections.ConfigDict:
    """The training config of round ``round_index`` (writes its labelled-set file)."""
    config = copy.deepcopy(base)
    os.makedirs(round_dir, exist_ok=True)
    # The loop's seed in every round: the rounds differ in their data alone, and their
    # train steps (whose random streams start from the seed) compile to the same program.
    config.seed = seed
    config.data.train_split = settings.pool_split
    config.data.train_indices_file = write_index_file(
        os.path.join(os.path.abspath(round_dir), LABELLED_FILE), labelled
    )
    config.data.eval_split = settings.validation_split
    config.data.test_split = settings.test_split
    epochs = round_epochs(settings, len(labelled), int(config.train.global_batch_size))
    config.train.num_epochs = epochs
    if not config.early_stopping.patience:
        config.train.eval_every_epochs = epochs  # validation once, at the end
    config.train.checkpoint_every_steps = 10**9  # one checkpoint, at the end
    config.train.max_checkpoints_to_keep = 1
    config.train.halt_after_steps = None
    config.train.end_of_run_images = False
    config.train.population = 0
    if warm_from:
        config.model.init_from = warm_from
        config.model.init_fresh = ""
    return config


def train_round(config: ml_collections.ConfigDict, round_dir: str) -> dict:
    """Trains the round; returns ``{"validation_accuracy", "test_accuracy", "steps"}``
    (validation at the evaluated step, test as the trainer's final evaluation reports it)."""
    from mixer_vit.train.loop import train_and_evaluate

    result = train_and_evaluate(config, round_dir)
    evaluated = int(result.get("evaluated_step", result["steps"]))
    return {
        "validation_accuracy": validation_accuracy(round_dir, config.data.eval_split, evaluated),
        "test_accuracy": float(result["accuracy"]),
        "steps": int(result["steps"]),
    }


def validation_accuracy(round_dir: str, split: str, step: int) -> float:
    """The accuracy on ``split`` the run logged at ``step`` (its metrics.jsonl)."""
    found = None
    with open(os.path.join(round_dir, "metrics.jsonl")) as f:
        for line in f:
            row = json.loads(line)
            if row["split"] == split and row["step"] == step:
                found = float(row["accuracy"])
    if found is None:
        raise AssertionError(f"{round_dir}: no {split} evaluation at step {step}")
    return found


def save_warm_start(trained: TrainedModel, round_dir: str) -> str:
    """Writes the round's evaluated weights as a ``model.init_from`` directory; returns it."""
    from mixer_vit.convert.save_load import save_converted

    out = os.path.join(os.path.abspath(round_dir), WEIGHTS_DIR)
    overrides = json.loads(json.dumps(trained.config.model.overrides.to_dict()))
    height, _, channels = trained.image_shape
    save_converted(
        out, trained.config.model.name, overrides, height, trained.variables,
        source=f"active-learning round {round_dir}", channels=channels,
    )
    return out
