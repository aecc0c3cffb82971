"""Strategies compared over several finished searches of one search config (random
search against regularized evolution at an equal budget, several seeds each).

``compare_searches(config_path, workdirs, out)`` reads each search folder (its
``search.json`` names the strategy and seed, ``history.jsonl`` its trials,
``references.jsonl`` its hand-designed references) and writes into ``out``:

- ``searches/STRATEGY_seedN/``: a copy of the search's history and references with its
  ``results.md``, ``pareto.png`` and ``best_configs/`` written afresh there (small
  files, meant to be committed; the candidates' training folders stay behind);
- ``results.md`` and ``results.json``: per strategy, over its seeds (mean ± sample std,
  ddof 1), the validation and test accuracy of the candidate each search chose (the
  best validation accuracy at its furthest evaluation; test accuracy chose nothing),
  its GFLOPs, and the best validation accuracy found after each trial (the "best so
  far" curve NAS papers plot); per search, the same and its verdict against the
  references' front;
- ``best_so_far.png``: best-so-far validation accuracy against trials, one line per
  search, coloured by strategy, the best reference dashed.

Only finished searches (as many trials as the config's strategy plans) are compared;
an unfinished one is a one-line error naming it, so a table never mixes budgets.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
from collections.abc import Sequence

from mixer_vit.errors import UserError
from mixer_vit.search.candidates_table import ranked
from mixer_vit.search.history import HISTORY_FILE, SEARCH_FILE, read_history
from mixer_vit.search.references import REFERENCES_FILE, front_verdict, read_references

RESULTS_FILE = "results.md"
JSON_FILE = "results.json"
PLOT_FILE = "best_so_far.png"
SEARCHES_DIR = "searches"


def best_so_far(history: list[dict]) -> list[float]:
    """``[k]``: the best validation accuracy among the first k + 1 trials' records that
    finished a candidate's schedule (``final``); a trial before any such record repeats
    the best of all records so far. Length: len(history)."""
    curve, best_final, best_any = [], None, None
    for record in history:
        value = record["validation_accuracy"]
        best_any = value if best_any is None else max(best_any, value)
        if record["final"]:
            best_final = value if best_final is None else max(best_final, value)
        curve.append(best_final if best_final is not None else best_any)
    return curve


def mean_std(values: Sequence[float]) -> dict:
    """``{"mean", "std" (ddof 1; None for one value), "n"}``."""
    values = list(values)
    return {"mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else None,
            "n": len(values)}


def summarize_search(history: list[dict], references: list[dict]) -> dict:
    """The chosen candidate (first of ``ranked``), its numbers, the best-so-far curve and
    where it stands against the references."""
    chosen = ranked(history)[0]
    summary = {
        "chosen": chosen["name"],
        "validation_accuracy": chosen["validation_accuracy"],
        "test_accuracy": chosen["test_accuracy"],
        "gflops": chosen["gflops"],
        "params": chosen["params"],
        "trials": len(history),
        "best_so_far": best_so_far(history),
    }
    if references:
        verdict = front_verdict(chosen, references)
        summary["behind_references"] = list(verdict.ahead)
        summary["dominates_references"] = list(verdict.dominated)
    return summary


def _load_search(workdir: str) -> tuple[dict, list[dict], list[dict]]:
    path = os.path.join(workdir, SEARCH_FILE)
    if not os.path.isfile(path):
        raise UserError(f"--compare: {workdir} holds no search ({SEARCH_FILE} missing); "
                        f"give folders that `mixer-vit search --workdir` wrote")
    with open(path) as f:
        identity = json.load(f)
    return identity, read_history(workdir), read_references(workdir)


def compare_searches(config_path: str, workdirs: Sequence[str], out: str) -> str:
    """Writes the comparison (module doc) into ``out``; returns results.md's path."""
    from mixer_vit.search.loop import total_trials
    from mixer_vit.search.report import write_results
    from mixer_vit.search.settings import load_settings

    if not workdirs:
        raise UserError("--compare matched no folder; give search workdirs, e.g. "
                        "'workdirs/search_fm/*'")
    searches = []
    for workdir in sorted(workdirs):
        identity, history, references = _load_search(workdir)
        settings = load_settings(config_path, identity["strategy"], identity["seed"])
        if json.loads(json.dumps(settings.identity(), default=list)) != identity:
            raise UserError(f"--compare: {workdir} was searched with other settings than "
                            f"{config_path}; compare searches of one config")
        planned = total_trials(settings)
        if len(history) < planned:
            raise UserError(f"--compare: the search in {workdir} has {len(history)} of its "
                            f"{planned} trials; finish it (rerun its `mixer-vit search` "
                            f"command) or leave it out")
        labels = [ref.label for ref in settings.references]
        references = [r for r in references if r["label"] in labels]
        name = f"{settings.strategy}_seed{settings.seed}"
        if any(s["name"] == name for s in searches):
            raise UserError(f"--compare: two searches are {name}; give each strategy and "
                            f"seed once")
        searches.append({"name": name, "strategy": settings.strategy, "seed": settings.seed,
                         "workdir": workdir, "settings": settings, "history": history,
                         "references": references,
                         **summarize_search(history, references)})
    os.makedirs(out, exist_ok=True)
    for search in searches:
        copy = os.path.join(out, SEARCHES_DIR, search["name"])
        os.makedirs(copy, exist_ok=True)
        for file in (HISTORY_FILE, REFERENCES_FILE):
            source = os.path.join(search["workdir"], file)
            if os.path.isfile(source):
                shutil.copyfile(source, os.path.join(copy, file))
        write_results(search["settings"], search["history"], copy, config_path)
    strategies = _by_strategy(searches)
    results = {
        "config": config_path,
        "strategies": strategies,
        "searches": {s["name"]: {k: v for k, v in s.items()
                                 if k not in ("settings", "history", "references", "name")}
                     for s in searches},
        "references": searches[0]["references"],
    }
    with open(os.path.join(out, JSON_FILE), "w") as f:
        json.dump(results, f, indent=1)
    from mixer_vit.search.best_so_far_plot import plot_best_so_far

    plot_best_so_far(searches, os.path.join(out, PLOT_FILE))
    path = os.path.join(out, RESULTS_FILE)
    with open(path, "w") as f:
        f.write(comparison_markdown(config_path, searches, strategies))
    return path


def _by_strategy(searches: list[dict]) -> dict[str, dict]:
    strategies: dict[str, dict] = {}
    for strategy in sorted({s["strategy"] for s in searches}):
        group = [s for s in searches if s["strategy"] == strategy]
        trials = min(s["trials"] for s in group)
        half = max(trials // 2, 1)
        strategies[strategy] = {
            "seeds": [s["seed"] for s in group],
            "trials": trials,
            "validation_accuracy": mean_std([s["validation_accuracy"] for s in group]),
            "test_accuracy": mean_std([s["test_accuracy"] for s in group]),
            "gflops": mean_std([s["gflops"] for s in group]),
            "best_so_far_half": mean_std([s["best_so_far"][half - 1] for s in group]),
            "half": half,
        }
    return strategies


def _pm(stats: dict, scale: float = 100.0, digits: int = 1) -> str:
    text = f"{scale * stats['mean']:.{digits}f}"
    return text + (f" ± {scale * stats['std']:.{digits}f}" if stats["std"] is not None else "")


def comparison_markdown(config_path: str, searches: list[dict], strategies: dict) -> str:
    settings = searches[0]["settings"]
    lines = [
        f"# Search strategies compared: {os.path.basename(config_path)}",
        "",
        f"{len(searches)} search{'es' if len(searches) > 1 else ''} of `{config_path}` "
        f"({settings.space.size():,} candidates "
        f"before the constraints; {settings.constraints.described()}; each candidate "
        f"trains {settings.full_epochs} epochs). Each search chooses the candidate with the "
        f"best validation accuracy; its test accuracy is read once and chose nothing. "
        f"Mean ± sample std (ddof 1) over seeds.",
        "",
        "| strategy | seeds | trials | chosen: val % | chosen: test % | chosen: GFLOPs | "
        "best val % after half the trials |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for strategy, row in strategies.items():
        lines.append(
            f"| {strategy} | {', '.join(map(str, row['seeds']))} | {row['trials']} | "
            f"{_pm(row['validation_accuracy'])} | {_pm(row['test_accuracy'])} | "
            f"{_pm(row['gflops'], 1.0, 4)} | {_pm(row['best_so_far_half'])} "
            f"({row['half']} trials) |")
    lines += [
        "",
        "Per search (`searches/NAME/results.md`: its ranked candidates, Pareto plot and "
        "exported configs):",
        "",
        "| search | chosen candidate | params | GFLOPs | val % | test % | against the "
        "references |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for s in searches:
        if s["references"]:
            against = ("behind (" + ", ".join(s["behind_references"]) + ")"
                       if s["behind_references"] else
                       "on or beyond the front; dominates "
                       + (", ".join(s["dominates_references"]) or "none"))
        else:
            against = "-"
        lines.append(
            f"| [{s['name']}]({SEARCHES_DIR}/{s['name']}/{RESULTS_FILE}) | {s['chosen']} | "
            f"{s['params']:,} | {s['gflops']:.4g} | {100 * s['validation_accuracy']:.1f} | "
            f"{100 * s['test_accuracy']:.1f} | {against} |")
    refs = searches[0]["references"]
    if refs:
        lines += ["", "Hand-designed references, trained in the same setting "
                      "(seed " + str(searches[0]["seed"]) + "):", "",
                  "| reference | params | GFLOPs | val % | test % |",
                  "|---|---:|---:|---:|---:|"]
        for r in refs:
            lines.append(f"| {r['label']} | {r['params']:,} | {r['gflops']:.4g} | "
                         f"{100 * r['validation_accuracy']:.1f} | "
                         f"{100 * r['test_accuracy']:.1f} |")
    lines += ["", f"![best validation accuracy so far against trials]({PLOT_FILE})", ""]
    lines += evolution_claim_lines(strategies)
    return "\n".join(lines)


EVOLUTION = "regularized_evolution"
RANDOM = "random_search"


def evolution_claim_lines(strategies: dict) -> list[str]:
    """The claim of Real et al. (2019) and whether it held here, when both strategies
    ran: it held when evolution's chosen candidates have the higher mean test accuracy
    by more than the seed spread (the larger of the two standard deviations); a gap
    within the spread, either way, shows nothing, so the claim did not hold."""
    if EVOLUTION not in strategies or RANDOM not in strategies:
        return []
    evo, rnd = strategies[EVOLUTION]["test_accuracy"], strategies[RANDOM]["test_accuracy"]
    gap = evo["mean"] - rnd["mean"]
    spread = max(x["std"] or 0.0 for x in (evo, rnd))
    within = abs(gap) <= spread
    held = "held" if gap > 0 and not within else "did not hold"
    note = (f" (evolution {'ahead' if gap > 0 else 'behind'} by {100 * abs(gap):.1f} "
            f"points, within the seed spread of {100 * spread:.1f})" if within else "")
    return [
        "**Claim** (Real et al. 2019, NAS-Bench-101 after 150 evaluations: test error "
        "6.11% for regularized evolution against 6.34% for random search): at an equal "
        "budget, evolution finds better models than random search.",
        "",
        f"**Verdict: {held}{note}.** Test accuracy of the chosen candidates: evolution "
        f"{_pm(evo)}, random search {_pm(rnd)} ({100 * gap:+.1f} points).",
        "",
    ]
