"""Running the planned runs: skip those with a summary, collect those whose workdir is
finished, launch the rest (``jobs`` at once), and write each summary as its run lands.

A launch is any blocking ``launch(run, log_path) -> exit status``; the default starts
``python -m mixer_vit.cli train ...`` with the run's output appended to
``WORKDIR/train.log``. The train command resumes from the latest checkpoint in its
workdir, so relaunching an interrupted run continues it.

``execute_populations`` does the same for population runs (``--population``): one launch
per arm trains all its seeds; each member folder is then collected as a run.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Callable

from tqdm import tqdm

from mixer_vit.errors import UserError
from mixer_vit.experiment import run_summary, workdir_results
from mixer_vit.experiment.plan import PlannedRun
from mixer_vit.experiment.population import PopulationRun

Launch = Callable[[PlannedRun, str], int]


def launch_train_process(run: PlannedRun, log_path: str) -> int:
    """Runs the train command of ``run`` as a child process; returns its exit status."""
    with open(log_path, "a") as log:
        log.write(f"$ {run.shell_line()}\n")
        log.flush()
        return subprocess.call(run.process_arguments(), stdout=log, stderr=subprocess.STDOUT)


@dataclasses.dataclass
class Outcome:
    run: PlannedRun
    status: str  # "skipped" | "collected" | "trained" | "failed"
    summary: dict | None = None
    detail: str = ""


def log_path(run: PlannedRun) -> str:
    return os.path.join(run.workdir, "train.log")


def _last_line(path: str) -> str:
    try:
        with open(path) as f:
            lines = [line.strip() for line in f if line.strip()]
    except OSError:
        return ""
    return lines[-1][-200:] if lines else ""


def _accuracy_text(summary: dict) -> str:
    accuracy = summary.get("test_accuracy")
    return f"test accuracy {accuracy:.4f}" if accuracy is not None else "no test accuracy"


class _Runner:
    def __init__(self, experiment: str, results_dir: str, launch: Launch, model_cost):
        self.experiment, self.results_dir = experiment, results_dir
        self.launch, self.model_cost = launch, model_cost

    def collect(self, run: PlannedRun, status: str) -> Outcome:
        summary = run_summary.build_summary(self.experiment, run, self.model_cost)
        run_summary.write_summary(self.results_dir, run, summary)
        return Outcome(run, status, summary)

    def train(self, run: PlannedRun) -> Outcome:
        os.makedirs(run.workdir, exist_ok=True)
        started = time.time()
        returncode = self.launch(run, log_path(run))
        workdir_results.record_attempt(run.workdir, started, time.time() - started, returncode)
        if returncode == 0 and workdir_results.is_finished(run.workdir):
            return self.collect(run, "trained")
        detail = f"exit status {returncode}; {log_path(run)}: {_last_line(log_path(run))}"
        return Outcome(run, "failed", detail=detail)

    def train_population(self, population: PopulationRun) -> list[Outcome]:
        """Launches ``population``; one outcome per member. Each member's attempts file
        records its share of the launch (seconds / members), so its wall time compares
        with a separate run's."""
        os.makedirs(population.workdir, exist_ok=True)
        started = time.time()
        returncode = self.launch(population, log_path(population))
        seconds = time.time() - started
        workdir_results.record_attempt(population.workdir, started, seconds, returncode)
        members = population.members()
        for member in members:
            share = seconds / len(members)
            workdir_results.record_attempt(member.workdir, started, share, returncode)
        if returncode == 0 and all(workdir_results.is_finished(m.workdir) for m in members):
            return [self.collect(member, "trained") for member in members]
        last = _last_line(log_path(population))
        detail = f"exit status {returncode}; {log_path(population)}: {last}"
        return [Outcome(member, "failed", detail=detail) for member in members]


def _default_model_cost():
    from mixer_vit.experiment.model_cost import model_cost as checkpoint_model_cost

    return checkpoint_model_cost


def _finished_or_none(runner: _Runner, run: PlannedRun, results_dir: str) -> Outcome | None:
    """The outcome of a run that needs no training (summary there, or workdir finished)."""
    existing = run_summary.read_summary(results_dir, run)
    if existing is not None:
        outcome = Outcome(run, "skipped", existing)
    elif workdir_results.is_finished(run.workdir):
        outcome = runner.collect(run, "collected")
    else:
        return None
    tqdm.write(f"{run.key}: {outcome.status} ({_accuracy_text(outcome.summary)})", sys.stderr)
    return outcome


def execute_runs(
    runs: list[PlannedRun],
    *,
    experiment: str,
    results_dir: str,
    jobs: int = 1,
    launch: Launch = launch_train_process,
    model_cost: Callable[[str], dict] | None = None,
) -> list[Outcome]:
    """Brings every run to a summary; returns one ``Outcome`` per run, in ``runs`` order.
    ``model_cost(workdir)`` gives {"params", "gflops_per_image"} (default: from the
    workdir's checkpoint, see ``model_cost.py``)."""
    model_cost = model_cost or _default_model_cost()
    for run in runs:
        _check_workdir_settings(run)
    runner = _Runner(experiment, results_dir, launch, model_cost)
    outcomes: dict[str, Outcome] = {}
    to_train = []
    for run in runs:
        outcome = _finished_or_none(runner, run, results_dir)
        if outcome is None:
            to_train.append(run)
        else:
            outcomes[run.key] = outcome
    for stage in _stages(to_train):
        failed = {o.run.workdir for o in outcomes.values() if o.status == "failed"}
        ready = [run for run in stage if not failed.intersection(run.needs)]
        for run in stage:
            if failed.intersection(run.needs):
                needed = sorted(failed.intersection(run.needs))[0]
                outcomes[run.key] = Outcome(run, "failed", detail=f"needs {needed}, which failed")
        trained = _train_all(lambda run: [runner.train(run)], ready, jobs)
        outcomes.update({o.run.key: o for results in trained for o in results})
    return [outcomes[run.key] for run in runs]


def _stages(runs: list[PlannedRun]) -> list[list[PlannedRun]]:
    """``runs`` in launch waves: a run goes after every run whose workdir it needs (runs
    already finished need no wave); the order within a wave is kept."""
    pending = {run.workdir for run in runs}
    stages = []
    remaining = list(runs)
    while remaining:
        stage = [run for run in remaining if not pending.intersection(run.needs)]
        if not stage:  # a cycle; spec loading refuses those, so this is a bug
            raise AssertionError(f"runs need each other: {[r.key for r in remaining]}")
        stages.append(stage)
        pending -= {run.workdir for run in stage}
        remaining = [run for run in remaining if run not in stage]
    return stages


def execute_populations(
    populations: list[PopulationRun],
    *,
    experiment: str,
    results_dir: str,
    jobs: int = 1,
    launch: Launch = launch_train_process,
    model_cost: Callable[[str], dict] | None = None,
) -> list[Outcome]:
    """``execute_runs`` for population runs: one outcome per member (seed), in order; a
    population is launched unless every member needs no training. ``model_cost`` is asked
    about the population's workdir (where its checkpoints are)."""
    model_cost = model_cost or _default_model_cost()
    population_of = {m.workdir: p.workdir for p in populations for m in p.members()}
    runner = _Runner(
        experiment, results_dir, launch, lambda workdir: model_cost(population_of[workdir])
    )
    outcomes: dict[str, Outcome] = {}
    to_train = []
    for population in populations:
        _check_workdir_settings(population)
        for member in population.members():
            _check_workdir_settings(member)
        done = [_finished_or_none(runner, m, results_dir) for m in population.members()]
        if all(done):
            outcomes.update({o.run.key: o for o in done})
        else:
            to_train.append(population)
    trained = _train_all(runner.train_population, to_train, jobs)
    outcomes.update({o.run.key: o for results in trained for o in results})
    return [outcomes[m.key] for p in populations for m in p.members()]


def _check_workdir_settings(run: PlannedRun) -> None:
    """Raises ``UserError`` when the run's workdir was started with other seed or overrides
    than the run now has (resuming it would mix two settings)."""
    config = workdir_results.started_config(run.workdir)
    if config is None:
        return
    differing = workdir_results.config_differences(
        config, {"seed": run.seed, **run.settings}
    )
    if differing:
        raise UserError(
            f"workdir {run.workdir} was started with {differing[0]}; delete it or pass "
            f"another --root (nothing was run)"
        )


def _train_all(train, runs: list, jobs: int) -> list[list[Outcome]]:
    """Calls ``train(run) -> [Outcome, ...]`` for each of ``runs``, ``jobs`` at once, with
    a progress line per run; returns the outcome lists."""
    results: list[list[Outcome]] = []
    if not runs:
        return results
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(train, run): run for run in runs}
        bars: dict[str, tqdm] = {}
        try:
            pending = set(futures)
            while pending:
                done, pending = concurrent.futures.wait(pending, timeout=1.0)
                for future, run in futures.items():
                    if future in done or future.running():
                        if run.key not in bars:  # (a tqdm without total has no truth value)
                            bars[run.key] = _new_bar(run)
                        bar = bars[run.key]
                    if future in done:
                        results.append(future.result())
                        _finish_bar(bars.pop(run.key), results[-1][0])
                    elif future.running():
                        logged = workdir_results.last_logged_step(run.progress_workdir)
                        bar.update(max(0, logged - bar.n))
        except KeyboardInterrupt:
            for future in futures:
                future.cancel()
            raise
        finally:
            for bar in bars.values():
                bar.close()
    return results


def _new_bar(run: PlannedRun) -> tqdm:
    return tqdm(desc=run.key, unit="step", dynamic_ncols=True, leave=True, mininterval=1.0)


def _finish_bar(bar: tqdm, outcome: Outcome) -> None:
    if outcome.summary is not None:
        steps = outcome.summary.get("steps") or bar.n
        bar.update(max(0, steps - bar.n))
        bar.set_postfix_str(f"done, {_accuracy_text(outcome.summary)}", refresh=False)
    else:
        bar.set_postfix_str(f"FAILED ({outcome.detail.split(';')[0]})", refresh=False)
    bar.close()
