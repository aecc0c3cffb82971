"""``mixer-vit experiment NAME [--seeds N] [--jobs J] [--dry-run] [--root DIR] [--results DIR]``
(cli.py only dispatches here).

Plans arm x seed runs of ``experiments/NAME.py``, prints their train commands
(``--dry-run``) or brings each to a finished summary (skipping finished runs, resuming
interrupted ones), then writes results.json, results.md and the plot into the results
folder.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Sequence

from absl import flags

from mixer_vit.errors import UserError


def define_flags(fv: flags.FlagValues) -> None:
    flags.DEFINE_integer(
        "seeds", None, "Seeds per arm, 0..N-1 (default: the file's).", flag_values=fv
    )
    flags.DEFINE_integer("jobs", 1, "Runs trained at once.", flag_values=fv)
    flags.DEFINE_boolean(
        "dry_run", False, "Print one `mixer-vit train` line per run; run nothing.", flag_values=fv
    )
    flags.DEFINE_string(
        "root", None, "Workdirs root (default: workdirs/experiments/NAME).", flag_values=fv
    )
    flags.DEFINE_string(
        "results", None, "Results folder (default: experiments/results/NAME).", flag_values=fv
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
) -> int:
    """``launch`` / ``model_cost`` replace the train process and the checkpoint-based cost
    lookup (tests); see ``execute.execute_runs``."""
    from mixer_vit.experiment.plan import default_root, plan_runs
    from mixer_vit.experiment.spec import load_experiment

    if not name:
        raise UserError("missing experiment NAME; e.g. mixer-vit experiment digits_mixers")
    spec = load_experiment(name)
    seeds = spec.seeds if fv.seeds is None else fv.seeds
    if seeds < 1 or fv.jobs < 1:
        raise UserError(f"--seeds and --jobs must be >= 1, got {seeds} and {fv.jobs}")
    runs = plan_runs(spec, seeds, fv.root or default_root(spec))
    if fv.dry_run:
        for run in runs:
            print(run.shell_line())
        return 0
    return _run_and_report(spec, runs, fv, argv, launch, model_cost)


def _run_and_report(spec, runs, fv, argv, launch, model_cost) -> int:
    from mixer_vit.experiment import execute, report, results_folder
    from mixer_vit.experiment.machine import describe_machine
    from mixer_vit.experiment.plot import plot_results

    results_dir = fv.results or results_folder.default_results_dir(spec)
    results_folder.check_results_folder(results_dir, spec, runs)
    _check_data_sets(spec)
    results_folder.write_manifest(results_dir, spec)
    _keep_this_process_off_accelerators()
    outcomes = execute.execute_runs(
        runs,
        experiment=spec.name,
        results_dir=results_dir,
        jobs=fv.jobs,
        launch=launch or execute.launch_train_process,
        model_cost=model_cost,
    )
    summaries = [o.summary for o in outcomes if o.summary is not None]
    command = shlex.join(["mixer-vit", "experiment", *argv])
    results = report.build_results(spec, runs, summaries, command, describe_machine())
    report.write_results_json(results, results_dir)
    report.write_results_markdown(results, results_dir)
    if results["table"]:
        plot_results(results, os.path.join(results_dir, report.PLOT_FILE))
    print(f"{spec.name}: {results['verdict']}; results in {results_dir}/results.md")
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        raise UserError(
            f"{len(failed)} of {len(runs)} runs failed, first {failed[0].run.key}: "
            f"{failed[0].detail}; fix it and rerun the same command (finished runs are kept)"
        )
    return 0


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
