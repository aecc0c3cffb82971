"""``mixer-vit search CONFIG --workdir DIR [--strategy NAME] [--seed N]`` and
``mixer-vit search CONFIG --compare DIRS --results OUT`` (cli.py only dispatches here).

Reads and checks the search config (settings.py), then runs the search in ``DIR``
(loop.py) with a progress bar over its trials, each candidate an ordinary training run
in ``DIR/candidates/NAME``, after the config's hand-designed references (references.py,
``DIR/references/LABEL``); after every reference and trial, and at the end, writes
``DIR/results.md``, ``DIR/pareto.png`` and ``DIR/best_configs/``. Rerunning the command
resumes the search where it stopped, with the same proposals and results.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from absl import flags

from mixer_vit.errors import UserError

EXAMPLE = "e.g. mixer-vit search experiments/search/digits.py --workdir workdirs/search_digits"


def define_flags(fv: flags.FlagValues) -> None:
    flags.DEFINE_string("workdir", None, "Folder of the search (history, candidates, results).",
                        flag_values=fv)
    flags.DEFINE_string("strategy", None, "random_search | regularized_evolution | "
                        "successive_halving | hyperband (default: the config's).",
                        flag_values=fv)
    flags.DEFINE_integer("seed", None, "The search's seed (default: the config's).",
                         flag_values=fv)
    flags.DEFINE_list("compare", None, "Instead of searching: compare these finished "
                      "searches of CONFIG (workdirs or glob patterns, comma-separated) and "
                      "write the comparison into --results.", flag_values=fv)
    flags.DEFINE_string("results", None, "Folder of the --compare output (results.md, "
                        "results.json, best_so_far.png, searches/).", flag_values=fv)


def split_name(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """``CONFIG --flags...`` -> (CONFIG, flags); CONFIG None when the first argument is a
    flag."""
    if argv and not argv[0].startswith("-"):
        return argv[0], list(argv[1:])
    return None, list(argv)


def run_command(config_path: str | None, fv: flags.FlagValues, *, evaluate=None,
                measure_cost=None, train_reference=None, measure_reference=None) -> int:
    """Runs the search and writes its results; ``evaluate`` / ``measure_cost`` replace
    the candidate training and cost measurement (loop.py's signatures),
    ``train_reference`` / ``measure_reference`` the references' (references.py; tests)."""
    from tqdm import tqdm

    from mixer_vit.search import candidate_training, settings as search_settings
    from mixer_vit.search.history import read_history
    from mixer_vit.search.loop import run_search, total_trials
    from mixer_vit.search.references import (check_reference_patches,
                                             reference_cost_function, reference_trainer,
                                             run_references)
    from mixer_vit.search.report import write_results

    if not config_path:
        raise UserError(f"missing CONFIG, the search config file; {EXAMPLE}")
    if fv.compare:
        return _compare(config_path, fv)
    if not fv.workdir:
        raise UserError(f"missing --workdir; {EXAMPLE}")
    if os.path.exists(fv.workdir) and not os.path.isdir(fv.workdir):
        raise UserError(f"--workdir {fv.workdir} is a file; give a directory (created if missing)")
    settings = search_settings.load_settings(config_path, fv.strategy, fv.seed)
    base = search_settings.train_config(settings)
    if measure_cost is None:
        candidate_training.check_patch_sizes(settings, base)
        measure_cost = candidate_training.cost_function(base, settings)
    evaluate = evaluate or candidate_training.evaluator(base, settings, fv.workdir)
    if measure_reference is None:
        check_reference_patches(settings, base)
        measure_reference = reference_cost_function(base, settings)
    train_reference = train_reference or reference_trainer(base, settings, fv.workdir)

    def reference_done(record):
        tqdm.write(f"reference {record['label']}: val {record['validation_accuracy']:.3f}, "
                   f"{record['gflops']:.4g} GFLOPs")
        write_results(settings, read_history(fv.workdir), fv.workdir, config_path)

    def references():
        run_references(settings, fv.workdir, train_reference, measure_reference,
                       on_record=reference_done)

    total = total_trials(settings)
    bar = tqdm(total=total, initial=min(len(read_history(fv.workdir)), total),
               desc="search trials", unit="trial", dynamic_ncols=True)

    def progress(record):
        bar.set_postfix_str(f"{record['name']} ({record['epochs']} ep): val "
                            f"{record['validation_accuracy']:.3f}")
        bar.update(1)
        write_results(settings, read_history(fv.workdir), fv.workdir, config_path)

    try:
        history = run_search(settings, fv.workdir, evaluate, measure_cost, on_record=progress,
                             before_trials=references)
    finally:
        bar.close()
    path = write_results(settings, history, fv.workdir, config_path)
    print(f"search: {len(history)} trials done; results in {path}")
    return 0


def _compare(config_path: str, fv: flags.FlagValues) -> int:
    """``--compare DIRS --results OUT``: comparison.py on finished searches."""
    import glob

    from mixer_vit.search.comparison import compare_searches

    if not fv.results:
        raise UserError("--compare needs --results OUT, the folder for the comparison; e.g. "
                        "--results experiments/results/search_fashion_mnist")
    if fv.workdir:
        raise UserError("give either --workdir (run a search) or --compare (compare "
                        "finished ones), not both")
    workdirs = []
    for pattern in fv.compare:
        matched = sorted(p for p in glob.glob(pattern) if os.path.isdir(p))
        if not matched:
            raise UserError(f"--compare: {pattern} names no folder; give search workdirs")
        workdirs += [p for p in matched if p not in workdirs]
    path = compare_searches(config_path, workdirs, fv.results)
    print(f"search: {len(workdirs)} searches compared; results in {path}")
    return 0
