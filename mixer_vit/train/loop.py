"""The training loop, top to bottom: plan, resume, then per step: train, log, evaluate,
checkpoint, stop; finally the test evaluation and report (and its plots and the model's
pictures as TensorBoard images: run_plots/tensorboard_images.py,
model_views/tensorboard_views.py).

Everything the run needs is derived once by ``plan_run`` (train/plan.py). The loop keeps
the host ahead of the device: a step's metrics stay on the device (``StepMetrics``) and
are fetched at log steps and before checkpoints only, where the non-finite check runs;
the next batches are copied to the devices while the current step runs
(``DeviceBatches``).

Multi-process runs: every process runs this loop on its slice of each batch; process 0
alone shows the progress bar, prints, and writes config.json, metrics and the test
report; checkpoints are written by all processes together (orbax).
"""

from __future__ import annotations

import json
import logging
import os
import time

import jax
import ml_collections
import numpy as np
from tqdm import tqdm

from mixer_vit import parallel
from mixer_vit.errors import UserError
from mixer_vit.model_views.tensorboard_views import write_model_views
from mixer_vit.run_plots.tensorboard_images import write_end_of_run_images
from mixer_vit.train.checkpoints import Checkpointer
from mixer_vit.train.device_batches import DeviceBatches
from mixer_vit.train.early_stopping import EarlyStopping
from mixer_vit.train.early_stopping_report import early_stopping_section
from mixer_vit.train.evaluate import evaluate
from mixer_vit.train.metrics_writer import MetricsWriter
from mixer_vit.train.open_set_report import UnknownPredictions
from mixer_vit.train.plan import RunPlan, open_checkpointer, plan_run
from mixer_vit.train.sharpness import measure_sharpness
from mixer_vit.train.step import make_eval_step, make_train_step
from mixer_vit.train.step_metrics import NonFiniteStep, StepMetrics, non_finite_error
from mixer_vit.train.teacher import load_teacher
from mixer_vit.train.test_report import build_report, summary_line, write_report
from mixer_vit.train.train_classes import trained_class_counts

log = logging.getLogger(__name__)

__all__ = ["check_resumable", "open_checkpointer", "train_and_evaluate"]


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Trains ``config`` in ``workdir`` (resuming from its latest checkpoint) and returns the
    final test metrics (``accuracy``, ``loss``, ``count``) plus ``steps``."""
    plan = plan_run(config)  # every bad value raises here, before anything is written
    teacher = None
    if plan.step_options.distillation != "none":
        teacher = load_teacher(
            config.distill.teacher_workdir, plan.model.num_classes, plan.image_shape
        )
    ckpt = plan.open_checkpointer(workdir)
    start_step = check_resumable(ckpt, plan, workdir)
    os.makedirs(workdir, exist_ok=True)
    _write_config(config, workdir, resuming=start_step > 0)
    if plan.population:  # N seeds in one vmapped step (train/population_loop.py)
        from mixer_vit.train.population_loop import train_population

        try:
            return train_population(plan, workdir, ckpt, start_step)
        finally:
            ckpt.wait()
            ckpt.close()
    writer = MetricsWriter(workdir)
    try:
        return _Run(plan, workdir, ckpt, writer, teacher).train(start_step)
    finally:
        ckpt.wait()
        ckpt.close()
        writer.close()


class _Run:
    """One training invocation: the plan, the compiled steps and the state that changes."""

    def __init__(
        self,
        plan: RunPlan,
        workdir: str,
        ckpt: Checkpointer,
        writer: MetricsWriter,
        teacher: tuple | None = None,
    ):
        config = plan.config
        self.plan, self.config, self.workdir, self.ckpt, self.writer = (
            plan, config, workdir, ckpt, writer
        )
        self.stopper = _early_stopper(config)
        self.best = Checkpointer(os.path.join(workdir, "best"), 1, 1) if self.stopper else None
        self.stopped_early = False
        self.meta = {"model": plan.model_identity()}
        self.metrics = StepMetrics()
        self.window_start = time.perf_counter()  # start of the current logging window
        self.say = tqdm.write if jax.process_index() == 0 else (lambda message: None)
        teacher_model, self.step_args = None, ()
        if teacher is not None:  # (model, variables) of a distillation teacher
            teacher_model, teacher_variables = teacher
            self.step_args = (jax.device_put(teacher_variables, parallel.replicated(plan.mesh)),)
        self.train_step = make_train_step(
            plan.model,
            plan.tx,
            plan.mesh,
            base_rng=jax.random.fold_in(jax.random.PRNGKey(config.seed), 1),
            options=plan.step_options,
            teacher_model=teacher_model,
            state_sharding=plan.state_sharding(),
        )
        self.eval_step = make_eval_step(
            plan.model,
            plan.mesh,
            use_ema=plan.evaluate_with_ema,
            state_sharding=plan.state_sharding(),
        )
        self.batches = DeviceBatches(
            plan.train_batches(), plan.mesh, plan.reading.device_prefetch
        )
        self.state = plan.init_state()

    def train(self, start_step: int) -> dict[str, float]:
        plan = self.plan
        self.resume(start_step)
        last_step = plan.last_step(start_step)
        bar = tqdm(total=plan.total_steps, initial=start_step, desc="train", unit="step",
                   dynamic_ncols=True, mininterval=1.0, disable=jax.process_index() != 0)
        step, self.window_start = start_step, time.perf_counter()
        try:
            for step in range(start_step + 1, last_step + 1) if not self.stopped_early else ():
                self.run_train_step(step)
                bar.update(1)
                if step % self.config.train.log_every_steps == 0 or step == last_step:
                    bar.set_postfix(self.log_train(step))
                if step % (plan.steps_per_epoch * plan.eval_every_epochs) == 0:
                    self.evaluate_epoch(step)
                if self.ckpt.should_save(step) or step == last_step or self.stopped_early:
                    self.checkpoint(self.ckpt, step)
                if self.stopped_early:
                    self.say(f"early stopping at step {step}: no {self.config.data.eval_split} "
                             f"{self.config.early_stopping.metric} gain for "
                             f"{self.stopper.patience} evaluations; best at step "
                             f"{self.stopper.best_step}")
                    break
        finally:
            bar.close()
        return self.finish(step)

    # -- resume ------------------------------------------------------------------------
    def resume(self, start_step: int) -> None:
        if not start_step:
            return
        self.state, saved = self.ckpt.restore(start_step, self.state)
        self.batches.set_state(_iterator_state_for_this_process(saved["iterator"]))
        if self.stopper:
            self.stopper.restore(saved["early_stopping"])
        self.stopped_early = bool(saved.get("stopped_early", False))
        log.info("resumed from step %d in %s", start_step, self.workdir)

    # -- train step: dispatched, never waited for ----------------------------------------
    def run_train_step(self, step: int) -> None:
        wait_start = time.perf_counter()
        batch = next(self.batches)  # time spent here = the step waiting for input
        data_wait_ms = 1000.0 * (time.perf_counter() - wait_start)
        self.state, metrics = self.train_step(self.state, batch, *self.step_args)
        self.metrics.add(step, metrics, data_wait_ms=data_wait_ms)

    # -- log: the one place train metrics come to the host -------------------------------
    def log_train(self, step: int) -> dict[str, str]:
        summary = self._sync(lambda: self.metrics.summary())
        elapsed = time.perf_counter() - self.window_start
        summary["img_per_s"] = summary.pop("steps") * self.plan.global_batch_size / max(
            elapsed, 1e-9
        )
        summary["lr"] = float(self.plan.schedule(step))
        self.writer.write(step, "train", summary)
        self.window_start = time.perf_counter()
        return {"loss": f"{summary['loss']:.4f}", "acc": f"{summary['accuracy']:.3f}",
                "img_s": f"{summary['img_per_s']:.0f}"}

    # -- evaluate at the end of every epoch ----------------------------------------------
    def evaluate_epoch(self, step: int) -> None:
        split = self.config.data.eval_split
        val = self.evaluate_split(split)
        self.writer.write(step, split, val)
        self.say(f"epoch {step // self.plan.steps_per_epoch}: {split} accuracy "
                 f"{val['accuracy']:.4f} loss {val['loss']:.4f}")
        if self.plan.step_options.plateau:
            value = jax.device_put(np.float32(val["loss"]), parallel.replicated(self.plan.mesh))
            self.state = self.state.replace(plateau_value=value)
        if self.stopper:
            improved, self.stopped_early = self.stopper.update(
                val[self.config.early_stopping.metric], step
            )
            if improved:
                self.checkpoint(self.best, step)

    def evaluate_split(self, split: str, predictions: list | None = None) -> dict[str, float]:
        batches = self.plan.eval_batches(split)
        return evaluate(self.state, self.eval_step, batches, self.plan.mesh, predictions)

    def evaluate_unknown(self) -> UnknownPredictions:
        """The held-out classes' validation and test images through the model (open set)."""
        unknown = UnknownPredictions(self.plan.open_set.unknown)
        for split, predictions in ((self.config.data.eval_split, unknown.validation),
                                   (self.config.data.test_split, unknown.test)):
            batches = self.plan.unknown_batches(split)
            evaluate(self.state, self.eval_step, batches, self.plan.mesh, predictions)
        return unknown

    # -- checkpoint: only states whose steps were all finite -----------------------------
    def checkpoint(self, checkpointer: Checkpointer, step: int) -> None:
        self._sync(self.metrics.sync)
        loop_state = {
            "iterator": self.batches.get_state(),
            "stopped_early": self.stopped_early,
            "early_stopping": self.stopper.state() if self.stopper else None,
        }
        checkpointer.save(step, self.state, loop_state, self.meta)

    def _sync(self, fetch):
        """Runs ``fetch`` (a metrics sync); a non-finite step becomes a ``UserError`` after
        the checkpoints its parameters reached are removed."""
        try:
            return fetch()
        except NonFiniteStep as bad:
            if self.best:
                self.best.wait()
            raise non_finite_error(bad, self.ckpt, self.ckpt.directory) from None

    # -- stop: halted, or the final evaluation and test report ---------------------------
    def finish(self, step: int) -> dict[str, float]:
        plan, best = self.plan, self.best
        if step < plan.total_steps and not self.stopped_early:
            log.info("halted after step %d of %d; run the same command again to resume",
                     step, plan.total_steps)
            if best:
                best.close()
            return {"steps": step, "halted": True}
        test_last = None
        if best:  # the last state's test result first, then the best-validation state
            test_last = self.evaluate_split(self.config.data.test_split)
            best.wait()
            self.state, _ = best.restore(best.latest_step(), self.state)
            best.close()
        validation_predictions, test_predictions = [], []
        self.evaluate_split(self.config.data.eval_split, validation_predictions)
        test = self.evaluate_split(self.config.data.test_split, test_predictions)
        self.writer.write(step, self.config.data.test_split, test)
        unknown = self.evaluate_unknown() if plan.open_set else None
        sharpness = measure_sharpness(plan, self.state)  # None unless sharpness.examples > 0
        if jax.process_index() == 0:
            report = build_report(
                validation_predictions, test_predictions, trained_class_counts(plan),
                unknown=unknown,
            )
            if sharpness:
                report["sharpness"] = sharpness
            if test_last is not None:
                report["early_stopping"] = early_stopping_section(
                    best_step=self.stopper.best_step, stopped_step=step,
                    steps_per_epoch=plan.steps_per_epoch, stopped_early=self.stopped_early,
                    test_best=test, test_last=test_last)
            write_report(report, self.workdir)
            log.info("test report: %s (%s)", summary_line(report),
                     os.path.join(self.workdir, "test_report.json"))
            if self.config.train.get("end_of_run_images", True):
                write_end_of_run_images(self.writer, self.workdir, step)
                write_model_views(self.writer, plan, self.state, step)
        evaluated = self.stopper.best_step if self.stopper else step
        return {**test, "steps": step, "evaluated_step": evaluated}


def check_resumable(ckpt: Checkpointer, plan: RunPlan, workdir: str) -> int:
    """Returns the step to resume from (0 for a fresh run); raises ``UserError`` when the
    workdir's checkpoint belongs to another model (or class count, or image shape), or
    to a population of another size, before anything is written."""
    latest = ckpt.latest_step()
    if latest is None:
        return 0
    meta = ckpt.read_meta(latest)
    saved_population = meta.get("population", 0)
    if saved_population != plan.population:
        raise UserError(
            f"workdir {workdir} holds a checkpoint of a population of {saved_population} "
            f"(0: an ordinary run), but train.population is {plan.population}; use a new "
            f"--workdir or the same train.population (nothing was changed)"
        )
    saved = meta.get("model")
    saved_identity = {k: v for k, v in (saved or {}).items() if k not in ("dtype", "kernels")}
    wanted = plan.model_identity()
    if saved_identity != wanted:
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
