"""`mixer-vit bench` end to end on a tiny ViT, in-process: table, results.json, plot,
and one-line errors for bad arguments."""

import json
import os
import time

import jax
import pytest

from mixer_vit import cli
from mixer_vit.bench.timing import per_round_comparison, time_alternating

TINY = ["--override", "patch_size=8,embed_dim=32,depth=1,mixer_kwargs.num_heads=2"]
BASE = [
    "bench",
    "--models",
    "vit_ti16",
    "--image_sizes",
    "32",
    "--batch_sizes",
    "2",
    "--repeats",
    "1",
    "--warmup",
    "1",
    *TINY,
]
FIELDS = {
    "model",
    "framework",
    "mode",
    "dtype",
    "image_size",
    "batch_size",
    "scan_blocks",
    "devices",
    "img_per_s",
    "img_per_s_min",
    "img_per_s_max",
    "img_per_s_per_device",
    "compile_s",
    "gflops_per_image",
    "tflops_per_s",
    "peak_tflops_per_device",
    "utilisation",
    "peak_memory_bytes",
    "peak_memory_gib",
}


def test_bench_writes_table_json_and_plot(tmp_path, capsys):
    out = tmp_path / "bench"
    args = [*BASE, "--dtypes", "float32", "--modes", "inference,train,train_sam", "--scan"]
    assert cli.main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| vit_ti16 | train_sam | float32 | 32 | 2 |" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["device"] and results["matmul_peak_tflops_per_device"]["float32"] > 0
    rows = results["rows"]
    assert [r["mode"] for r in rows] == ["inference", "train", "train_sam"]
    for row in rows:
        assert FIELDS <= set(row), FIELDS - set(row)
        assert row["img_per_s_min"] <= row["img_per_s"] <= row["img_per_s_max"]
        assert row["img_per_s"] > 0 and row["compile_s"] > 0 and row["scan_blocks"]
        assert 0 < row["utilisation"] < 10
        assert row["gflops_per_image"] > 0
    inference, train, sam = (r["gflops_per_image"] for r in rows)
    assert 2 < train / inference < 5  # forward + backward (+ optimizer)
    assert 1.5 < sam / train < 2.5  # SAM: two forward-backward passes
    assert os.path.getsize(out / "throughput.png") > 1000


def test_bench_vs_timm(capsys):
    pytest.importorskip("torch")
    args = [*BASE, "--dtypes", "float32", "--modes", "inference", "--vs_timm"]
    assert cli.main(args) == 0
    header, _, row = capsys.readouterr().out.splitlines()[1:4]
    assert header.endswith("| timm img/s | ours/timm | per round | ours faster |")
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert float(cells[-3]) > 0 and float(cells[-2]) > 0
    faster, rounds = (int(n) for n in cells[-1].split("/"))
    assert rounds == 1 and 0 <= faster <= rounds


def test_time_alternating_takes_calls_in_turn():
    order = []
    calls = [lambda: order.append("ours"), lambda: order.append("timm")]
    seconds = time_alternating(calls, warmup=1, repeats=3, settle=0)
    # warm-up of each, then rounds of one call each, so both see the same load; the
    # round's first call rotates, so neither always runs first
    assert order == ["ours", "timm"] + ["ours", "timm", "timm", "ours", "ours", "timm"]
    assert [len(s) for s in seconds] == [3, 3] and all(t >= 0 for s in seconds for t in s)
    abc = []
    time_alternating([lambda n=n: abc.append(n) for n in "abc"], warmup=0, repeats=3, settle=0)
    assert "".join(abc) == "abc" + "bca" + "cab"
    # by default each timed call follows an untimed one of its own (here the untimed
    # calls return at once, the timed ones sleep)
    log = []

    def make(name, duration):
        def call():
            log.append(name)
            time.sleep(duration if log.count(name) % 2 == 0 else 0)

        return call

    seconds = time_alternating([make("a", 0.02), make("b", 0.04)], warmup=0, repeats=2)
    assert "".join(log) == "aabb" + "bbaa"
    assert all(t >= 0.02 for t in seconds[0]) and all(t >= 0.04 for t in seconds[1])


def test_per_round_comparison_pairs_the_rounds():
    # round 2 ran under load for both: the per-round ratio ignores it, the medians do not
    ours = [1.0, 1.0, 3.0, 1.1]
    timm = [1.2, 0.9, 3.6, 1.21]
    assert per_round_comparison(ours, timm) == {
        "ours_over_timm_per_round": pytest.approx(1.15),
        "rounds_ours_faster": 3,
        "rounds": 4,
    }
    with pytest.raises(ValueError):
        per_round_comparison([1.0], [1.0, 2.0])


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--models", "vit_ti17"], "unknown model 'vit_ti17' (did you mean"),
        (["--modes", "infer"], "unknown --modes value 'infer'; choose from inference"),
        (["--dtypes", "float16"], "unknown --dtypes value 'float16'; choose from float32"),
        (["--batch_sizes", "two"], "--batch_sizes must be comma-separated integers"),
        (["--override", "depht=1"], "--override depht is not a field of vit_ti16"),
        (["--models", "vit_ti16,vit_ti16"], "--models lists 'vit_ti16' twice"),
        (["--image_sizes", "32,64,32"], "--image_sizes lists '32' twice"),
        # Checked by tracing each model before the first row compiles.
        (["--image_sizes", "36"], "vit_ti16 at 36x36 with --override patch_size=8,"),
        (["--override", "depth=abc"], "vit_ti16 at 32x32 with --override depth=abc: '<' not"),
    ],
)
def test_bench_bad_arguments(extra, message, capsys):
    assert cli.main([*BASE, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1, err


def test_bench_out_must_be_a_new_or_results_free_directory(tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    used = tmp_path / "earlier"
    used.mkdir()
    (used / "results.json").write_text('{"rows": []}')
    for out, message in (
        (a_file, f"--out {a_file} is a file; give a directory"),
        (used, f"--out {used} already holds results.json; give a new directory"),
    ):
        assert cli.main([*BASE, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {message}") and err.count("\n") == 1, err
    assert a_file.read_text() == "keep me"
    assert (used / "results.json").read_text() == '{"rows": []}'
    assert sorted(os.listdir(used)) == ["results.json"]


def test_bench_batch_must_split_over_devices(monkeypatch, capsys):
    monkeypatch.setattr(jax, "device_count", lambda: 2)
    assert cli.main([*BASE, "--batch_sizes", "3"]) == 2
    err = capsys.readouterr().err
    assert (
        err == "error: batch size 3 is not divisible by the 2 devices; use a multiple of 2 "
        "in --batch_sizes\n"
    )


def test_bench_vs_timm_without_torch(monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    monkeypatch.setattr("importlib.import_module", lambda name: no_torch(name))
    assert cli.main([*BASE, "--vs_timm"]) == 2
    assert "--vs_timm needs PyTorch, which is not installed" in capsys.readouterr().err
