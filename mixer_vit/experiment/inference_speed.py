"""Inference throughput of each arm's model, measured at report time from the arm's config
alone: the model built as its runs build it (``model.name``, overrides, the data set's
classes and image shape, ``model.dtype`` and ``model.kernels``), randomly initialised, its
eval forward compiled at the eval batch size (``train.global_batch_size``: the train
command evaluates in batches of that size), then timed with ``mixer_vit.bench``'s
inference row (``prepare_ours``, ``time_alternating``, ``finish_row``): img/s is the
median over the timed calls, all devices together.

The runner keeps its own process off accelerators (its training runs need their memory),
so ``measure_in_child`` times the arms in a child process that sees the machine as a
training run does (on a GPU machine, the GPU), once every run has finished:

  python -m mixer_vit.experiment.inference_speed ARMS.json OUT.json SECONDS_PER_ARM

ARMS.json: ``{arm: {"config": "FILE[:ARG]", "overrides": {"a.b": value}}}``; OUT.json:
``{"device": text, "arms": {arm: row}}`` (``row`` below, or ``{"error": text}`` for an arm
that could not be timed: the report shows "-" for it and keeps everything else).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from typing import Any

SECONDS_PER_ARM = 2.0  # timed calls per arm: about this long, 3 to 20 of them
MIN_REPEATS, MAX_REPEATS = 3, 20


def _arm_config(config_spec: str, overrides: Mapping[str, Any]):
    """The arm's full config: its config file with the arm's overrides applied."""
    from mixer_vit.experiment.config_overrides import check_against
    from mixer_vit.experiment.spec import load_base_config

    config = load_base_config(config_spec)
    check_against(config, dict(overrides), f"config {config_spec}")
    return config


def _model_input(config) -> tuple[tuple[int, int, int], int]:
    """((H, W, C) the model sees, number of classes), from the data set's info."""
    from mixer_vit import data
    from mixer_vit.train.plan import input_shape

    data_dir = config.data.data_dir or data.default_data_dir()
    info = data.data_info(config.data.name, data_dir)
    return tuple(input_shape(config, data_dir, info.image_shape)), info.num_classes


def prepare_arm(config_spec: str, overrides: Mapping[str, Any]):
    """(a blocking call of the arm's compiled eval forward on float inputs
    ``[batch, H, W, C]``, its bench row without timings, the row's extra fields)."""
    from mixer_vit.bench.throughput import prepare_ours
    from mixer_vit.train.kernels_switch import apply_kernels

    config = _arm_config(config_spec, overrides)
    (height, width, channels), num_classes = _model_input(config)
    if height != width:
        raise ValueError(f"images are {height}x{width}; the timing takes square images")
    apply_kernels(config.model.get("kernels", "auto") or "auto")
    model_overrides = dict(config.model.overrides.to_dict())
    model_overrides.setdefault("num_classes", num_classes)
    batch_size = int(config.train.global_batch_size)
    dtype = str(config.model.get("dtype", "float32") or "float32")
    call, row = prepare_ours(
        config.model.name,
        "inference",
        dtype,
        height,
        batch_size,
        overrides=model_overrides,
        channels=channels,
    )
    return call, row, {"image_shape": [height, width, channels]}


def device_description() -> str:
    """E.g. "1 x NVIDIA H100 80GB HBM3 (gpu)", or "1 x cpu (cpu): AMD EPYC, 2 cores"."""
    import jax

    from mixer_vit.experiment.machine import cpu_model

    device = jax.devices()[0]
    text = f"{jax.device_count()} x {device.device_kind} ({device.platform})"
    if device.platform == "cpu":
        text += f": {cpu_model()}, {os.cpu_count()} cores"
    return text


def measure_arms(
    arms: Mapping[str, Mapping[str, Any]], seconds: float = SECONDS_PER_ARM
) -> dict[str, Any]:
    """{"device": text, "arms": {arm: row or {"error": text}}} in this process; a row:
    "img_per_s" (median), "img_per_s_min", "img_per_s_max", "batch_size", "dtype",
    "image_shape", "repeats", "compile_s".

    Every arm is compiled first, then timed in rounds that call each arm once, in turn
    (``bench.timing.time_alternating``), so all arms see the same load of a shared
    machine; the rounds (3 to 20) take about ``seconds`` per arm."""
    from mixer_vit.bench.throughput import finish_row
    from mixer_vit.bench.timing import time_alternating

    rows: dict[str, Any] = {}
    prepared = {}
    for arm, spec in arms.items():
        try:
            call, row, extra = prepare_arm(spec["config"], spec.get("overrides", {}))
            start = time.perf_counter()
            call()  # the first call after compiling, untimed; it sizes the rounds
            prepared[arm] = (call, row, extra, time.perf_counter() - start)
        except Exception as e:  # noqa: BLE001 - one arm's failure must not cost the report
            rows[arm] = {"error": " ".join(f"{type(e).__name__}: {e}".split())[:300]}
    if prepared:
        round_s = sum(first for *_, first in prepared.values())
        budget = seconds * len(prepared)
        repeats = int(min(MAX_REPEATS, max(MIN_REPEATS, budget // max(round_s, 1e-6))))
        calls = [call for call, *_ in prepared.values()]
        timings = time_alternating(calls, warmup=1, repeats=repeats, settle=0)
        for (arm, (_, row, extra, _)), seconds_of_arm in zip(prepared.items(), timings):
            timed = finish_row(row, seconds_of_arm)
            rows[arm] = {
                "img_per_s": timed["img_per_s"],
                "img_per_s_min": timed["img_per_s_min"],
                "img_per_s_max": timed["img_per_s_max"],
                "batch_size": row["batch_size"],
                "dtype": row["dtype"],
                **extra,
                "repeats": repeats,
                "compile_s": row["compile_s"],
            }
    return {"device": device_description(), "arms": {arm: rows[arm] for arm in arms}}


def measure_in_child(
    arms: Mapping[str, Mapping[str, Any]],
    seconds: float = SECONDS_PER_ARM,
    timeout_s: float = 900,
) -> dict:
    """``measure_arms`` in a child process (``python -m mixer_vit.experiment.inference_speed``)
    with the unchanged environment; every arm gets {"error": ...} when the child fails."""
    with tempfile.TemporaryDirectory() as folder:
        arms_path, out_path = os.path.join(folder, "arms.json"), os.path.join(folder, "out.json")
        with open(arms_path, "w") as f:
            json.dump(arms, f)
        command = [sys.executable, "-m", "mixer_vit.experiment.inference_speed", arms_path,
                   out_path, str(seconds)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
            failure = "" if done.returncode == 0 else (
                f"exit status {done.returncode}: "
                f"{(done.stderr.strip().splitlines() or [''])[-1][-200:]}"
            )
        except subprocess.TimeoutExpired:
            failure = f"timed out after {timeout_s:.0f} s"
        if not failure and os.path.isfile(out_path):
            with open(out_path) as f:
                return json.load(f)
    reason = f"timing process failed ({failure or 'no output'})"
    return {"device": None, "arms": {arm: {"error": reason} for arm in arms}}


def main(argv: list[str]) -> int:
    from mixer_vit.xla_cpu_flags import set_default_xla_cpu_flags

    set_default_xla_cpu_flags()  # the benchmark's XLA:CPU settings, before JAX starts
    arms_path, out_path, seconds = argv
    with open(arms_path) as f:
        arms = json.load(f)
    with open(out_path, "w") as f:
        json.dump(measure_arms(arms, float(seconds)), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
