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
    calls: list[Callable[[], Any]], warmup: int, repeats: int
) -> list[list[float]]:
    """Like :func:`time_calls` for several calls taken in turn (after each one's
    ``warmup``: call 0, call 1, ..., call 0, ...), so all see the same machine load
    (on a shared machine the load drifts between rows measured one after the other).
    Returns the seconds of each call's ``repeats`` timed runs."""
    for call in calls:
        for _ in range(warmup):
            call()
    seconds: list[list[float]] = [[] for _ in calls]
    for _ in range(repeats):
        for call, times in zip(calls, seconds):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
    return seconds


def throughput(seconds: list[float], batch_size: int) -> dict[str, float]:
    """Images per second: median over the timed calls, and the slowest / fastest call."""
    rates = [batch_size / s for s in seconds]
    return {
        "img_per_s": statistics.median(rates),
        "img_per_s_min": min(rates),
        "img_per_s_max": max(rates),
    }
