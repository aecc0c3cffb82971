"""results.json and results.md of an experiment, derived from the run summaries only."""

from __future__ import annotations

import json
import os
import time

from mixer_vit.experiment.aggregate import aggregate
from mixer_vit.experiment.plan import PlannedRun
from mixer_vit.experiment.spec import ExperimentSpec
from mixer_vit.experiment.verdict import verdict_line

PLOT_FILE = "accuracy.png"


def build_results(
    spec: ExperimentSpec,
    runs: list[PlannedRun],
    summaries: list[dict],
    command: str,
    machine: dict,
) -> dict:
    """The results.json content: the experiment, the per-arm table, the verdict, every run
    summary, the runs still missing, the command and the machine."""
    table = aggregate(summaries, spec.arms)
    means = {arm: row["test_accuracy"]["mean"] for arm, row in table.items()}
    means = {arm: mean for arm, mean in means.items() if mean is not None}
    have = {(s["arm"], s["seed"]) for s in summaries}
    return {
        "experiment": spec.name,
        "claim": spec.claim,
        "setting": spec.setting,
        "base_config": spec.base_config,
        "arms": {
            a.name: {"config": a.config, "overrides": a.overrides} for a in spec.arms.values()
        },
        "seeds_planned": sorted({run.seed for run in runs}),
        "published": {"source": spec.published_source, "values": spec.published_values},
        "rule": spec.rule,
        "verdict": verdict_line(spec.rule, means),
        "plot_x": spec.plot_x,
        "plot_series": spec.plot_series,
        "table": table,
        "runs": sorted(summaries, key=lambda s: (list(spec.arms).index(s["arm"]), s["seed"])),
        "missing_runs": [run.key for run in runs if (run.arm, run.seed) not in have],
        "command": command,
        "machine": machine,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_results_json(results: dict, results_dir: str) -> str:
    path = os.path.join(results_dir, "results.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    return path


def _pm(stats: dict, scale: float = 1.0, digits: int = 2) -> str:
    if stats["mean"] is None:
        return "-"
    text = f"{scale * stats['mean']:.{digits}f}"
    return text + (f" ± {scale * stats['std']:.{digits}f}" if stats["std"] is not None else "")


def _distinguishing(results: dict) -> dict[str, str]:
    """arm -> the overrides in which arms differ (what the arm *is*), as text."""
    arms = results["arms"]
    merged = {arm: {"config": a["config"], **a["overrides"]} for arm, a in arms.items()}
    keys = sorted({k for o in merged.values() for k in o})
    varying = [k for k in keys if len({json.dumps(o.get(k)) for o in merged.values()}) > 1]
    return {
        arm: ", ".join(f"{k}={o[k]}" for k in varying if k in o) for arm, o in merged.items()
    }


def _params_text(stats: dict) -> str:
    return f"{stats['mean'] / 1e6:.3f}M" if stats["mean"] is not None else "-"


def _gflops_text(stats: dict) -> str:
    return f"{stats['mean']:.4g}" if stats["mean"] is not None else "-"


def results_markdown(results: dict) -> str:
    published = results["published"]
    source = f" ({published['source']})" if published["source"] else ""
    lines = [
        f"# Experiment `{results['experiment']}`",
        "",
        f"**Claim.** {results['claim']}",
        "",
        f"**Setting.** {results['setting'] or '(not stated)'} Base config "
        f"`{results['base_config']}`; seeds {results['seeds_planned']}.",
        "",
        f"**Verdict: {results['verdict']}.**",
        "",
        "| arm | what differs | n | test accuracy (%) | params | GFLOPs/img | train img/s "
        f"| wall time (s) | published{source} |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    differs = _distinguishing(results)
    for arm, row in results["table"].items():
        lines.append(
            f"| {arm} | {differs[arm]} | {row['test_accuracy']['n']} | "
            f"{_pm(row['test_accuracy'], 100)} | {_params_text(row['params'])} | "
            f"{_gflops_text(row['gflops_per_image'])} | {_pm(row['train_img_per_s'], 1, 0)} | "
            f"{_pm(row['wall_time_s'], 1, 0)} | {published['values'].get(arm, '-')} |"
        )
    if results["missing_runs"]:
        lines += ["", f"Runs not finished yet: {', '.join(results['missing_runs'])}."]
    machine = results["machine"]
    gpus = f", {len(machine['gpus'])} GPU(s): {machine['gpus'][0]}" if machine.get("gpus") else ""
    lines += [
        "",
        f"![test accuracy per arm]({PLOT_FILE})",
        "",
        "Test accuracy: mean ± sample std (ddof=1) over the n seeds of an arm. GFLOPs: one "
        "forward pass per image as XLA counts them (a multiply-add is 2 FLOPs, about twice "
        "the GMACs papers quote). Train img/s: the median over each run's logged train "
        "windows, mean over seeds. Wall time: per run, including start-up and compiling.",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores{gpus}; jax {machine['jax']}, "
        f"jaxlib {machine['jaxlib']}, Python {machine['python']}, {machine['platform']}.",
        "",
        f"Per-run summaries: `runs/` (one JSON per arm and seed). Generated "
        f"{results['generated_at']}.",
        "",
    ]
    return "\n".join(lines)


def write_results_markdown(results: dict, results_dir: str) -> str:
    path = os.path.join(results_dir, "results.md")
    with open(path, "w") as f:
        f.write(results_markdown(results))
    return path
