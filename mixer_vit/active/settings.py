"""An active-learning config file (``experiments/active/*.py``) and its checks.

The file defines ``get_config()`` returning an ``ml_collections.ConfigDict`` with:

- ``train`` (str): the training config, ``FILE.py[:ARG]`` as ``mixer-vit train --config``
  takes it; a relative path is looked up beside the active config file, then from the
  current directory;
- ``train_overrides`` (dict, optional): changes to that config, nested like it
  (``{"model": {"overrides": {"depth": 1}}, "optim": {"lr": 3e-3}}``);
- ``pool_split`` / ``validation_split`` / ``test_split`` (str): split names or TFDS
  split expressions of the training config's data set; labels are only ever acquired
  from the pool, validation decides nothing but the "labels needed" table, test is read
  once per round for the learning curve;
- ``pool_size`` (int, default 0): a random subset of the pool split of this many
  examples per seed (0: all of it), to keep scoring cheap;
- ``initial_labels`` (int): the seed set, drawn class-balanced at random from the pool;
- ``acquire_per_round`` (int): the batch acquired after each round;
- ``label_budget`` (int): the loop trains on initial_labels, + acquire_per_round, ...
  up to exactly this many labels (the last batch is smaller where it does not divide);
- ``strategies`` (tuple of str): acquisition functions (``mixer_vit.active.selection``);
- ``seeds`` (int, default 3): seeds 0..N-1 per strategy;
- ``mc_samples`` (int, default 1): MC-dropout forward passes when scoring the pool for
  the strategies in ``mc_strategies`` (default bald and batchbald); the others score
  with 1;
- ``class_balanced`` (bool, default False): acquire the same number from each predicted
  class;
- ``warm_start`` (bool, default False): start each round from the previous round's
  parameters instead of a fresh initialisation;
- ``epochs_per_round`` (int) and ``min_steps_per_round`` (int, default 0): a round
  trains max(epochs_per_round, the epochs that make min_steps_per_round steps) epochs
  over its labelled set, so the first, smallest rounds still train enough steps;
- ``target_accuracy`` (float in (0, 1)): for the table of labels needed to reach it;
- ``score_batch_size`` (int, default 512): images per forward pass when scoring.

Everything is checked before any training starts: a missing or unknown key or a bad
value is a one-line ``UserError``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import ml_collections

from mixer_vit.config_file import load_config_file, split_config_spec
from mixer_vit.errors import UserError
from mixer_vit.experiment import config_overrides

REQUIRED = (
    "train",
    "pool_split",
    "validation_split",
    "test_split",
    "initial_labels",
    "acquire_per_round",
    "label_budget",
    "strategies",
    "epochs_per_round",
    "target_accuracy",
)


@dataclasses.dataclass(frozen=True)
class ActiveSettings:
    """An active-learning config, checked; see the module doc for each field."""

    train: str
    pool_split: str
    validation_split: str
    test_split: str
    initial_labels: int
    acquire_per_round: int
    label_budget: int
    strategies: tuple[str, ...]
    epochs_per_round: int
    target_accuracy: float
    train_overrides: dict = dataclasses.field(default_factory=dict)
    pool_size: int = 0
    seeds: int = 3
    mc_samples: int = 1
    mc_strategies: tuple[str, ...] = ("bald", "batchbald")
    class_balanced: bool = False
    warm_start: bool = False
    min_steps_per_round: int = 0
    score_batch_size: int = 512
    config_dir: str = ""  # the active config file's folder (for the relative train path)

    def label_schedule(self) -> list[int]:
        """The labelled-set size of every round: initial, initial + k, ..., budget."""
        sizes = list(range(self.initial_labels, self.label_budget, self.acquire_per_round))
        return sizes + [self.label_budget]

    def mc_samples_for(self, strategy: str) -> int:
        """MC-dropout passes that scoring the pool for ``strategy`` takes."""
        return self.mc_samples if strategy in self.mc_strategies else 1

    def train_config_path(self) -> str:
        """``train`` with its file resolved (beside the active config, else from the
        current directory), ``:ARG`` kept."""
        path, arg = split_config_spec(self.train)
        beside = os.path.join(self.config_dir, path)
        if not os.path.isabs(path) and self.config_dir and os.path.isfile(beside):
            path = beside
        return path if arg is None else f"{path}:{arg}"

    def loop_identity(self) -> dict[str, Any]:
        """What fixes a strategy x seed loop's results (all but the strategy list, the
        seed count, the target of the results table and where the files lie): a
        workdir's loop resumes only under these."""
        fields = dataclasses.asdict(self)
        for key in ("strategies", "seeds", "config_dir", "train", "target_accuracy"):
            fields.pop(key)
        return fields


def load_settings(path: str) -> ActiveSettings:
    """Reads and checks the active config file ``path`` (see the module doc)."""
    config = load_config_file(path)
    values = config.to_dict()
    known = {f.name for f in dataclasses.fields(ActiveSettings)} - {"config_dir"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UserError(
            f"active config {path}: unknown key {unknown[0]}; the keys are "
            f"{', '.join(sorted(known))}"
        )
    missing = [key for key in REQUIRED if key not in values]
    if missing:
        raise UserError(f"active config {path} lacks {missing[0]}; set it in get_config()")
    for key in ("strategies", "mc_strategies"):
        if key in values:
            strategies = values[key]
            if isinstance(strategies, str):
                strategies = strategies.split(",")
            values[key] = tuple(str(s).strip() for s in strategies)
    values["train_overrides"] = config_overrides.flatten(values.get("train_overrides") or {})
    settings = ActiveSettings(**values, config_dir=os.path.dirname(os.path.abspath(path)))
    check_settings(settings, path)
    return settings


def _require(ok: bool, where: str, message: str) -> None:
    if not ok:
        raise UserError(f"active config {where}: {message}")


def check_settings(s: ActiveSettings, where: str) -> None:
    """The checks that need no data set: counts, fractions and split names."""
    for key in ("initial_labels", "acquire_per_round", "label_budget", "epochs_per_round",
                "seeds", "mc_samples", "score_batch_size"):
        value = getattr(s, key)
        _require(isinstance(value, int) and value >= 1, where,
                 f"{key} must be a positive integer, got {value!r}")
    for key in ("pool_size", "min_steps_per_round"):
        value = getattr(s, key)
        _require(isinstance(value, int) and value >= 0, where,
                 f"{key} must be an integer >= 0, got {value!r}")
    _require(
        s.label_budget >= s.initial_labels, where,
        f"label_budget {s.label_budget} is smaller than the seed set (initial_labels "
        f"{s.initial_labels}); raise label_budget or lower initial_labels",
    )
    _require(0 < float(s.target_accuracy) < 1, where,
             f"target_accuracy must be a fraction in (0, 1), got {s.target_accuracy!r}")
    _require(bool(s.strategies), where, "strategies is empty; name at least one")
    splits = {"pool_split": s.pool_split, "validation_split": s.validation_split,
              "test_split": s.test_split}
    _require(
        len(set(splits.values())) == 3, where,
        f"pool, validation and test must be three different splits, got {splits}",
    )
    for strategy in set(s.strategies) & set(s.mc_strategies):
        _require(
            s.mc_samples >= 2, where,
            f"{strategy} scores MC-dropout samples but mc_samples is {s.mc_samples}; set "
            f"mc_samples >= 2 (10 is usual)",
        )
    if s.pool_size:
        _require(
            s.pool_size >= s.label_budget, where,
            f"pool_size {s.pool_size} is smaller than label_budget {s.label_budget}; "
            f"raise pool_size (0: the whole pool split) or lower label_budget",
        )


def check_strategies(strategies: tuple[str, ...], known: tuple[str, ...]) -> None:
    """Raises ``UserError`` for a strategy ``known`` (the acquisition functions) lacks."""
    for strategy in strategies:
        if strategy not in known:
            raise UserError(
                f"unknown acquisition strategy {strategy!r}; use one of {', '.join(known)}"
            )


def train_config(s: ActiveSettings) -> ml_collections.ConfigDict:
    """The training config of every round before its round-specific values: the ``train``
    file with ``train_overrides`` applied (unknown keys are a ``UserError``)."""
    path = s.train_config_path()
    if not os.path.isfile(split_config_spec(path)[0]):
        raise UserError(
            f"active config: train {s.train!r} names no file (looked beside the active "
            f"config, then from the current directory); e.g. '../configs/digits.py'"
        )
    config = load_config_file(path)
    config_overrides.check_against(config, s.train_overrides, "active config train_overrides")
    return config


def with_strategies_and_seeds(
    s: ActiveSettings, strategies: tuple[str, ...] | None, seeds: int | None
) -> ActiveSettings:
    """``s`` with the command line's ``--strategies`` / ``--seeds`` where given."""
    changes: Mapping[str, Any] = {}
    if strategies:
        changes = {**changes, "strategies": tuple(strategies)}
    if seeds is not None:
        if seeds < 1:
            raise UserError(f"--seeds must be >= 1, got {seeds}")
        changes = {**changes, "seeds": seeds}
    changed = dataclasses.replace(s, **changes)
    check_settings(changed, "with --strategies/--seeds")
    return changed
