"""Learning curves from round records: accuracy against labels, mean +- std over seeds,
and the labels each strategy needs to reach a target accuracy.

Everything here is computed from the ``rounds.jsonl`` records alone (rerunning it is
free). std is the sample standard deviation (ddof=1, None for one seed), as in the
experiment runner's tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from mixer_vit.experiment.aggregate import mean_std

METRICS = ("test_accuracy", "validation_accuracy")


def curve(records_by_seed: Mapping[int, Sequence[dict]]) -> list[dict]:
    """seed -> that seed's round records -> one point per label count, ascending:
    ``{"labels": n, "test_accuracy": {"mean", "std", "n"}, "validation_accuracy": {...}}``
    over the seeds that reached n labels."""
    by_labels: dict[int, list[dict]] = {}
    for records in records_by_seed.values():
        for record in records:
            by_labels.setdefault(int(record["labels"]), []).append(record)
    return [
        {"labels": labels, **{m: mean_std(r[m] for r in by_labels[labels]) for m in METRICS}}
        for labels in sorted(by_labels)
    ]


def labels_to_reach(points: Iterable[tuple[int, float]], target: float) -> int | None:
    """The smallest label count whose accuracy is >= ``target`` among (labels, accuracy)
    points; None when no point reaches it."""
    reached = [labels for labels, accuracy in points if accuracy is not None and accuracy >= target]
    return min(reached) if reached else None


def labels_needed(
    records_by_seed: Mapping[int, Sequence[dict]], points: Sequence[dict], target: float
) -> dict:
    """For validation and test: ``{"mean_curve": labels where the mean over seeds first
    reaches target (None: not reached), "per_seed": {seed: labels or None}}``."""
    needed = {}
    for metric, name in (("validation_accuracy", "validation"), ("test_accuracy", "test")):
        mean_curve = labels_to_reach(((p["labels"], p[metric]["mean"]) for p in points), target)
        per_seed = {
            int(seed): labels_to_reach(((r["labels"], r[metric]) for r in records), target)
            for seed, records in sorted(records_by_seed.items())
        }
        needed[name] = {"mean_curve": mean_curve, "per_seed": per_seed}
    return needed


def build_results(
    records: Mapping[str, Mapping[int, Sequence[dict]]],
    *,
    target_accuracy: float,
    label_schedule: Sequence[int],
    config: str,
    settings: dict,
) -> dict:
    """strategy -> seed -> records => the results.json dict: per strategy its seeds, its
    curve and the labels it needs to reach ``target_accuracy``; ``label_schedule`` the
    label counts a finished loop trains at."""
    strategies = {}
    for strategy, by_seed in records.items():
        by_seed = {seed: rs for seed, rs in by_seed.items() if rs}
        if not by_seed:
            continue
        points = curve(by_seed)
        strategies[strategy] = {
            "seeds": sorted(int(s) for s in by_seed),
            "finished_seeds": sorted(
                int(s) for s, rs in by_seed.items() if len(rs) == len(label_schedule)
            ),
            "curve": points,
            "labels_needed": labels_needed(by_seed, points, target_accuracy),
        }
    return {
        "config": config,
        "target_accuracy": target_accuracy,
        "label_schedule": list(label_schedule),
        "settings": settings,
        "strategies": strategies,
    }


def _percent(stats: dict) -> str:
    if stats["mean"] is None:
        return "-"
    spread = f" ± {100 * stats['std']:.1f}" if stats["std"] is not None else ""
    return f"{100 * stats['mean']:.1f}{spread}"


def _labels(value: int | None) -> str:
    return "not reached" if value is None else str(value)


def results_markdown(results: dict) -> str:
    """results.md: the test-accuracy table (label counts x strategies, mean ± std %, n
    seeds), then the labels each strategy needs to reach the target."""
    strategies = results["strategies"]
    target = 100 * results["target_accuracy"]
    lines = [
        "# Active learning: test accuracy against labels",
        "",
        f"Config: `{results['config']}`. Test accuracy (%) of the model trained on the "
        "labelled set, mean ± std over seeds (n seeds in brackets); the test split decides "
        "nothing, it is read once per round for this table.",
        "",
    ]
    if not strategies:
        return "\n".join(lines + ["No finished rounds yet.", ""])
    names = list(strategies)
    lines += ["| labels | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for labels in results["label_schedule"]:
        cells = []
        for name in names:
            point = next((p for p in strategies[name]["curve"] if p["labels"] == labels), None)
            stats = point["test_accuracy"] if point else None
            cells.append(f"{_percent(stats)} ({stats['n']})" if stats else "-")
        lines.append(f"| {labels} | " + " | ".join(cells) + " |")
    random_needed = strategies.get("random", {}).get("labels_needed", {})
    lines += [
        "",
        f"## Labels needed to reach {target:g}% accuracy",
        "",
        "Where the mean curve over seeds first reaches the target (validation decides; "
        "test shown beside it), the share of random's labels a strategy saves on test "
        "(negative: it needs more), and each seed's own count on test.",
        "",
        "| strategy | validation | test | labels saved vs random (test) | per seed (test) |",
        "|---|---|---|---|---|",
    ]
    for name in names:
        needed = strategies[name]["labels_needed"]
        test_needed, random_test = needed["test"]["mean_curve"], None
        if random_needed:
            random_test = random_needed["test"]["mean_curve"]
        versus = "-"
        if name != "random" and test_needed is not None and random_test:
            versus = f"{100 * (1 - test_needed / random_test):.0f}%"
        per_seed = ", ".join(
            f"{seed}: {_labels(n)}" for seed, n in needed["test"]["per_seed"].items()
        )
        lines.append(
            f"| {name} | {_labels(needed['validation']['mean_curve'])} | "
            f"{_labels(test_needed)} | {versus} | {per_seed} |"
        )
    return "\n".join(lines + [""])
