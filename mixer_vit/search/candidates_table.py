"""Per-candidate results from the history: each candidate's furthest evaluation, ranked,
and the Pareto front of validation accuracy against forward GFLOPs."""

from __future__ import annotations


def furthest_records(history: list[dict]) -> list[dict]:
    """One record per candidate: its evaluation at the most epochs (the latest such)."""
    best: dict[str, dict] = {}
    for record in history:
        kept = best.get(record["name"])
        if kept is None or record["epochs"] >= kept["epochs"]:
            best[record["name"]] = record
    return list(best.values())


def ranked(history: list[dict]) -> list[dict]:
    """Candidates, those evaluated at the most epochs first, then by validation accuracy
    (ties: fewer GFLOPs, then the earlier step). Test accuracy plays no part."""
    return sorted(furthest_records(history),
                  key=lambda r: (-r["epochs"], -r["validation_accuracy"], r["gflops"], r["step"]))


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points ``(gflops, accuracy)`` that no other point dominates (at most
    the FLOPs and at least the accuracy, better in one), sorted by FLOPs."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front
