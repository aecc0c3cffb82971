"""The training loop of a population (``config.train.population = N``, see
train/population_plan.py): N members, member i the run with seed ``config.seed + i``,
trained by one jitted step vmapped over members (train/population_step.py).

Member i starts from exactly the state a separate run with its seed starts from (the
same ``RunPlan.init_state`` of its config; states stacked on a leading member axis),
reads exactly its batches (its own ``TrainIterator``) and draws exactly its random
numbers (its own base key), so its parameters follow the separate run's (to float
rounding: batched matmuls may sum in another order). Every member is evaluated every
``train.eval_every_epochs`` epochs and at the end on the validation and test splits, and
writes its metrics and test report into its own folder (``members/seed_S``). Checkpoints
hold the stacked state and every member's data position; resuming continues all members.

With ``train.population_hparams`` members may also differ in ``optim.lr`` and
``optim.weight_decay``: each member's optimizer state is then made by
``build_injected_optimizer`` from its own config (the two values are leaves of the
state, vmapped like the moments), so member i updates as the separate run with its values.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from mixer_vit import parallel
from mixer_vit.run_plots.tensorboard_images import write_end_of_run_images
from mixer_vit.train.checkpoints import Checkpointer
from mixer_vit.train.device_batches import DeviceBatches
from mixer_vit.errors import UserError
from mixer_vit.optim import build_schedule
from mixer_vit.optim.injected import build_injected_optimizer
from mixer_vit.train.metrics_writer import MetricsWriter
from mixer_vit.train.open_set_report import UnknownPredictions
from mixer_vit.train.plan import RunPlan
from mixer_vit.train.population_data import PopulationBatches
from mixer_vit.train.population_metrics import PopulationMetrics
from mixer_vit.train.population_plan import (
    Member,
    member_config,
    member_workdir,
    population_members,
)
from mixer_vit.train.population_step import (
    make_population_eval_step,
    make_population_train_step,
    shard_population_batch,
)
from mixer_vit.train.step_metrics import NonFiniteStep, non_finite_error
from mixer_vit.train.test_report import build_report, write_report
from mixer_vit.train.train_classes import trained_class_counts

log = logging.getLogger(__name__)


def member_plan(plan: RunPlan, member: Member | int) -> RunPlan:
    """The plan of the separate run ``member`` (a ``Member`` or a seed) equals; with
    per-member values its schedule and (injected) optimizer are built from its config."""
    config = member_config(plan.config, member)
    if not isinstance(member, Member) or not member.hparams:
        return dataclasses.replace(plan, config=config, population=0)
    accumulation = plan.step_options.accumulation_steps
    return dataclasses.replace(
        plan,
        config=config,
        population=0,
        schedule=build_schedule(config.optim, plan.total_steps, plan.steps_per_epoch),
        tx=build_injected_optimizer(
            config.optim, plan.total_steps, plan.steps_per_epoch, accumulation_steps=accumulation
        ),
    )


def member_entry(member: Member) -> dict:
    """How results and checkpoints name a member: its ``seed``, its ``folder`` under
    ``members/`` and, when members differ in more than the seed, its ``hparams``."""
    entry = {"seed": member.seed, "folder": member.folder}
    if member.hparams:
        entry["hparams"] = dict(member.hparams)
    return entry


def _check_same_members(ckpt: Checkpointer, start_step: int, members: list[Member],
                        workdir: str) -> None:
    """A resumed population must have the members its checkpoint was saved with."""
    saved = ckpt.read_meta(start_step).get("members")
    wanted = [member_entry(m) for m in members]
    if saved is not None and saved != wanted:
        raise UserError(
            f"workdir {workdir} holds a population of other members "
            f"({', '.join(m['folder'] for m in saved)}); use a new --workdir or the same "
            f"seed and train.population_hparams (nothing was changed)"
        )


def train_population(plan: RunPlan, workdir: str, ckpt: Checkpointer, start_step: int) -> dict:
    """Trains the population of ``plan`` in ``workdir`` from ``start_step``; returns the
    mean over members of the test ``accuracy``, ``loss`` (``count``: per member),
    ``steps``, and ``members``: each member's test metrics with its ``member_entry``."""
    population = population_members(plan.config)
    if start_step:
        _check_same_members(ckpt, start_step, population, workdir)
    members = [member_plan(plan, member) for member in population]
    for member, run in zip(population, members):
        folder = member_workdir(workdir, member)
        os.makedirs(folder, exist_ok=True)
        if not os.path.isfile(os.path.join(folder, "config.json")):
            with open(os.path.join(folder, "config.json"), "w") as f:
                f.write(run.config.to_json_best_effort(indent=2))
    writers = [MetricsWriter(member_workdir(workdir, member)) for member in population]
    try:
        return _Population(plan, population, members, workdir, ckpt, writers).train(start_step)
    finally:
        for writer in writers:
            writer.close()


def _stack(trees):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


class _Population:
    def __init__(self, plan: RunPlan, population: list[Member], members: list[RunPlan],
                 workdir: str, ckpt, writers):
        self.plan, self.population, self.members, self.workdir, self.ckpt, self.writers = (
            plan, population, members, workdir, ckpt, writers
        )
        self.seeds = [m.seed for m in population]
        self.meta = {"model": plan.model_identity(), "population": len(members),
                     "seeds": self.seeds, "members": [member_entry(m) for m in population]}
        self.metrics = PopulationMetrics(len(members))
        keys = jnp.stack([jax.random.fold_in(jax.random.PRNGKey(s), 1) for s in self.seeds])
        self.train_step = make_population_train_step(
            plan.model, plan.tx, plan.mesh, base_rngs=keys, options=plan.step_options
        )
        self.eval_step = make_population_eval_step(
            plan.model, plan.mesh, use_ema=plan.evaluate_with_ema
        )
        host = PopulationBatches([m.train_batches() for m in members])
        self.batches = DeviceBatches(
            host, plan.mesh, plan.reading.device_prefetch, place=shard_population_batch
        )
        self.state = jax.device_put(
            _stack([m.init_state() for m in members]), parallel.replicated(plan.mesh)
        )
        self.window_start = time.perf_counter()

    def train(self, start_step: int) -> dict:
        plan, config = self.plan, self.plan.config
        if start_step:
            self.state, saved = self.ckpt.restore(start_step, self.state)
            self.batches.set_state(saved["iterator"])
            log.info("resumed the population from step %d in %s", start_step, self.workdir)
        last_step = plan.last_step(start_step)
        bar = tqdm(total=plan.total_steps, initial=start_step, desc=f"train x{len(self.seeds)}",
                   unit="step", dynamic_ncols=True, mininterval=1.0)
        step, self.window_start = start_step, time.perf_counter()
        try:
            for step in range(start_step + 1, last_step + 1):
                wait_start = time.perf_counter()
                batch = next(self.batches)
                data_wait_ms = 1000.0 * (time.perf_counter() - wait_start)
                self.state, metrics = self.train_step(self.state, batch)
                self.metrics.add(step, metrics, data_wait_ms=data_wait_ms)
                bar.update(1)
                if step % config.train.log_every_steps == 0 or step == last_step:
                    bar.set_postfix(self.log_train(step))
                if step % (plan.steps_per_epoch * plan.eval_every_epochs) == 0:
                    self.evaluate_epoch(step)
                if self.ckpt.should_save(step) or step == last_step:
                    self.checkpoint(step)
        finally:
            bar.close()
        return self.finish(step)

    def _sync(self, fetch):
        try:
            return fetch()
        except NonFiniteStep as bad:
            member = bad.values.pop("member")
            error = non_finite_error(bad, self.ckpt, self.ckpt.directory)
            raise type(error)(f"member {self.population[member].describe()}: {error}") from None

    def log_train(self, step: int) -> dict[str, str]:
        summaries = self._sync(self.metrics.summaries)
        elapsed = max(time.perf_counter() - self.window_start, 1e-9)
        for writer, summary, member in zip(self.writers, summaries, self.members):
            # each member trained global_batch_size images per step in this window
            summary["img_per_s"] = summary.pop("steps") * self.plan.global_batch_size / elapsed
            summary["lr"] = float(member.schedule(step))
            writer.write(step, "train", summary)
        self.window_start = time.perf_counter()
        mean = lambda key: float(np.mean([s[key] for s in summaries]))  # noqa: E731
        return {"loss": f"{mean('loss'):.4f}", "acc": f"{mean('accuracy'):.3f}",
                "img_s": f"{mean('img_per_s') * len(summaries):.0f}"}

    def evaluate_epoch(self, step: int) -> None:
        split = self.plan.config.data.eval_split
        results = self.evaluate_split(split)
        for writer, result in zip(self.writers, results):
            writer.write(step, split, result)
        accuracies = " ".join(f"{r['accuracy']:.4f}" for r in results)
        tqdm.write(f"epoch {step // self.plan.steps_per_epoch}: {split} accuracy {accuracies}")
        if self.plan.step_options.plateau:
            losses = np.asarray([r["loss"] for r in results], np.float32)
            value = jax.device_put(losses, parallel.replicated(self.plan.mesh))
            self.state = self.state.replace(plateau_value=value)

    def evaluate_split(self, split: str, predictions: list | None = None) -> list[dict]:
        """Each member's metrics of ``split``; with ``predictions`` (a list of N lists),
        member i's ``(probs [n, K], labels [n])`` batches are appended to its list."""
        return evaluate_population(
            self.state, self.eval_step, self.plan.eval_batches(split), self.plan.mesh,
            len(self.seeds), predictions,
        )

    def checkpoint(self, step: int) -> None:
        self._sync(self.metrics.sync)
        self.ckpt.save(step, self.state, {"iterator": self.batches.get_state()}, self.meta)

    def finish(self, step: int) -> dict:
        plan, config = self.plan, self.plan.config
        if step < plan.total_steps:
            log.info("halted after step %d of %d; run the same command again to resume",
                     step, plan.total_steps)
            return {"steps": step, "halted": True}
        n = len(self.seeds)
        validation, test = [[] for _ in range(n)], [[] for _ in range(n)]
        self.evaluate_split(config.data.eval_split, validation)
        results = self.evaluate_split(config.data.test_split, test)
        counts = trained_class_counts(plan)
        unknown = [None] * n
        if plan.open_set:  # each member's predictions of the held-out classes' images
            unknown = [UnknownPredictions(plan.open_set.unknown) for _ in range(n)]
            for split, part in ((config.data.eval_split, "validation"),
                                (config.data.test_split, "test")):
                evaluate_population(self.state, self.eval_step, plan.unknown_batches(split),
                                    plan.mesh, n, [getattr(u, part) for u in unknown])
        for i, member in enumerate(self.population):
            self.writers[i].write(step, config.data.test_split, results[i])
            report = build_report(validation[i], test[i], counts, unknown=unknown[i])
            folder = member_workdir(self.workdir, member)
            write_report(report, folder)
            if config.train.get("end_of_run_images", True):
                write_end_of_run_images(self.writers[i], folder, step)
        entries = [{**member_entry(m), **r} for m, r in zip(self.population, results)]
        with open(os.path.join(self.workdir, "population_results.json"), "w") as f:
            json.dump({"steps": step, "members": entries}, f, indent=1)
        return {
            "accuracy": float(np.mean([r["accuracy"] for r in results])),
            "loss": float(np.mean([r["loss"] for r in results])),
            "count": results[0]["count"],
            "steps": step,
            "members": entries,
        }


def evaluate_population(state, eval_step, batches, mesh, size: int,
                        predictions: list | None = None) -> list[dict]:
    """``evaluate`` (train/evaluate.py) for a stacked state: every member on the same
    padded batches; one metrics dict per member (one process only)."""
    keys = ("correct", "correct_top5", "loss_sum", "count")
    totals = {key: np.zeros(size) for key in keys}
    for batch in batches:
        global_batch = parallel.shard_batch(batch, mesh)
        out = eval_step(state, global_batch)
        sums = jax.device_get({k: out[k] for k in keys})
        for key in keys:
            totals[key] += np.asarray(sums[key], np.float64)
        if predictions is not None:
            probs = np.asarray(out["probs"])
            real = np.asarray(batch["mask"]) > 0
            labels = np.asarray(batch["label"])[real]
            for i in range(size):
                predictions[i].append((probs[i][real], labels))
    results = []
    for i in range(size):
        count = totals["count"][i]
        if count == 0:
            results.append({"accuracy": float("nan"), "accuracy_top5": float("nan"),
                            "loss": float("nan"), "count": 0})
            continue
        results.append({
            "accuracy": float(totals["correct"][i] / count),
            "accuracy_top5": float(totals["correct_top5"][i] / count),
            "loss": float(totals["loss_sum"][i] / count),
            "count": int(count),
        })
    return results
