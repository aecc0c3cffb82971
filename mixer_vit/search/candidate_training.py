"""A candidate as an ordinary training run: its config, its cost, and its training to
a trial's epochs in ``WORKDIR/candidates/NAME`` (a ``mixer-vit train`` workdir).

The candidate's config is the search's base config (with ``train_overrides``) whose
``model.overrides`` take the candidate's mixer, depth, width, MLP ratio, patch size and
heads (space.py; per stage for a staged space, staged_space.py), with
``train.num_epochs`` the strategy's full length and the search's seed. A trial to fewer
epochs (a successive-halving or Hyperband rung) stops the same run early with
``train.halt_after_steps`` after a checkpoint, and the next rung resumes it; the run
evaluates every gcd of all rung epochs (``train.eval_every_epochs``), so the validation
accuracy at a rung's last step is in the run's metrics.jsonl, also for a trial at fewer
epochs than the run already reached (a candidate Hyperband draws again). Only a run
trained to its end evaluates the test split.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping
from typing import Any

import ml_collections

from mixer_vit.errors import UserError
from mixer_vit.search.settings import RUNG_STRATEGIES, SearchSettings
from mixer_vit.search.strategies import Trial

CANDIDATES_DIR = "candidates"


def candidate_overrides(settings: SearchSettings, candidate: Mapping[str, Any]) -> dict:
    """Flat ``{"a.b": value}`` changes to the base config that make the candidate's run."""
    from mixer_vit.search.strategies import make_strategy

    model = settings.space.model_overrides(candidate)
    overrides = {f"model.overrides.{k}": v for k, v in model.items()}
    if settings.strategy in RUNG_STRATEGIES:  # every rung of every bracket ends on an eval
        brackets = make_strategy(settings).brackets()
        eval_every = math.gcd(*(e for _, epochs, _ in brackets for e in epochs))
    else:
        eval_every = settings.full_epochs
    overrides.update({
        "seed": settings.seed,
        "train.num_epochs": settings.full_epochs,
        "train.eval_every_epochs": eval_every,
        "train.max_checkpoints_to_keep": 1,
        "train.population": 0,
        "train.end_of_run_images": False,
        "early_stopping.patience": 0,
    })
    return overrides


def candidate_config(base: ml_collections.ConfigDict, settings: SearchSettings,
                     candidate: Mapping[str, Any]) -> ml_collections.ConfigDict:
    config = copy.deepcopy(base)
    for path, value in candidate_overrides(settings, candidate).items():
        node = config
        *parents, leaf = path.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return config


def model_and_shape(config: ml_collections.ConfigDict):
    """The configured model and the (H, W, C) it sees."""
    from mixer_vit import data
    from mixer_vit.train.plan import input_shape
    from mixer_vit.train.run_model import build_model

    data_dir = config.data.data_dir or data.default_data_dir()
    info = data.data_info(config.data.name, data_dir)
    return build_model(config, info.num_classes), input_shape(config, data_dir, info.image_shape)


def check_patch_sizes(settings: SearchSettings, base: ml_collections.ConfigDict) -> None:
    """``UserError`` for a patch size that does not tile the images."""
    _, (height, width, _) = model_and_shape(base)
    for patch in settings.space.patch_size:
        if height % patch or width % patch:
            raise UserError(
                f"search config: space.patch_size {patch} does not divide the "
                f"{height}x{width} images of {base.data.name}; use divisors of {height}"
            )


def cost_function(base: ml_collections.ConfigDict, settings: SearchSettings):
    """``measure(candidate) -> {"params", "gflops"[, "latency_ms"]}`` (constraints.py)."""
    from mixer_vit.search.constraints import model_cost

    batch = settings.constraints.latency_batch if settings.constraints.measures_latency else None

    def measure(candidate):
        model, shape = model_and_shape(candidate_config(base, settings, candidate))
        return model_cost(model, shape, batch)

    return measure


def evaluator(base: ml_collections.ConfigDict, settings: SearchSettings, workdir: str):
    """``evaluate(trial, name) -> {"validation_accuracy", "test_accuracy"}``: trains the
    trial in ``workdir/candidates/NAME``."""

    def evaluate(trial: Trial, name: str) -> dict:
        config = candidate_config(base, settings, trial.candidate)
        return train_candidate(config, os.path.join(workdir, CANDIDATES_DIR, name),
                               trial.epochs, final=trial.final)

    return evaluate


def train_candidate(config: ml_collections.ConfigDict, run_dir: str, epochs: int,
                    *, final: bool) -> dict:
    """Trains the run in ``run_dir`` to ``epochs`` (resuming its checkpoint); returns
    the validation accuracy there and, when ``final``, the test accuracy."""
    from mixer_vit.active.round_training import validation_accuracy
    from mixer_vit.train.loop import train_and_evaluate
    from mixer_vit.train.plan import plan_run

    plan = plan_run(config)
    target = epochs * plan.steps_per_epoch
    config = copy.deepcopy(config)
    test = None
    if final:
        config.train.halt_after_steps = None
        result = train_and_evaluate(config, run_dir)
        test = float(result["accuracy"])
    else:
        done = latest_checkpoint_step(config, run_dir)
        if done < target:
            config.train.halt_after_steps = target - done
            train_and_evaluate(config, run_dir)
    return {
        "validation_accuracy": validation_accuracy(run_dir, config.data.eval_split, target),
        "test_accuracy": test,
    }


def latest_checkpoint_step(config: ml_collections.ConfigDict, run_dir: str) -> int:
    """The step of the run's newest checkpoint (0: none)."""
    from mixer_vit.train.plan import open_checkpointer

    if not os.path.isdir(os.path.join(run_dir, "checkpoints")):
        return 0
    ckpt = open_checkpointer(config, run_dir)
    try:
        return ckpt.latest_step() or 0
    finally:
        ckpt.close()
