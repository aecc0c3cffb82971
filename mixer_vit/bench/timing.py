"""Timing helpers shared by the JAX and the PyTorch (timm) throughput measurements."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def time_calls(call: Callable[[], Any], warmup: int, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` calls after ``warmup`` untimed ones. ``call`` must
    block until its work is done."""
    for _ in range(warmup):
        call()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return seconds


def time_alternating(
    calls: list[Callable[[], Any]], warmup: int, repeats: int, settle: int = 1
) -> list[list[float]]:
    """Like :func:`time_calls` for several calls taken in turn, so all see the same machine
    load (on a shared machine the load drifts between rows measured one after the other).
    After each one's ``warmup``, ``repeats`` rounds run every call once; round ``r`` starts
    with call ``r % len(calls)`` (two calls: A B, B A, A B, ...), so no call always runs
    first. Each timed call follows ``settle`` untimed calls of its own: a training step
    right after the other framework's found its memory handed back and re-zeroed by the
    kernel (ViT-S/16: 6-7 s of system time, 10 s instead of 6 s; docs/benchmarks.md), a
    cost neither pays when run alone. Returns the seconds of each call's ``repeats`` timed
    runs, in round order."""
    for call in calls:
        for _ in range(warmup):
            call()
    seconds: list[list[float]] = [[] for _ in calls]
    for round_index in range(repeats):
        for offset in range(len(calls)):
            index = (round_index + offset) % len(calls)
            for _ in range(settle):
                calls[index]()
            start = time.perf_counter()
            calls[index]()
            seconds[index].append(time.perf_counter() - start)
    return seconds


def per_round_comparison(ours: list[float], reference: list[float]) -> dict[str, Any]:
    """Per-round view of two call timings from :func:`time_alternating` (round ``r``: the
    ``r``-th entry of each): the median of ``reference / ours`` over the rounds (> 1: ours
    faster; robust to load drifting during the row), in how many rounds ours was faster,
    and the number of rounds."""
    ratios = [r / o for o, r in zip(ours, reference, strict=True)]
    return {
        "ours_over_timm_per_round": statistics.median(ratios),
        "rounds_ours_faster": sum(ratio > 1 for ratio in ratios),
        "rounds": len(ratios),
    }


def throughput(seconds: list[float], batch_size: int) -> dict[str, float]:
    """Images per second: median over the timed calls, and the slowest / fastest call."""
    rates = [batch_size / s for s in seconds]
    return {
        "img_per_s": statistics.median(rates),
        "img_per_s_min": min(rates),
        "img_per_s_max": max(rates),
    }
