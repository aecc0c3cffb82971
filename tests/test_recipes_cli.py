"""Training recipes end to end through the CLI: distillation from a trained teacher, early
stopping with the best checkpoint, the test report, and invalid combinations."""

import json

from conftest import DEFAULT_CONFIG
from test_cli_errors import assert_one_line_error

from mixer_vit import cli

TINY = [
    "--config.model.overrides.embed_dim=32",
    "--config.model.overrides.depth=1",
    "--config.model.overrides.mixer_kwargs.num_heads=2",
    "--config.train.global_batch_size=64",
    "--config.train.log_every_steps=10",
]


def train(workdir, data_dir, *flags):
    return cli.main(
        [
            "train",
            "--config",
            DEFAULT_CONFIG,
            "--workdir",
            str(workdir),
            f"--config.data.data_dir={data_dir}",
            *TINY,
            *flags,
        ]
    )


def test_soft_distillation_from_a_trained_teacher_and_the_test_report(
    digits_data_dir, tmp_path, capsys
):
    teacher = tmp_path / "teacher"
    assert train(teacher, digits_data_dir, "--config.train.num_epochs=2") == 0
    student = tmp_path / "student"
    assert (
        train(
            student,
            digits_data_dir,
            "--config.train.num_epochs=2",
            "--config.distill.kind=soft",
            f"--config.distill.teacher_workdir={teacher}",
            "--config.augment.mixup_alpha=0.2",
            "--config.sam.rho=0.05",
            "--config.ema.decay=0.9",
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "test accuracy" in out
    # DeiT: hard-label distillation through the distillation token, same teacher.
    deit = tmp_path / "deit"
    assert (
        train(
            deit,
            digits_data_dir,
            "--config.train.num_epochs=1",
            "--config.model.name=deit_ti16_distilled",
            "--config.distill.kind=hard",
            f"--config.distill.teacher_workdir={teacher}",
        )
        == 0
    )
    assert "test accuracy" in capsys.readouterr().out
    report = json.loads((student / "test_report.json").read_text())
    assert {"top1", "top5", "macro_f1", "confusion", "ece", "rejection"} <= set(report)
    assert sum(map(sum, report["confusion"])) == 359
    assert 0 <= report["rejection"]["test"]["coverage"] <= 1


def test_early_stopping_stops_and_tests_the_best_checkpoint(digits_data_dir, tmp_path, capsys):
    workdir = tmp_path / "run"
    # A learning rate too small to matter: validation accuracy moves by less than min_delta,
    # so with patience 2 training stops at the end of epoch 3 (best: epoch 1).
    flags = [
        "--config.train.num_epochs=10",
        "--config.optim.lr=1e-12",
        "--config.optim.warmup=0",
        "--config.early_stopping.patience=2",
        "--config.early_stopping.min_delta=0.05",
    ]
    assert train(workdir, digits_data_dir, *flags) == 0
    out = capsys.readouterr().out
    assert "early stopping at step 57" in out and "best at step 19" in out
    assert "after 57 steps" in out
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["split"] == "validation"][:3] == [19, 38, 57]
    assert sorted(p.name for p in (workdir / "best").iterdir() if p.name.isdigit()) == ["19"]
    # Running the command again does not train on.
    assert train(workdir, digits_data_dir, *flags) == 0
    assert "after 57 steps" in capsys.readouterr().out


def test_invalid_recipe_combinations_fail_before_compiling(digits_data_dir, tmp_path, capsys):
    workdir = tmp_path / "run"
    assert_one_line_error(
        capsys, train(workdir, digits_data_dir, "--config.sam.rho=-0.1"), "sam.rho must be >= 0"
    )
    assert_one_line_error(
        capsys,
        train(workdir, digits_data_dir, "--config.distill.kind=soft"),
        "distillation needs a teacher",
    )
    assert_one_line_error(
        capsys, train(workdir, digits_data_dir, "--config.loss.name=hinge"), "unknown loss 'hinge'"
    )
    assert_one_line_error(
        capsys,
        train(workdir, digits_data_dir, "--config.train.grad_accum_steps=3"),
        "does not split into 3 micro-batches",
    )
    # A teacher whose head has another class count: refused from its config alone.
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    from conftest import load_default_config

    config = load_default_config()
    config.data.data_dir = digits_data_dir
    config.model.overrides.num_classes = 5
    (teacher / "config.json").write_text(config.to_json())
    assert_one_line_error(
        capsys,
        train(
            workdir,
            digits_data_dir,
            "--config.distill.kind=soft",
            f"--config.distill.teacher_workdir={teacher}",
        ),
        "teacher in",
        "predicts 5 classes",
    )
    assert not workdir.exists()
