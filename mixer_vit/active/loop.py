"""The pool-based active-learning loop of one strategy and one seed.

Round ``r`` (label counts from ``ActiveSettings.label_schedule``):

1. train on the labelled set ``L_r`` (round_training.py: an ordinary training run);
2. record its validation and test accuracy (test only for the learning curve: no
   decision ever reads it);
3. unless it is the last round: score the unlabelled pool with the trained model
   (``score_pool``), ``select`` the next batch, check it (distinct, unlabelled, pool
   candidates only), and append the round to ``rounds.jsonl``; ``L_{r+1} = L_r + batch``.

The folder ``LOOP_DIR`` holds ``loop.json`` (what the loop's results depend on; a rerun
with other settings is refused), ``rounds.jsonl`` (labelled_set.py) and ``round_R/`` (the
round's training workdir and ``labelled.json``). A rerun resumes at the first unrecorded
round, from its start (a half-finished round's folder is removed); every draw derives
from (seed, round), so the record ends as an uninterrupted loop's would. Only the newest
recorded round keeps its checkpoint (and warm-start weights); older rounds keep their
metrics, config and test report.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable

import jax
import ml_collections
import numpy as np

from mixer_vit.active import labelled_set, round_training
from mixer_vit.active.pool_data import PoolData
from mixer_vit.active.settings import ActiveSettings
from mixer_vit.errors import UserError

LOOP_FILE = "loop.json"


@dataclasses.dataclass(frozen=True)
class Acquisition:
    """The acquisition side: ``score_pool(model, variables, images [N, H, W, C], *,
    mc_samples, rng, batch_size) -> PoolOutputs`` (probs [S, N, K], features [N, D]) and
    ``select(strategy, pool_outputs, k, *, labelled_features, rng, class_balanced) ->
    int [k]`` positions in the pool outputs; ``strategies``: the names ``select`` knows."""

    score_pool: Callable
    select: Callable
    strategies: tuple[str, ...]


def default_acquisition() -> Acquisition:
    """The project's acquisition functions: ``score_pool`` of mixer_vit/active/
    pool_outputs.py and ``select`` / ``STRATEGIES`` of mixer_vit/active/acquisition/."""
    from mixer_vit.active.acquisition import STRATEGIES, select
    from mixer_vit.active.pool_outputs import score_pool

    return Acquisition(score_pool=score_pool, select=select, strategies=tuple(STRATEGIES))


def loop_dir(workdir: str, strategy: str, seed: int) -> str:
    return os.path.join(workdir, strategy, f"seed_{seed}")


def run_loop(
    settings: ActiveSettings,
    base_config: ml_collections.ConfigDict,
    strategy: str,
    seed: int,
    directory: str,
    pool: PoolData,
    acquisition: Acquisition,
    *,
    on_round: Callable[[dict], None] = lambda record: None,
) -> list[dict]:
    """Brings the loop in ``directory`` to its last round; returns every round's record.
    ``on_round`` is called with each record once it is written (progress)."""
    os.makedirs(directory, exist_ok=True)
    _check_loop_identity(directory, settings, base_config, strategy, seed)
    schedule = settings.label_schedule()
    records = labelled_set.read_records(directory)
    seed_set = labelled_set.class_balanced_seed_set(
        pool.candidates, pool.labels, settings.initial_labels, seed
    )
    if records and records[0]["seed_set"] != seed_set.tolist():
        raise AssertionError(f"{directory}: the recorded seed set is not this pool's")
    labelled = labelled_set.labelled_after(records) if records else seed_set
    for round_index in range(len(records), len(schedule)):
        start = time.perf_counter()
        if len(labelled) != schedule[round_index]:
            raise AssertionError(f"round {round_index} has {len(labelled)} labels, "
                                 f"expected {schedule[round_index]}")
        round_dir = os.path.join(directory, f"round_{round_index}")
        if os.path.exists(round_dir):  # a round killed before it was recorded: redo it
            shutil.rmtree(round_dir)
        warm_from = None
        if settings.warm_start and round_index > 0:
            warm_from = os.path.join(
                directory, f"round_{round_index - 1}", round_training.WEIGHTS_DIR
            )
        config = round_training.round_config(
            base_config, settings, seed=seed, round_index=round_index, round_dir=round_dir,
            labelled=labelled.tolist(), warm_from=warm_from,
        )
        result = round_training.train_round(config, round_dir)
        acquired = np.zeros(0, dtype=np.int64)
        if round_index + 1 < len(schedule):
            count = schedule[round_index + 1] - schedule[round_index]
            acquired = _acquire(settings, strategy, seed, round_index, round_dir, labelled,
                                pool, acquisition, count)
        record = {
            "round": round_index,
            "strategy": strategy,
            "seed": seed,
            "labels": int(len(labelled)),
            **({"seed_set": seed_set.tolist()} if round_index == 0 else {}),
            "acquired": acquired.tolist(),
            "validation_accuracy": result["validation_accuracy"],
            "test_accuracy": result["test_accuracy"],
            "train_steps": result["steps"],
            "seconds": round(time.perf_counter() - start, 3),
        }
        labelled_set.append_record(directory, record)
        records.append(record)
        _keep_only_newest_checkpoint(directory, round_index)
        labelled = np.concatenate([labelled, acquired])
        on_round(record)
    return records


def _acquire(
    settings: ActiveSettings,
    strategy: str,
    seed: int,
    round_index: int,
    round_dir: str,
    labelled: np.ndarray,
    pool: PoolData,
    acquisition: Acquisition,
    count: int,
) -> np.ndarray:
    """Scores the pool with the round's trained model and selects ``count`` unlabelled
    candidates; returns their pool indices (int64 [count], acquisition order)."""
    from mixer_vit.train.trained_model import load_trained_model

    trained = load_trained_model(round_dir)
    if settings.warm_start:
        round_training.save_warm_start(trained, round_dir)
    unlabelled = np.setdiff1d(pool.candidates, labelled)
    rows = np.concatenate([pool.rows(unlabelled), pool.rows(np.sort(labelled))])
    images = pool.images(trained.preprocess)[rows]
    outputs = acquisition.score_pool(
        trained.model,
        trained.variables,
        images,
        mc_samples=settings.mc_samples_for(strategy),
        rng=jax.random.fold_in(jax.random.key(seed), round_index),
        batch_size=settings.score_batch_size,
    )
    n = len(unlabelled)
    unlabelled_outputs = dataclasses.replace(
        outputs, probs=outputs.probs[:, :n], features=outputs.features[:n]
    )
    picked = acquisition.select(
        strategy,
        unlabelled_outputs,
        count,
        labelled_features=outputs.features[n:],
        rng=labelled_set.round_rng(seed, round_index),
        class_balanced=settings.class_balanced,
    )
    acquired = unlabelled[np.asarray(picked, dtype=np.int64)]
    labelled_set.check_acquisition(acquired, labelled, pool.candidates, count)
    return acquired


def _keep_only_newest_checkpoint(directory: str, newest: int) -> None:
    """Removes the checkpoint and warm-start weights of the round before ``newest``."""
    if newest == 0:
        return
    previous = os.path.join(directory, f"round_{newest - 1}")
    for name in ("checkpoints", round_training.WEIGHTS_DIR):
        shutil.rmtree(os.path.join(previous, name), ignore_errors=True)


def _check_loop_identity(
    directory: str,
    settings: ActiveSettings,
    base_config: ml_collections.ConfigDict,
    strategy: str,
    seed: int,
) -> None:
    """Writes ``loop.json`` in a new loop folder; raises ``UserError`` when an existing one
    was started with other settings (its rounds would not continue this loop)."""
    identity = json.loads(json.dumps({
        "strategy": strategy,
        "seed": seed,
        "settings": settings.loop_identity(),
        "train_config": base_config.to_dict(),
    }, default=list))
    path = os.path.join(directory, LOOP_FILE)
    if os.path.isfile(path):
        with open(path) as f:
            saved = json.load(f)
        if saved != identity:
            changed = sorted(
                key for key in set(saved["settings"]) | set(identity["settings"])
                if saved["settings"].get(key) != identity["settings"].get(key)
            ) or ["train_config"]
            raise UserError(
                f"{directory} holds a loop started with other settings ({changed[0]} "
                f"differs); use a new --workdir or the settings it was started with"
            )
        return
    with open(path, "w") as f:
        json.dump(identity, f, indent=1)
