"""results.json and results.md of an experiment, derived from the run summaries only."""

from __future__ import annotations

import collections
import json
import os
import time

from mixer_vit.experiment.aggregate import aggregate
from mixer_vit.experiment.plan import PlannedRun
from mixer_vit.experiment.spec import ExperimentSpec
from mixer_vit.experiment.verdict import value_key, verdict_line

PLOT_FILE = "accuracy.png"
THROUGHPUT_PLOT_FILE = "accuracy_vs_throughput.png"


def build_results(
    spec: ExperimentSpec,
    runs: list[PlannedRun],
    summaries: list[dict],
    command: str,
    machine: dict,
    inference: dict | None = None,
    train_examples: dict[str, int | None] | None = None,
) -> dict:
    """The results.json content: the experiment, the per-arm table, the verdict, every run
    summary, the runs still missing, the command and the machine.

    ``inference``: ``inference_speed.measure_arms``'s {"device", "arms": {arm: row}} (None:
    not measured). ``train_examples``: arm -> the count its config's train split gives, for
    summaries written before runs recorded it (their files are left as they are)."""
    counted = train_examples or {}
    table = aggregate(
        [s if s.get("train_examples") is not None
         else {**s, "train_examples": counted.get(s["arm"])} for s in summaries],
        spec.arms,
        spec.metrics,
    )
    means = {arm: row["test_accuracy"]["mean"] for arm, row in table.items()}
    for arm, row in table.items():
        for path, stats in row["metrics"].items():
            means[value_key(arm, path)] = stats["mean"]
    means = {key: mean for key, mean in means.items() if mean is not None}
    have = {(s["arm"], s["seed"]) for s in summaries}
    return {
        "experiment": spec.name,
        "claim": spec.claim,
        "setting": spec.setting,
        "base_config": spec.base_config,
        "arms": {
            a.name: {"config": a.config, "overrides": a.overrides,
                     **({"series": a.series} if a.series else {})}
            for a in spec.arms.values()
        },
        "seeds_planned": sorted({run.seed for run in runs}),
        "published": {"source": spec.published_source, "values": spec.published_values},
        "rule": spec.rule,
        "metrics": spec.metrics,
        "verdict": verdict_line(spec.rule, means),
        "plot_x": spec.plot_x,
        "plot_series": spec.plot_series,
        "table": table,
        "inference": inference,
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
    """arm -> the overrides in which it differs from the other arms (what the arm *is*),
    as text.

    A key whose value in the first arm (the experiment's reference, e.g. an ablation's
    full recipe) is shared by more than half of the arms is shown only for the arms that
    change it; any other varying key is shown for every arm that sets it. An arm with
    nothing to show is "(the shared setting)".
    """
    arms = results["arms"]
    merged = {arm: {"config": a["config"], **a["overrides"]} for arm, a in arms.items()}
    keys = sorted({k for o in merged.values() for k in o})
    shown: dict[str, list[str]] = {arm: [] for arm in merged}
    for key in keys:
        values = {arm: json.dumps(o.get(key)) for arm, o in merged.items()}
        counts = collections.Counter(values.values())
        if len(counts) == 1:
            continue
        default = next(iter(values.values()))
        shared = 2 * counts[default] > len(values)
        for arm, o in merged.items():
            if key in o and (not shared or values[arm] != default):
                shown[arm].append(f"{key}={_override_text(o[key])}")
    return {arm: (", ".join(parts) or "(the shared setting)").replace("|", "\\|")
            for arm, parts in shown.items()}


def _override_text(value) -> str:
    """An override value as the experiment file writes it (JSON's lists as tuples)."""
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_override_text(v) for v in value) + ")"
    return str(value)


def _params_text(stats: dict) -> str:
    return f"{stats['mean'] / 1e6:.3f}M" if stats["mean"] is not None else "-"


def _gflops_text(stats: dict) -> str:
    return f"{stats['mean']:.4g}" if stats["mean"] is not None else "-"


def _rate_text(row: dict | None) -> str:
    return f"{row['img_per_s']:.0f}" if row and row.get("img_per_s") else "-"


def _examples_vary(results: dict) -> bool:
    counts = {json.dumps(row["train_examples"]["mean"]) for row in results["table"].values()}
    return len(counts) > 1 or results.get("plot_x") == "train_examples"


def has_throughput_plot(results: dict) -> bool:
    """Some arm has both a test accuracy and an inference img/s."""
    timed = (results.get("inference") or {}).get("arms", {})
    return any(
        (timed.get(arm) or {}).get("img_per_s") and row["test_accuracy"]["mean"] is not None
        for arm, row in results["table"].items()
    )


def _inference_note(inference: dict | None) -> str:
    if not inference:
        return "Inference img/s: not measured (`--noinference_timing`)."
    rows = [r for r in inference["arms"].values() if r.get("img_per_s")]
    if not rows:
        errors = [r.get("error") for r in inference["arms"].values() if r.get("error")]
        return f"Inference img/s: not measured ({errors[0] if errors else 'no arm timed'})."
    settings = {(r["batch_size"], r["dtype"]) for r in rows}
    setting = (
        f"batch {rows[0]['batch_size']}, {rows[0]['dtype']}" if len(settings) == 1
        else "each arm's eval batch size and dtype (results.json)"
    )
    failed = [arm for arm, r in inference["arms"].items() if r.get("error")]
    why = f" Not measured for {', '.join(failed)} (results.json says why)." if failed else ""
    return (
        f"Inference img/s: the arm's eval forward pass (random weights, {setting}), compiled "
        f"and timed at report time on {inference['device']}: the median of "
        f"{rows[0]['repeats']} timed calls after a warm-up, the arms called in turn so that "
        f"all see the same machine load (mixer_vit/bench timing); one measurement per arm, "
        f"not per seed.{why}"
    )


def _metric_cells(row: dict, metrics: dict) -> str:
    """" m ± s |" per metric path (4 significant digits: metrics have no common scale)."""
    cells = []
    for path in metrics:
        stats = (row.get("metrics") or {}).get(path) or {"mean": None}
        if stats["mean"] is None:
            cells.append(" - |")
            continue
        text = f"{stats['mean']:.4g}"
        if stats.get("std") is not None:  # rounding noise of equal values shows as 0
            std = stats["std"] if stats["std"] > 1e-9 * max(1.0, abs(stats["mean"])) else 0.0
            text += f" ± {std:.2g}"
        cells.append(f" {text} |")
    return "".join(cells)


def results_markdown(results: dict) -> str:
    published = results["published"]
    source = f" ({published['source']})" if published["source"] else ""
    examples = _examples_vary(results)
    metrics = results.get("metrics") or {}
    metric_heads = "".join(f" {label} |" for label in metrics.values())
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
        f"| arm | what differs | n | test accuracy (%) |{metric_heads} params | GFLOPs/img "
        f"| train img/s | inference img/s |{' train examples |' if examples else ''} wall "
        f"time (s) | published{source} |",
        "|---|---|---|---|---|---|---|---|---|---|" + ("---|" if examples else "")
        + "---|" * len(metrics),
    ]
    differs = _distinguishing(results)
    timed = (results.get("inference") or {}).get("arms", {})
    for arm, row in results["table"].items():
        count = row["train_examples"]["mean"]
        count_text = f" {count:.0f} |" if count is not None else " - |"
        lines.append(
            f"| {arm} | {differs[arm]} | {row['test_accuracy']['n']} | "
            f"{_pm(row['test_accuracy'], 100)} |{_metric_cells(row, metrics)} "
            f"{_params_text(row['params'])} | "
            f"{_gflops_text(row['gflops_per_image'])} | {_pm(row['train_img_per_s'], 1, 0)} | "
            f"{_rate_text(timed.get(arm))} |{count_text if examples else ''} "
            f"{_pm(row['wall_time_s'], 1, 0)} | {published['values'].get(arm, '-')} |"
        )
    if results["missing_runs"]:
        lines += ["", f"Runs not finished yet: {', '.join(results['missing_runs'])}."]
    machine = results["machine"]
    gpus = f", {len(machine['gpus'])} GPU(s): {machine['gpus'][0]}" if machine.get("gpus") else ""
    plots = [f"![test accuracy per arm]({PLOT_FILE})"]
    if has_throughput_plot(results):
        plots.append(f"![test accuracy against inference img/s]({THROUGHPUT_PLOT_FILE})")
    lines += [
        "",
        " ".join(plots),
        "",
        "Test accuracy: mean ± sample std (ddof=1) over the n seeds of an arm. GFLOPs: one "
        "forward pass per image as XLA counts them (a multiply-add is 2 FLOPs, about twice "
        "the GMACs papers quote). Train img/s: the median over each run's logged train "
        "windows, mean over seeds. Wall time: per run, including start-up and compiling."
        + (f" {', '.join(metrics.values())}: the run's test report numbers "
           f"({', '.join(f'`{p}`' for p in metrics)} of test_report.json), mean ± std over "
           f"seeds." if metrics else ""),
        "",
        _inference_note(results.get("inference")),
        "",
        f"Command: `{results['command']}`",
        "",
        f"Machine (training runs): {machine['cpu']}, {machine['cores']} cores{gpus}; jax "
        f"{machine['jax']}, jaxlib {machine['jaxlib']}, Python {machine['python']}, "
        f"{machine['platform']}.",
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
