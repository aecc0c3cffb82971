"""``mixer-vit bench``: every model x resolution x batch x dtype x mode, one row each.

Runs the matmul peak benchmark (per dtype used), each row with a progress bar, then the
peak benchmark again (the better of the two measurements is the peak utilisation uses);
prints the Markdown table and, with ``--out``, writes ``results.json`` and
``throughput.png`` there.
"""

from __future__ import annotations

import itertools
import platform
from typing import Any

import jax
from tqdm import tqdm

from mixer_vit.bench.options import BenchOptions
from mixer_vit.bench.peak import default_matmul_size, matmul_peak_flops
from mixer_vit.bench.report import markdown_table, write_outputs
from mixer_vit.bench.throughput import finish_row, prepare_ours
from mixer_vit.bench.timing import (
    per_round_comparison,
    throughput,
    time_alternating,
    time_calls,
)


def environment(peaks: dict[str, float]) -> dict[str, Any]:
    device = jax.devices()[0]
    return {
        "device": f"{jax.device_count()} x {device.device_kind} ({device.platform})",
        "platform": device.platform,
        "device_count": jax.device_count(),
        "host": platform.processor() or platform.machine(),
        "jax_version": jax.__version__,
        "matmul_size": default_matmul_size(device),
        "matmul_peak_tflops_per_device": {k: v / 1e12 for k, v in peaks.items()},
    }


def complete_row(row: dict[str, Any], peak_flops: float) -> dict[str, Any]:
    """Adds achieved TFLOP/s (all devices) and utilisation of one device's matmul peak."""
    flops_per_s = row["gflops_per_image"] * 1e9 * row["img_per_s"]
    row["tflops_per_s"] = flops_per_s / 1e12
    row["peak_tflops_per_device"] = peak_flops / 1e12
    row["utilisation"] = flops_per_s / row["devices"] / peak_flops
    memory = row["peak_memory_bytes"]
    row["peak_memory_gib"] = None if memory is None else memory / 2**30
    return row


def measure_peaks(dtypes: tuple[str, ...], description: str) -> dict[str, float]:
    """Matmul peak FLOP/s per dtype (``mixer_vit.bench.peak``), with a progress bar."""
    return {d: matmul_peak_flops(d) for d in tqdm(dtypes, desc=description, disable=None)}


def measure_row(
    options: BenchOptions, name: str, size: int, batch: int, dtype: str, mode: str
) -> dict[str, Any]:
    """One row, timed (and timm's alternating with it under ``--vs_timm``); without the
    utilisation columns, which :func:`complete_row` adds once the peak is known."""
    call, row = prepare_ours(
        name,
        mode,
        dtype,
        size,
        batch,
        scan=options.scan,
        overrides=options.overrides,
        channels=options.channels,
    )
    if not options.vs_timm:
        return finish_row(row, time_calls(call, options.warmup, options.repeats))
    from mixer_vit.bench.timm_throughput import prepare_timm, timm_name

    # ours and timm's calls alternate, so both see the same machine load
    reference = prepare_timm(name, mode, dtype, size, batch, options.overrides, options.channels)
    seconds, timm_seconds = time_alternating([call, reference], options.warmup, options.repeats)
    row = finish_row(row, seconds)
    row["timm_name"] = timm_name(name)
    for key, value in throughput(timm_seconds, batch).items():
        row[f"timm_{key}"] = value
    row["ours_over_timm"] = row["img_per_s"] / row["timm_img_per_s"]
    row.update(per_round_comparison(seconds, timm_seconds))
    return row


def check_timm(options: BenchOptions) -> None:
    """With ``--vs_timm``: fail at once, with one line, when torch, timm or a model's
    timm counterpart is missing."""
    if options.vs_timm:
        from mixer_vit.bench.timm_throughput import import_timm, timm_name

        import_timm()
        for name in options.models:
            timm_name(name)


def run_bench(options: BenchOptions) -> list[dict[str, Any]]:
    check_timm(options)
    peaks = measure_peaks(options.dtypes, "matmul peak")
    grid = list(
        itertools.product(
            options.models, options.image_sizes, options.batch_sizes, options.dtypes, options.modes
        )
    )
    rows = [measure_row(options, *cell) for cell in tqdm(grid, desc="bench", disable=None)]
    # Measured again after the rows: the better of the two is the device's peak.
    again = measure_peaks(options.dtypes, "matmul peak, again")
    peaks = {dtype: max(flops, again[dtype]) for dtype, flops in peaks.items()}
    for row in rows:
        complete_row(row, peaks[row["dtype"]])
    env = environment(peaks)
    print(
        f"device: {env['device']}; matmul peak per device ({env['matmul_size']}^3): "
        + ", ".join(f"{k} {v:.3f} TFLOP/s" for k, v in env["matmul_peak_tflops_per_device"].items())
    )
    print(markdown_table(rows))
    if options.out:
        write_outputs(options.out, rows, env)
        print(f"wrote {options.out}/results.json and {options.out}/throughput.png")
    return rows
