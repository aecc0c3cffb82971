"""The GPU check's plumbing on CPU (mixer_vit.bench.gpu_check): refusals, the results
files, and (slow) the whole smoke run through the digits training."""

from __future__ import annotations

import dataclasses
import json
import os

import jax
import pytest

from mixer_vit.bench import gpu_check


@pytest.mark.skipif(jax.default_backend() == "gpu", reason="checks the no-GPU refusal")
def test_without_gpu_and_without_smoke_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # what the check sets
    assert gpu_check.main(["--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no GPU") and "--smoke" in err and "\n" not in err


def test_refuses_an_out_dir_holding_results_or_a_file(tmp_path, capsys):
    (tmp_path / gpu_check.RESULTS_JSON).write_text("{}")
    assert gpu_check.main(["--out", str(tmp_path), "--smoke"]) == 2
    assert "already holds gpu_check.json" in capsys.readouterr().err
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert gpu_check.main(["--out", str(a_file), "--smoke"]) == 2
    assert "is a file" in capsys.readouterr().err


def test_jax_shares_the_gpu_with_torch_unless_the_user_chose():
    from mixer_vit.bench.timm_throughput import share_gpu_memory

    environ = {}
    share_gpu_memory(environ)
    assert environ == {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    environ = {"XLA_PYTHON_CLIENT_PREALLOCATE": "true"}
    share_gpu_memory(environ)
    assert environ == {"XLA_PYTHON_CLIENT_PREALLOCATE": "true"}


def _check_results(out, results, models, modes):
    on_disk = json.loads((out / gpu_check.RESULTS_JSON).read_text())
    assert on_disk["rows"] == json.loads(json.dumps(results["rows"]))
    rows = results["rows"]
    assert [(r["model"], r["mode"]) for r in rows] == [(m, mode) for m in models for mode in modes]
    for row in rows:
        assert "error" not in row, row
        assert row["dtype"] == "bfloat16" and row["img_per_s"] > 0
        flops_per_s = row["gflops_per_image"] * 1e9 * row["img_per_s"]
        peak = row["peak_tflops_per_device"] * 1e12
        assert 0 < row["utilisation"] == pytest.approx(flops_per_s / peak)
    # the bench rows traced ViT attention in bfloat16; on CPU auto picks blocked attention
    seen = {(c["dtype"], c["implementation"]) for c in results["attention_choices"]}
    assert ("bfloat16", "blocked") in seen
    parity = results["attention_parity"]
    assert parity["compared"] == "fused" and parity["max_abs_difference"] <= 0.02
    page = (out / gpu_check.RESULTS_MD).read_text()
    for heading in ("## Bench rows", "## Attention implementation", "## Digits default"):
        assert heading in page
    assert page.count("| vit_ti16 |") == modes.count("inference") + modes.count("train")


def test_smoke_plumbing_one_row(tmp_path, monkeypatch):
    """One real bench row and the attention check; the training run is stood in for
    (the slow test below runs it)."""
    trained = {}

    def fake_train(plan, config):
        trained.update(config=config, flags=plan.train_flags)
        return dict(command="mixer-vit train", exit_status=0, wall_s=1.0, steps=3,
                    steps_per_s=3.0, test_accuracy=0.5, test_loss=1.0)

    monkeypatch.setattr(gpu_check, "train_digits", fake_train)
    plan = dataclasses.replace(gpu_check.SMOKE_PLAN, models=gpu_check.SMOKE_PLAN.models[:1],
                               modes=("inference",))
    out = tmp_path / "out"
    results = gpu_check.run_check(str(out), smoke=True, plan=plan)
    _check_results(out, results, ["vit_ti16"], ["inference"])
    assert os.path.samefile(trained["config"], gpu_check.DIGITS_CONFIG)
    assert "test accuracy 0.5000" in (out / gpu_check.RESULTS_MD).read_text()


@pytest.mark.slow
def test_smoke_run_end_to_end(tmp_path):
    out = tmp_path / "out"
    assert gpu_check.main(["--out", str(out), "--smoke"]) == 0
    results = json.loads((out / gpu_check.RESULTS_JSON).read_text())
    _check_results(out, results, ["vit_ti16", "mixer_s16"], ["inference", "train"])
    train = results["digits_training"]
    assert train["exit_status"] == 0
    assert train["steps"] == 1258 // 64  # one epoch of the 1258 training digits
    assert train["test_accuracy"] > 0.3  # one epoch of a tiny ViT; chance is 0.1


def test_failed_steps_are_reported_on_the_page():
    results = {
        "smoke": False,
        "command": "python -m mixer_vit.bench.gpu_check --out x",
        "environment": {"device": "1 x H100 (gpu)", "jax_version": "0", "matmul_size": 8192,
                        "matmul_peak_tflops_per_device": {"bfloat16": 700.0}},
        "compute_capability": (9, 0),
        "timm": "torch sees no CUDA device",
        "rows": [{"model": "vit_b16", "mode": "train", "dtype": "bfloat16",
                  "error": "XlaRuntimeError('RESOURCE_EXHAUSTED')"}],
        "attention_parity": {"error": "RuntimeError('cuDNN is not detected.')"},
        "digits_training": {"error": "OSError('disk full')"},
        "attention_choices": [],
    }
    page = gpu_check.markdown(results)
    assert "- vit_b16 train: failed: XlaRuntimeError('RESOURCE_EXHAUSTED')" in page
    assert "Fused attention check failed: RuntimeError('cuDNN is not detected.')" in page
    assert "Training failed: OSError('disk full')" in page
    assert "bfloat16 700 TFLOP/s" in page
