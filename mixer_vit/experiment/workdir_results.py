"""What a ``mixer-vit train`` workdir says about its run, read from the files the train
command writes: ``config.json`` (the config it started with), ``metrics.jsonl`` (one JSON
line per logged step and split) and ``test_report.json`` (written once training ended and
the test split was evaluated), plus the runner's own ``experiment_attempts.jsonl`` (one line
per launch: start time, seconds, exit status)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np

from mixer_vit.experiment.train_examples import train_examples_of

ATTEMPTS_FILE = "experiment_attempts.jsonl"


def _read_json_lines(path: str) -> list[dict]:
    if not os.path.isfile(path):
        return []
    lines = []
    with open(path) as f:
        for line in f:
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                pass  # a line cut short by a kill
    return lines


def _data_config(workdir: str) -> dict[str, Any]:
    with open(os.path.join(workdir, "config.json")) as f:
        return json.load(f).get("data", {})


def started_config(workdir: str) -> dict | None:
    """The config the workdir's first launch recorded (None before any launch)."""
    path = os.path.join(workdir, "config.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def config_differences(config: dict, wanted: dict[str, Any]) -> list[str]:
    """The dotted keys of ``wanted`` whose value in the nested ``config`` differs."""
    differing = []
    for path, value in wanted.items():
        node: Any = config
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if json.dumps(node) != json.dumps(list(value) if isinstance(value, tuple) else value):
            differing.append(f"{path}={node!r} (now {value!r})")
    return differing


def is_finished(workdir: str) -> bool:
    """The run trained to the end and wrote its test metrics."""
    return (
        os.path.isfile(os.path.join(workdir, "config.json"))
        and os.path.isfile(os.path.join(workdir, "test_report.json"))
        and _last_line_of_split(workdir, _data_config(workdir).get("test_split", "test"))
        is not None
    )


def _last_line_of_split(workdir: str, split: str) -> dict | None:
    lines = _read_json_lines(os.path.join(workdir, "metrics.jsonl"))
    lines = [m for m in lines if m.get("split") == split]
    return lines[-1] if lines else None


def last_logged_step(workdir: str) -> int:
    """The highest step in metrics.jsonl (0 before the first log line)."""
    lines = _read_json_lines(os.path.join(workdir, "metrics.jsonl"))
    return max((int(m.get("step", 0)) for m in lines), default=0)


def record_attempt(workdir: str, started: float, seconds: float, returncode: int) -> None:
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, ATTEMPTS_FILE), "a") as f:
        attempt = {"started": started, "seconds": seconds, "returncode": returncode}
        f.write(json.dumps(attempt) + "\n")


def wall_time(workdir: str) -> tuple[float | None, str]:
    """(seconds, how it was measured): the sum of the runner's launches of this workdir, or,
    for a run launched elsewhere, the span from config.json to the last metrics line."""
    attempts = _read_json_lines(os.path.join(workdir, ATTEMPTS_FILE))
    if attempts:
        return float(sum(a["seconds"] for a in attempts)), "runner launches"
    lines = _read_json_lines(os.path.join(workdir, "metrics.jsonl"))
    config_path = os.path.join(workdir, "config.json")
    if not lines or not os.path.isfile(config_path):
        return None, "unknown"
    return float(lines[-1]["time"] - os.path.getmtime(config_path)), "workdir timestamps"


def report_scalars(workdir: str) -> dict[str, float]:
    """Every number of the workdir's ``test_report.json`` (lists and text left out), keyed
    by its dotted path, e.g. ``{"ece": 0.03, "temperature_scaling.temperature": 1.4}``."""
    with open(os.path.join(workdir, "test_report.json")) as f:
        report = json.load(f)
    scalars: dict[str, float] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            scalars[prefix[:-1]] = float(node)

    walk(report, "")
    return scalars


def final_metrics(workdir: str) -> dict[str, Any]:
    """Test accuracy/loss/count and the step they were measured at, the last validation
    accuracy, training throughput: the median img/s over the logged train windows (the
    median keeps out the windows that include compiling), and the number of training
    examples the run read (None when its data set is not readable here), and every number
    of its test report (``report``: dotted path -> value)."""
    data = _data_config(workdir)
    test = _last_line_of_split(workdir, data.get("test_split", "test")) or {}
    validation = _last_line_of_split(workdir, data.get("eval_split", "validation")) or {}
    lines = _read_json_lines(os.path.join(workdir, "metrics.jsonl"))
    train_rates = [m["img_per_s"] for m in lines if m.get("split") == "train" and "img_per_s" in m]
    seconds, wall_source = wall_time(workdir)
    return {
        "test_accuracy": test.get("accuracy"),
        "test_loss": test.get("loss"),
        "test_count": test.get("count"),
        "steps": test.get("step"),
        "validation_accuracy": validation.get("accuracy"),
        "train_img_per_s": float(np.median(train_rates)) if train_rates else None,
        "train_examples": train_examples_of(data),
        "wall_time_s": seconds,
        "wall_time_from": wall_source,
        "report": report_scalars(workdir),
        "finished_at": time.strftime(
            "%Y-%m-%dT%H:%M:%SZ",
            time.gmtime(os.path.getmtime(os.path.join(workdir, "test_report.json"))),
        ),
    }
