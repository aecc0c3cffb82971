"""The GPU check: everything worth knowing about a new NVIDIA GPU machine, one command.

  python -m mixer_vit.bench.gpu_check --out DIR           (or: make gpu-check)
  python -m mixer_vit.bench.gpu_check --out DIR --smoke   (the same plumbing on CPU, tiny)

With ``jax[cuda13]`` on a machine with an NVIDIA GPU it

1. measures the bfloat16 matmul peak (``mixer_vit.bench.peak``, before and after the rows);
2. runs the bench rows ViT-B/16 and Mixer-B/16, bfloat16, inference and train, batch 256
   at 224x224 (``mixer_vit.bench.run.measure_row``: same timing, FLOPs and utilisation
   as ``mixer-vit bench``), with timm alternating on the same GPU when torch sees CUDA;
3. records the attention implementation ``implementation="auto"`` chose for each case
   traced (``mixer_vit.layers.attention_implementation``) and checks the chosen fused
   kernel against plain attention on a ViT-B/16-sized input;
4. trains the default config (``experiments/configs/digits.py``) with ``mixer-vit train``
   in a temporary workdir and reads back its test accuracy;

and writes ``DIR/gpu_check.json`` and ``DIR/gpu_check.md`` (the same results as a page
for docs/gpu.md). A row that fails (e.g. out of memory) is recorded with its error and the
check goes on. Without a GPU (and without ``--smoke``) it stops at once with a one-line
error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
import traceback
from typing import Any

from mixer_vit.errors import UserError

RESULTS_JSON, RESULTS_MD = "gpu_check.json", "gpu_check.md"
DIGITS_CONFIG = os.path.join(
    os.path.dirname(__file__), "..", "..", "experiments", "configs", "digits.py"
)


@dataclasses.dataclass(frozen=True)
class CheckPlan:
    """What one run of the check measures."""

    models: tuple[tuple[str, str], ...]  # (model name, --override text for that model)
    image_size: int
    batch_size: int
    modes: tuple[str, ...]
    repeats: int
    warmup: int
    train_flags: tuple[str, ...]  # extra `mixer-vit train` flags for the digits run
    attention_shape: tuple[int, int, int, int]  # batch, tokens, heads, head_dim
    dtype: str = "bfloat16"


GPU_PLAN = CheckPlan(
    models=(("vit_b16", ""), ("mixer_b16", "")),
    image_size=224,
    batch_size=256,
    modes=("inference", "train"),
    repeats=10,
    warmup=3,
    train_flags=(),
    attention_shape=(32, 197, 12, 64),
)
SMOKE_PLAN = CheckPlan(
    models=(
        ("vit_ti16", "patch_size=8,embed_dim=32,depth=1,mixer_kwargs.num_heads=2"),
        ("mixer_s16", "patch_size=8,embed_dim=32,depth=1,mixer_kwargs.tokens_mlp_dim=16"),
    ),
    image_size=32,
    batch_size=4,
    modes=("inference", "train"),
    repeats=1,
    warmup=1,
    train_flags=(
        "--config.train.num_epochs=1",
        "--config.model.overrides.depth=1",
        "--config.model.overrides.embed_dim=32",
    ),
    attention_shape=(2, 17, 2, 16),
)


def check_out(out: str) -> None:
    """``out`` must be a directory (created if missing) without an earlier check's results."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"--out {out} is a file; give a directory (created if missing)")
    taken = [f for f in (RESULTS_JSON, RESULTS_MD) if os.path.exists(os.path.join(out, f))]
    if taken:
        raise UserError(
            f"--out {out} already holds {' and '.join(taken)}; give a new directory "
            "(nothing is overwritten)"
        )
    os.makedirs(out, exist_ok=True)


def check_backend(smoke: bool) -> None:
    import jax

    if not smoke and jax.default_backend() != "gpu":
        raise UserError(
            f"no GPU: JAX's backend is '{jax.default_backend()}'; on a machine with an "
            "NVIDIA GPU install jax[cuda13], or add --smoke to check the plumbing on CPU"
        )


def timm_on_gpu() -> tuple[bool, str]:
    """(whether timm can run on the GPU here, why not)."""
    try:
        import torch
    except ImportError:
        return False, "torch is not installed"
    if not torch.cuda.is_available():
        return False, f"torch {torch.__version__} sees no CUDA device"
    from mixer_vit.bench.timm_throughput import import_timm

    try:
        import_timm()
    except UserError as e:
        return False, str(e)
    return True, f"torch {torch.__version__}, CUDA {torch.version.cuda}"


def bench_rows(plan: CheckPlan, vs_timm: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The bench rows of ``plan`` (with utilisation) and the bench's environment record."""
    from mixer_vit.bench.options import bench_options
    from mixer_vit.bench.run import complete_row, environment, measure_peaks, measure_row

    dtypes = (plan.dtype,)
    peaks = measure_peaks(dtypes, "matmul peak")
    rows = []
    for name, override in plan.models:
        options = bench_options(
            models=name,
            image_sizes=str(plan.image_size),
            batch_sizes=str(plan.batch_size),
            dtypes=plan.dtype,
            modes=",".join(plan.modes),
            repeats=plan.repeats,
            warmup=plan.warmup,
            out=None,
            vs_timm=vs_timm,
            scan=False,
            override=override or None,
        )
        for mode in plan.modes:
            print(f"bench: {name} {mode} {plan.dtype} batch {plan.batch_size}", flush=True)
            try:
                rows.append(
                    measure_row(options, name, plan.image_size, plan.batch_size, plan.dtype, mode)
                )
            except Exception as e:  # recorded; the check goes on with the next row
                traceback.print_exc()
                rows.append({"model": name, "mode": mode, "dtype": plan.dtype, "error": repr(e)})
    again = measure_peaks(dtypes, "matmul peak, again")
    peaks = {d: max(peaks[d], again[d]) for d in dtypes}
    for row in rows:
        if "error" not in row:
            complete_row(row, peaks[row["dtype"]])
    return rows, environment(peaks)


def attention_parity(plan: CheckPlan) -> dict[str, Any]:
    """The fused kernel ``auto`` picks for a ViT-sized bfloat16 input against plain
    (``"xla"``) attention, same parameters: max |difference| over the outputs
    ``[B, N, H * head_dim]`` and the largest output magnitude for scale."""
    import jax
    import jax.numpy as jnp

    from mixer_vit.layers import MultiHeadSelfAttention
    from mixer_vit.layers.attention_implementation import auto_attention_implementation

    batch, tokens, heads, head_dim = plan.attention_shape
    dtype = jnp.dtype(plan.dtype)
    chosen = auto_attention_implementation(
        dtype, heads=heads, tokens=tokens, head_dim=head_dim, training=False, dropout_active=False
    )
    fused = "cudnn" if chosen == "cudnn" else "fused"  # off GPU: the same [B, N, H, hd] path
    x = jax.random.normal(jax.random.key(0), (batch, tokens, heads * head_dim), dtype)
    plain = MultiHeadSelfAttention(heads, implementation="xla", dtype=dtype)
    variables = plain.init(jax.random.key(1), x, deterministic=True)
    reference = plain.apply(variables, x, deterministic=True).astype(jnp.float32)
    kernel = MultiHeadSelfAttention(heads, implementation=fused, dtype=dtype)
    out = jax.jit(lambda v, y: kernel.apply(v, y, deterministic=True))(variables, x)
    return {
        "auto_choice": chosen,
        "compared": fused,
        "shape": [batch, tokens, heads, head_dim],
        "dtype": dtype.name,
        "max_abs_difference": float(jnp.abs(out.astype(jnp.float32) - reference).max()),
        "max_abs_output": float(jnp.abs(reference).max()),
    }


def _read_jsonl(path: str) -> list[dict[str, Any]]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def train_digits(plan: CheckPlan, config: str) -> dict[str, Any]:
    """``mixer-vit train --config <config>`` in a temporary workdir: exit status, wall
    seconds, steps and the test accuracy it reports."""
    from mixer_vit import cli

    with tempfile.TemporaryDirectory(prefix="gpu_check_digits_") as workdir:
        argv = ["train", "--config", config, "--workdir", workdir, *plan.train_flags]
        start = time.perf_counter()
        status = cli.main(argv)
        seconds = time.perf_counter() - start
        records = _read_jsonl(os.path.join(workdir, "metrics.jsonl"))
        report_path = os.path.join(workdir, "test_report.json")
        report = {}
        if os.path.exists(report_path):
            with open(report_path) as f:
                report = json.load(f)
    test = [r for r in records if r.get("split") == "test"]
    steps = max((r["step"] for r in records), default=0)
    return {
        "command": "mixer-vit " + " ".join(a if a != workdir else "TMPDIR" for a in argv),
        "exit_status": status,
        "wall_s": seconds,
        "steps": steps,
        "steps_per_s": steps / seconds if seconds > 0 else None,
        "test_accuracy": report.get("top1", test[-1].get("accuracy") if test else None),
        "test_loss": test[-1].get("loss") if test else None,
    }


def _choices_table(choices: list[dict[str, Any]]) -> list[str]:
    keys = ("platform", "dtype", "heads", "tokens", "head_dim", "training", "dropout_active")
    lines = ["| " + " | ".join(keys) + " | implementation |", "|---" * (len(keys) + 1) + "|"]
    for c in choices:
        lines.append("| " + " | ".join(str(c[k]) for k in keys) + f" | {c['implementation']} |")
    return lines


def _parity_line(parity: dict[str, Any]) -> str:
    if "error" in parity:
        return f"Fused attention check failed: {parity['error']}"
    return (
        f"Fused path `{parity['compared']}` against plain attention, {parity['dtype']}, "
        f"[B, N, H, head_dim] = {parity['shape']}: max |difference| "
        f"{parity['max_abs_difference']:.3g} (outputs up to {parity['max_abs_output']:.3g})."
    )


def _training_line(train: dict[str, Any]) -> str:
    if "error" in train:
        return f"Training failed: {train['error']}"
    accuracy = train["test_accuracy"]
    return (
        f"`{train['command']}`: exit status {train['exit_status']}, {train['steps']} steps in "
        f"{train['wall_s']:.1f} s (compile included), test accuracy "
        f"{'not reported' if accuracy is None else f'{accuracy:.4f}'}."
    )


def markdown(results: dict[str, Any]) -> str:
    """The results as a Markdown page."""
    from mixer_vit.bench.report import markdown_table

    env, train = results["environment"], results["digits_training"]
    parity = results["attention_parity"]
    peaks = ", ".join(
        f"{k} {v:.3g} TFLOP/s" for k, v in env["matmul_peak_tflops_per_device"].items()
    )
    lines = [
        f"# GPU check{' (smoke: plumbing only, tiny sizes)' if results['smoke'] else ''}",
        "",
        f"- device: {env['device']}, compute capability {results['compute_capability']}",
        f"- jax {env['jax_version']}; timm: {results['timm']}",
        f"- matmul peak per device ({env['matmul_size']}^3): {peaks}",
        f"- command: `{results['command']}`",
        "",
        "## Bench rows",
        "",
        markdown_table([r for r in results["rows"] if "error" not in r]),
        *(f"- {r['model']} {r['mode']}: failed: {r['error']}" for r in results["rows"]
          if "error" in r),
        "",
        "## Attention implementation chosen by `auto`",
        "",
        *_choices_table(results["attention_choices"]),
        "",
        _parity_line(parity),
        "",
        "## Digits default training",
        "",
        _training_line(train),
        "",
    ]
    return "\n".join(lines)


def _or_error(step, *args) -> dict[str, Any]:
    """``step(*args)``, or ``{"error": ...}`` (traceback printed) if it raises: one step
    failing must not cost the results of the others."""
    try:
        return step(*args)
    except Exception as e:
        traceback.print_exc()
        return {"error": repr(e)}


def run_check(
    out: str, smoke: bool, config: str = DIGITS_CONFIG, plan: CheckPlan | None = None
) -> dict[str, Any]:
    """Runs the check (``plan``; default ``GPU_PLAN``, or ``SMOKE_PLAN`` with ``smoke``)
    and writes the two result files into ``out``; returns the results."""
    if not os.path.isfile(config):
        raise UserError(f"--config {config} does not exist; give a config file to train")
    check_out(out)
    from mixer_vit.bench.timm_throughput import share_gpu_memory
    from mixer_vit.xla_cpu_flags import set_default_xla_cpu_flags

    set_default_xla_cpu_flags()  # as `mixer-vit bench`, before JAX's backends start
    if not smoke:
        share_gpu_memory()  # timm runs in this process too
    check_backend(smoke)
    from mixer_vit.layers.attention_implementation import (
        clear_recorded_choices,
        cuda_compute_capability,
        recorded_choices,
    )

    plan = plan or (SMOKE_PLAN if smoke else GPU_PLAN)
    vs_timm, timm_note = (False, "not run in smoke mode") if smoke else timm_on_gpu()
    clear_recorded_choices()
    rows, env = bench_rows(plan, vs_timm)
    parity = _or_error(attention_parity, plan)
    results = {
        "smoke": smoke,
        "command": f"python -m mixer_vit.bench.gpu_check --out {out}"
        + (" --smoke" if smoke else ""),
        "environment": env,
        "compute_capability": cuda_compute_capability(),
        "timm": timm_note,
        "rows": rows,
        "attention_parity": parity,
        "digits_training": _or_error(train_digits, plan, os.path.abspath(config)),
        "attention_choices": recorded_choices(),  # the bench rows' and the training's
    }
    with open(os.path.join(out, RESULTS_JSON), "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    with open(os.path.join(out, RESULTS_MD), "w") as f:
        f.write(markdown(results))
    print(markdown(results))
    print(f"wrote {os.path.join(out, RESULTS_JSON)} and {os.path.join(out, RESULTS_MD)}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="Directory for gpu_check.json and .md.")
    parser.add_argument("--smoke", action="store_true", help="Tiny sizes, CPU allowed.")
    parser.add_argument("--config", default=DIGITS_CONFIG, help="Config trained at the end.")
    args = parser.parse_args(argv)
    try:
        run_check(args.out, args.smoke, args.config)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
