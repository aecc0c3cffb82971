"""The training loop: resume, train with a progress bar, evaluate, log, checkpoint.

Multi-process runs: every process runs this loop on its slice of each batch; process 0
alone shows the progress bar, prints, and writes config.json, metrics and the test
report; checkpoints are written by all processes together (orbax).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time

import jax
import ml_collections
import numpy as np
from tqdm import tqdm

from mixer_vit import data, parallel
from mixer_vit.errors import UserError
from mixer_vit.train.checkpoints import Checkpointer
from mixer_vit.train.early_stopping import EarlyStopping
from mixer_vit.train.evaluate import evaluate
from mixer_vit.train.metrics_writer import MetricsWriter
from mixer_vit.train.setup import RunSetup, prepare
from mixer_vit.train.step import make_eval_step, make_train_step
from mixer_vit.train.teacher import load_teacher
from mixer_vit.train.test_report import build_report, summary_line, write_report

log = logging.getLogger(__name__)


def open_checkpointer(config: ml_collections.ConfigDict, workdir: str) -> Checkpointer:
    return Checkpointer(
        os.path.join(workdir, "checkpoints"),
        config.train.checkpoint_every_steps,
        config.train.max_checkpoints_to_keep,
    )


def check_resumable(ckpt: Checkpointer, run: RunSetup, workdir: str) -> int:
    """Returns the step to resume from (0 for a fresh run); raises ``UserError`` when the
    workdir's checkpoint belongs to another model (or class count, or image shape),
    before anything is written."""
    latest = ckpt.latest_step()
    if latest is None:
        return 0
    saved = ckpt.read_meta(latest).get("model")
    wanted = run.model_identity()
    if saved != wanted:
        raise UserError(
            f"workdir {workdir} holds a checkpoint of model {json.dumps(saved)}, but the "
            f"config asks for {json.dumps(wanted)}; use a new --workdir (nothing was changed)"
        )
    return latest


def _write_config(config: ml_collections.ConfigDict, workdir: str, resuming: bool) -> None:
    """Keeps the first run's config.json; a resumed run records its own next to it."""
    if jax.process_index() != 0:
        return
    name = "config.json" if not resuming else f"config.resumed_{int(time.time())}.json"
    with open(os.path.join(workdir, name), "w") as f:
        f.write(config.to_json_best_effort(indent=2))


def _is_finite(metrics: dict[str, float]) -> bool:
    return math.isfinite(metrics["loss"]) and math.isfinite(metrics["grad_norm"])


def _stop_on_non_finite(ckpt: Checkpointer, step: int, metrics: dict[str, float]) -> None:
    """Raises ``UserError`` for a non-finite loss or gradient at ``step``.

    The parameters that produced it are those after step ``step - 1``; a checkpoint of that
    step would only diverge again on resume, so it is removed and the resume point is the
    checkpoint before it.
    """
    ckpt.wait()
    removed = ""
    if ckpt.latest_step() == step - 1:
        ckpt.delete(step - 1)
        removed = f"removed the checkpoint of step {step - 1} whose parameters gave it; "
    good = ckpt.latest_step()
    raise UserError(
        f"loss became non-finite at step {step} (loss={metrics['loss']:.4g}, grad_norm="
        f"{metrics['grad_norm']:.4g}); {removed}the last good checkpoint is "
        f"{f'step {good}' if good is not None else 'none'} in {ckpt.directory}; lower "
        f"--config.optim.lr or set --config.optim.grad_clip_norm"
    )


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Trains ``config`` in ``workdir`` (resuming from its latest checkpoint) and returns the
    final test metrics (``accuracy``, ``loss``, ``count``) plus ``steps``."""
    run = prepare(config)
    teacher = None
    if run.step_options.distillation != "none":
        teacher = load_teacher(
            config.distill.teacher_workdir, run.model.num_classes, run.image_shape
        )
    ckpt = open_checkpointer(config, workdir)
    start_step = check_resumable(ckpt, run, workdir)
    os.makedirs(workdir, exist_ok=True)
    _write_config(config, workdir, resuming=start_step > 0)
    writer = MetricsWriter(workdir)
    try:
        return _train(run, config, workdir, ckpt, writer, start_step, teacher)
    finally:
        ckpt.wait()
        ckpt.close()
        writer.close()


def _iterator_state_for_this_process(saved: dict) -> dict:
    """The saved data-iterator state, for this process's slice.

    The checkpoint's data item is written by process 0 alone; its position (the step) holds
    for every process, as a batch is a pure function of the step and the global batch size,
    so each process reads on from the same step with its own index and count.
    """
    return {**saved, "process_index": jax.process_index(), "process_count": jax.process_count()}


def _early_stopper(config: ml_collections.ConfigDict) -> EarlyStopping | None:
    es = config.early_stopping
    if not es.patience:
        return None
    mode = "max" if es.metric == "accuracy" else "min"
    return EarlyStopping(patience=es.patience, min_delta=es.min_delta, mode=mode)


def _train(
    run: RunSetup,
    config,
    workdir: str,
    ckpt: Checkpointer,
    writer: MetricsWriter,
    start_step: int,
    teacher: tuple | None,
) -> dict[str, float]:
    batch_size = config.train.global_batch_size
    augment, train_preprocess = run.train_pipeline()
    train_iter = data.train_batches(
        run.open_split(config.data.train_split),
        global_batch_size=batch_size,
        seed=config.seed,
        preprocess=train_preprocess,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
        augment=augment,
        repeats=config.data.augment.repeats,
    )
    stopper = _early_stopper(config)
    stopped_early = False
    state = run.init_state()
    if start_step:
        state, saved = ckpt.restore(start_step, state)
        train_iter.set_state(_iterator_state_for_this_process(saved["iterator"]))
        if stopper:
            stopper.restore(saved["early_stopping"])
        stopped_early = bool(saved.get("stopped_early", False))
        log.info("resumed from step %d in %s", start_step, workdir)

    def loop_state() -> dict:
        return {
            "iterator": train_iter.get_state(),
            "stopped_early": stopped_early,
            "early_stopping": stopper.state() if stopper else None,
        }

    replicated = parallel.replicated(run.mesh)
    teacher_model, step_args = None, ()
    if teacher is not None:
        teacher_model, teacher_variables = teacher
        step_args = (jax.device_put(teacher_variables, replicated),)
    meta = {"model": run.model_identity()}
    base_rng = jax.random.fold_in(jax.random.PRNGKey(config.seed), 1)
    state_sharding = run.state_sharding()
    train_step = make_train_step(
        run.model,
        run.tx,
        run.mesh,
        base_rng=base_rng,
        options=run.step_options,
        teacher_model=teacher_model,
        state_sharding=state_sharding,
    )
    eval_step = make_eval_step(
        run.model, run.mesh, use_ema=run.evaluate_with_ema, state_sharding=state_sharding
    )
    best = Checkpointer(os.path.join(workdir, "best"), 1, max_to_keep=1) if stopper else None

    def run_eval(split: str, predictions: list | None = None) -> dict[str, float]:
        batches = data.eval_batches(
            run.open_split(split),
            global_batch_size=batch_size,
            preprocess=run.eval_preprocess(),
            process_index=jax.process_index(),
            process_count=jax.process_count(),
        )
        return evaluate(state, eval_step, batches, run.mesh, predictions)

    last_step = run.total_steps
    if config.train.halt_after_steps:
        last_step = min(last_step, start_step + config.train.halt_after_steps)
    bar = tqdm(
        total=run.total_steps,
        initial=start_step,
        desc="train",
        unit="step",
        dynamic_ncols=True,
        mininterval=1.0,
        disable=jax.process_index() != 0,
    )
    say = bar.write if jax.process_index() == 0 else lambda message: None
    window, window_start = [], time.perf_counter()
    step = start_step
    remaining = range(start_step + 1, last_step + 1) if not stopped_early else range(0)
    for step in remaining:
        wait_start = time.perf_counter()
        host_batch = next(train_iter)  # time spent here = the step waiting for input
        data_wait = time.perf_counter() - wait_start
        batch = parallel.shard_batch(host_batch, run.mesh)
        state, metrics = train_step(state, batch, *step_args)
        metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
        metrics["data_wait_ms"] = 1000.0 * data_wait
        if not _is_finite(metrics):
            bar.close()
            _stop_on_non_finite(ckpt, step, metrics)
        window.append(metrics)
        bar.update(1)
        if step % config.train.log_every_steps == 0 or step == last_step:
            elapsed = time.perf_counter() - window_start
            summary = {k: float(np.mean([m[k] for m in window])) for k in window[0]}
            summary["img_per_s"] = len(window) * batch_size / max(elapsed, 1e-9)
            summary["lr"] = float(run.schedule(step))
            writer.write(step, "train", summary)
            bar.set_postfix(
                loss=f"{summary['loss']:.4f}",
                acc=f"{summary['accuracy']:.3f}",
                img_s=f"{summary['img_per_s']:.0f}",
            )
            window, window_start = [], time.perf_counter()
        if step % run.steps_per_epoch == 0:
            val = run_eval(config.data.eval_split)
            writer.write(step, config.data.eval_split, val)
            say(
                f"epoch {step // run.steps_per_epoch}: {config.data.eval_split} "
                f"accuracy {val['accuracy']:.4f} loss {val['loss']:.4f}"
            )
            if run.step_options.plateau:
                state = state.replace(
                    plateau_value=jax.device_put(np.float32(val["loss"]), replicated)
                )
            if stopper:
                improved, stopped_early = stopper.update(val[config.early_stopping.metric], step)
                if improved:
                    best.save(step, state, loop_state(), meta)
        if ckpt.should_save(step) or step == last_step or stopped_early:
            ckpt.save(step, state, loop_state(), meta)
        if stopped_early:
            say(
                f"early stopping at step {step}: no {config.data.eval_split} "
                f"{config.early_stopping.metric} gain for {stopper.patience} evaluations; "
                f"best at step {stopper.best_step}"
            )
            break
    bar.close()
    if step < run.total_steps and not stopped_early:
        log.info(
            "halted after step %d of %d; run the same command again to resume",
            step,
            run.total_steps,
        )
        if best:
            best.close()
        return {"steps": step, "halted": True}
    if best:
        best.wait()
        state, _ = best.restore(best.latest_step(), state)
        best.close()
    validation_predictions, test_predictions = [], []
    run_eval(config.data.eval_split, validation_predictions)
    test = run_eval(config.data.test_split, test_predictions)
    writer.write(step, config.data.test_split, test)
    if jax.process_index() == 0:
        report = build_report(validation_predictions, test_predictions)
        write_report(report, workdir)
        log.info(
            "test report: %s (%s)", summary_line(report), os.path.join(workdir, "test_report.json")
        )
    return {**test, "steps": step, "evaluated_step": stopper.best_step if stopper else step}
