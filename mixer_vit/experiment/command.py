"""``mixer-vit experiment NAME [--seeds N] [--jobs J] [--dry-run] [--population] [--arms A,B]
[--root DIR] [--results DIR] [--noinference_timing]`` (cli.py only dispatches here).

Plans arm x seed runs of ``experiments/NAME.py``, prints their train commands
(``--dry-run``) or brings each to a finished summary (skipping finished runs, resuming
interrupted ones), times each arm's inference forward (``inference_speed.py``, in a child
process), then writes results.json, results.md and the plots into the results folder.
With ``--population`` each arm's seeds train as one population run
(experiment/population.py); the per-seed summaries are the same. With ``--arms`` only those
arms train (experiment/arm_selection.py); the report covers every arm with a summary.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Sequence

from absl import flags

from mixer_vit.errors import UserError
from mixer_vit.experiment.arm_selection import chosen_arms, runs_to_execute


def define_flags(fv: flags.FlagValues) -> None:
    flags.DEFINE_integer(
        "seeds", None, "Seeds per arm, 0..N-1 (default: the file's).", flag_values=fv
    )
    flags.DEFINE_integer("jobs", 1, "Runs trained at once.", flag_values=fv)
    flags.DEFINE_boolean(
        "dry_run", False, "Print one `mixer-vit train` line per run; run nothing.", flag_values=fv
    )
    flags.DEFINE_boolean(
        "population",
        False,
        "Train each arm's seeds together as one population run (config.train.population; "
        "workdir ROOT/ARM/population).",
        flag_values=fv,
    )
    flags.DEFINE_string(
        "arms",
        None,
        "Comma-separated arms to train (default: all); the report covers every arm whose "
        "runs have summaries in the results folder.",
        flag_values=fv,
    )
    flags.DEFINE_string(
        "root", None, "Workdirs root (default: workdirs/experiments/NAME).", flag_values=fv
    )
    flags.DEFINE_string(
        "results", None, "Results folder (default: experiments/results/NAME).", flag_values=fv
    )
    flags.DEFINE_boolean(
        "inference_timing",
        True,
        "Time each arm's inference forward for the report (a few seconds per arm).",
        flag_values=fv,
    )


def split_name(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """``NAME --flags...`` -> (NAME, flags); NAME None when the first argument is a flag."""
    if argv and not argv[0].startswith("-"):
        return argv[0], list(argv[1:])
    return None, list(argv)


def run_command(
    name: str | None,
    fv: flags.FlagValues,
    argv: Sequence[str],  # everything after `mixer-vit experiment` (for the report)
    *,
    launch: Callable | None = None,
    model_cost: Callable[[str], dict] | None = None,
    inference_speed: Callable[[dict], dict] | None = None,
) -> int:
    """``launch`` / ``model_cost`` replace the train process and the checkpoint-based cost
    lookup (tests); see ``execute.execute_runs``. ``inference_speed`` replaces the timing
    child process (``inference_speed.measure_in_child``: {arm: {"config", "overrides"}} ->
    {"device", "arms": {arm: row}})."""
    from mixer_vit.experiment.plan import default_root, plan_runs
    from mixer_vit.experiment.spec import load_experiment

    if not name:
        raise UserError("missing experiment NAME; e.g. mixer-vit experiment digits_mixers")
    spec = load_experiment(name)
    seeds = spec.seeds if fv.seeds is None else fv.seeds
    if seeds < 1 or fv.jobs < 1:
        raise UserError(f"--seeds and --jobs must be >= 1, got {seeds} and {fv.jobs}")
    root = fv.root or default_root(spec)
    populations = None
    if fv.population:
        from mixer_vit.experiment.population import plan_populations

        populations = plan_populations(spec, seeds, root)
        runs = [member for population in populations for member in population.members()]
    else:
        runs = plan_runs(spec, seeds, root)
    arms = chosen_arms(list(spec.arms), fv.arms)
    if fv.dry_run:
        for run in runs_to_execute(populations or runs, arms):
            print(run.shell_line())
        return 0
    return _run_and_report(
        spec, runs, fv, argv, launch, model_cost, inference_speed, populations, arms
    )


def _run_and_report(
    spec, runs, fv, argv, launch, model_cost, inference_speed, populations, arms
) -> int:
    from mixer_vit.experiment import execute, report, results_folder, run_summary
    from mixer_vit.experiment.plot import plot_accuracy_vs_throughput, plot_results

    results_dir = fv.results or results_folder.default_results_dir(spec)
    results_folder.check_results_folder(results_dir, spec, runs)
    _check_data_sets(spec)
    results_folder.write_manifest(results_dir, spec)
    _keep_this_process_off_accelerators()
    execute_all = execute.execute_runs if populations is None else execute.execute_populations
    outcomes = execute_all(
        runs_to_execute(runs if populations is None else populations, arms),
        experiment=spec.name,
        results_dir=results_dir,
        jobs=fv.jobs,
        launch=launch or execute.launch_train_process,
        model_cost=model_cost,
    )
    summaries = [o.summary for o in outcomes if o.summary is not None]
    executed = {o.run.key for o in outcomes}
    for run in runs:  # arms not chosen this time: the summaries they already have
        kept = None if run.key in executed else run_summary.read_summary(results_dir, run)
        if kept is not None:
            summaries.append(kept)
    command = shlex.join(["mixer-vit", "experiment", *argv])
    finished_arms = [arm for arm in spec.arms if any(s["arm"] == arm for s in summaries)]
    inference = None
    if fv.inference_timing and finished_arms:
        from mixer_vit.experiment.inference_speed import measure_in_child

        timing = inference_speed or measure_in_child
        inference = timing({
            arm: {"config": spec.arms[arm].config, "overrides": spec.arms[arm].overrides}
            for arm in finished_arms
        })
    results = report.build_results(
        spec, runs, summaries, command, _training_machine(outcomes, results_dir),
        inference=inference, train_examples=_arm_train_examples(spec, finished_arms),
    )
    report.write_results_json(results, results_dir)
    report.write_results_markdown(results, results_dir)
    if results["table"]:
        plot_results(results, os.path.join(results_dir, report.PLOT_FILE))
    if report.has_throughput_plot(results):
        plot_accuracy_vs_throughput(
            results, os.path.join(results_dir, report.THROUGHPUT_PLOT_FILE)
        )
    print(f"{spec.name}: {results['verdict']}; results in {results_dir}/results.md")
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        raise UserError(
            f"{len(failed)} of {len(runs)} runs failed, first {failed[0].run.key}: "
            f"{failed[0].detail}; fix it and rerun the same command (finished runs are kept)"
        )
    return 0


def _training_machine(outcomes, results_dir: str) -> dict:
    """The machine the results' training numbers come from: the one the previous report
    recorded when this invocation trained or collected nothing (only rewriting the report,
    perhaps elsewhere), else this one."""
    import json

    from mixer_vit.experiment.machine import describe_machine

    previous = os.path.join(results_dir, "results.json")
    if all(o.status == "skipped" for o in outcomes) and os.path.isfile(previous):
        with open(previous) as f:
            machine = json.load(f).get("machine")
        if machine:
            return machine
    return describe_machine()


def _arm_train_examples(spec, arms) -> dict:
    """arm -> training examples its config's train split holds (None where unreadable)."""
    from mixer_vit.experiment.train_examples import train_examples_of

    counts = {}
    for arm in arms:
        data_set, split = spec.arms[arm].data_set, spec.arms[arm].train_split
        counts[arm] = train_examples_of(
            {"name": data_set[0], "data_dir": data_set[1], "train_split": split}
        ) if data_set and split else None
    return counts


def _check_data_sets(spec) -> None:
    """Every arm's data set is prepared (embedded ones are built here, once, rather than by
    runs racing each other); a missing one is a one-line error before any run starts."""
    from mixer_vit import data

    for name, data_dir in sorted({a.data_set for a in spec.arms.values() if a.data_set}, key=str):
        data.ensure_prepared(name, data_dir or data.default_data_dir())


def _keep_this_process_off_accelerators() -> None:
    """The runner computes parameter counts and FLOPs itself; that must not take the GPU
    memory its training runs need (children get the unchanged environment)."""
    import jax

    try:
        jax.config.update("jax_platforms", "cpu")
    except RuntimeError:  # a backend already started (e.g. in tests): leave it
        pass
