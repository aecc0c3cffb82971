"""``results.md``: the search's settings, the best candidates (ranked by validation
accuracy at their furthest evaluation; test accuracy shown, never used to rank), the
hand-designed references with the verdict on the best candidate against their front
(references.py), the command that trains each exported config, and the strategy's
bookkeeping (rungs_table.py: successive halving's rungs, Hyperband's brackets)."""

from __future__ import annotations

import os

from mixer_vit.search.candidates_table import furthest_records, pareto_front, ranked
from mixer_vit.search.export import export_config, portable_spec, train_command
from mixer_vit.search.pareto_plot import PLOT_FILE, plot_pareto
from mixer_vit.search.references import front_verdict, read_references, verdict_line
from mixer_vit.search.rungs_table import rung_lines
from mixer_vit.search.settings import SearchSettings

RESULTS_FILE = "results.md"
TOP = 10  # rows of the table
EXPORTED = 5  # best candidates written as configs


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def write_results(settings: SearchSettings, history: list[dict], workdir: str,
                  config_path: str) -> str:
    """results.md, pareto.png and best_configs/ of ``history``; returns results.md's path."""
    best = ranked(history)
    exported = [export_config(settings, r, workdir) for r in best[:EXPORTED]]
    space = settings.space
    labels = [ref.label for ref in settings.references]
    refs = sorted((r for r in read_references(workdir) if r["label"] in labels),
                  key=lambda r: labels.index(r["label"]))
    plot_pareto(history, os.path.join(workdir, PLOT_FILE),
                title=f"{settings.strategy}, seed {settings.seed}", group=space.plot_group,
                references=refs)
    records = furthest_records(history)
    finals = [r for r in records if r["final"]] or records
    front = {finals[i]["name"] for i in
             pareto_front([(r["gflops"], r["validation_accuracy"]) for r in finals])}
    latency = settings.constraints.measures_latency
    lines = [
        f"# Architecture search: {os.path.basename(config_path)}",
        "",
        f"Strategy {settings.strategy}, seed {settings.seed}, {len(history)} trials "
        f"({sum(r['trained'] for r in history)} trained, {len(records)} distinct candidates), "
        f"constraints: {settings.constraints.described()}. Base config: "
        f"`{portable_spec(settings.train_config_path())}`.",
        "",
        "Ranked by validation accuracy at the most epochs a candidate reached; test accuracy "
        "(read once, when a candidate finished its schedule) is shown for the report and "
        "chose nothing. GFLOPs: forward, per image, as XLA counts them (a multiply-add is "
        "2 FLOPs). * = on the Pareto front of validation accuracy vs GFLOPs (pareto.png).",
        "",
        "| rank | candidate | " + "".join(f"{h} | " for h, _ in space.table_columns())
        + "params | GFLOPs |" + (" latency ms |" if latency else "") + " epochs | val % | test % |",
        "|---:|---|" + "".join(f"{a}|" for _, a in space.table_columns()) + "---:|---:|"
        + ("---:|" if latency else "") + "---:|---:|---:|",
    ]
    for i, r in enumerate(best[:TOP], 1):
        mark = " *" if r["name"] in front else ""
        lines.append(
            f"| {i} | {r['name']}{mark} | "
            + "".join(f"{cell} | " for cell in space.table_cells(r["candidate"]))
            + f"{r['params']:,} | {r['gflops']:.4g} |"
            + (f" {r['latency_ms']:.3g} |" if latency else "")
            + f" {r['epochs']} | {_pct(r['validation_accuracy'])} | {_pct(r['test_accuracy'])} |"
        )
    if settings.references:
        lines += [""] + reference_lines(settings, refs, best, records)
    lines += ["", "Train an exported candidate (best first):", "", "```"]
    lines += [train_command(path) for path in exported]
    lines += ["```", ""]
    rungs = rung_lines(settings, history)
    if rungs:
        lines += rungs + [""]
    path = os.path.join(workdir, RESULTS_FILE)
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def reference_lines(settings: SearchSettings, refs: list[dict], best: list[dict],
                    records: list[dict]) -> list[str]:
    """The "Hand-designed references" section: their table and the verdict."""
    finals = [r for r in records if r["final"]]
    lines = [
        "## Hand-designed references",
        "",
        f"Trained before the search's trials exactly as a candidate trained to the end "
        f"({settings.full_epochs} epochs, the base config and train_overrides, seed "
        f"{settings.seed}; `references/LABEL`), and kept out of the history: no strategy "
        f"saw them. A candidate is behind the references' front when some reference has at "
        f"most its GFLOPs and a higher validation accuracy, else on or beyond it (pareto.png: "
        f"black crosses, their front dashed).",
        "",
        "| reference | description | params | GFLOPs | val % | test % |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in refs:
        lines.append(f"| {r['label']} | {r['description']} | {r['params']:,} | "
                     f"{r['gflops']:.4g} | {_pct(r['validation_accuracy'])} | "
                     f"{_pct(r['test_accuracy'])} |")
    missing = len(settings.references) - len(refs)
    if missing:
        lines += ["", f"{missing} of {len(settings.references)} references not trained yet."]
    lines += ["", verdict_line(best[0] if best else None, refs)]
    if refs and finals:
        on = sum(front_verdict(r, refs).on_or_beyond for r in finals)
        lines += ["", f"{on} of the {len(finals)} candidates trained to the end are on or "
                      f"beyond the references' front."]
    return lines
