"""The `mixer-vit` command end to end: train, eval of the checkpoint, models table."""

import json

from conftest import DEFAULT_CONFIG, run_cli

from mixer_vit import cli


def test_train_then_eval_reports_the_same_test_accuracy(digits_data_dir, tmp_path, capsys):
    workdir = tmp_path / "run"
    args = [
        "train",
        "--config",
        DEFAULT_CONFIG,
        "--workdir",
        str(workdir),
        f"--config.data.data_dir={digits_data_dir}",
        "--config.model.overrides.embed_dim=32",
        "--config.model.overrides.depth=1",
        "--config.model.overrides.mixer_kwargs.num_heads=2",
        "--config.train.global_batch_size=32",
        "--config.train.num_epochs=3",
        "--config.train.log_every_steps=10",
        "--config.train.checkpoint_every_steps=50",
    ]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    train_line = [line for line in out.splitlines() if line.startswith("test accuracy")][-1]
    accuracy = float(train_line.split()[2])
    assert accuracy > 0.5  # 3 epochs of a 1-block ViT: well above the 0.1 of chance

    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert {r["split"] for r in records} == {"train", "validation", "test"}
    assert [r["step"] for r in records if r["split"] == "validation"] == [39, 78, 117]
    assert [r["count"] for r in records if r["split"] == "test"] == [359]
    assert list((workdir / "tensorboard").iterdir())
    assert sorted(int(p.name) for p in (workdir / "checkpoints").iterdir()) == [50, 100, 117]

    assert cli.main(["eval", "--workdir", str(workdir)]) == 0
    eval_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert eval_line.startswith(f"test accuracy {accuracy:.4f} (359 examples")
    assert eval_line.endswith("at step 117")

    # Running the same command again resumes at the end: nothing to train, same result.
    assert cli.main(args) == 0
    assert f"test accuracy {accuracy:.4f}" in capsys.readouterr().out


def test_models_table_lists_params_and_xla_flops(capsys):
    assert cli.main(["models", "--filter", "^(vit_ti16|mixer_b16)$"]) == 0
    rows = {
        line.split("|")[1].strip(): line.split("|")
        for line in capsys.readouterr().out.splitlines()
        if line.startswith(("| vit", "| mixer"))
    }
    assert set(rows) == {"vit_ti16", "mixer_b16"}
    assert rows["vit_ti16"][3].strip() == "5,717,416"
    assert rows["mixer_b16"][3].strip() == "59,880,472"
    # XLA counts 2 FLOPs per multiply-add: published 1.26 / 12.61 GMACs at 224.
    assert abs(float(rows["vit_ti16"][4]) / (2 * 1.26) - 1) < 0.05
    assert abs(float(rows["mixer_b16"][4]) / (2 * 12.61) - 1) < 0.05


def test_command_line_usage_errors_exit_2_without_traceback():
    out = run_cli(["frobnicate"])
    assert out.returncode == 2 and "unknown command 'frobnicate'" in out.stderr
    out = run_cli(["models", "--bogus"])
    assert out.returncode == 2 and "Traceback" not in out.stderr and "bogus" in out.stderr


def test_each_command_lists_its_flags_with_help(capsys):
    for command, flag_names in (
        ("bench", ("--models", "--dtypes", "--modes", "--[no]vs_timm", "--repeats", "--out")),
        ("models", ("--filter", "--[no]flops")),
        ("convert", ("--model", "--from", "--weights", "--out")),
        ("train", ("--config", "--workdir", "--coordinator_address")),
    ):
        for help_flag in ("--help", "-h"):
            assert cli.main([command, help_flag]) == 0
            out = capsys.readouterr().out
            assert out.startswith(f"usage: mixer-vit {command} "), out
            listed = {line.split(":")[0].strip() for line in out.splitlines()[1:] if ": " in line}
            assert set(flag_names) <= listed, (command, listed)
            assert "--flagfile" not in out


def test_hyphenated_and_no_underscore_flag_spellings(capsys):
    from mixer_vit.bench.command import define_flags

    fv = cli._parse(["--vs-timm", "--batch-sizes=8,16", "--no-scan"], define_flags)
    assert fv.vs_timm is True and fv.batch_sizes == "8,16" and fv.scan is False
    assert cli._parse(["--no_vs_timm"], define_flags).vs_timm is False
    # The models usage line advertises --no_flops: the table then has no FLOP counts.
    for spelling in ("--no_flops", "--no-flops", "--noflops"):
        assert cli.main(["models", spelling, "--filter", "^vit_ti16$"]) == 0
        row = next(r for r in capsys.readouterr().out.splitlines() if r.startswith("| vit_ti16"))
        assert row.split("|")[4].strip() == "-"
    # A value is never rewritten, only flag names.
    fv = cli._parse(["--override", "--x-y", "--out=my-dir"], define_flags)
    assert fv.override == "--x-y" and fv.out == "my-dir"
