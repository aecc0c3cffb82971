"""Bad input ends with one line `error: ...`, exit status 2, no traceback, and leaves an
existing workdir exactly as it was."""

import hashlib
import os
import time

import pytest
from conftest import DEFAULT_CONFIG, run_cli

from mixer_vit import cli


def train_args(workdir, data_dir, *extra):
    return [
        "train",
        "--config",
        DEFAULT_CONFIG,
        "--workdir",
        str(workdir),
        f"--config.data.data_dir={data_dir}",
        *extra,
    ]


def tiny_flags():
    return [
        "--config.model.overrides.embed_dim=32",
        "--config.model.overrides.depth=1",
        "--config.model.overrides.mixer_kwargs.num_heads=2",
        "--config.train.global_batch_size=32",
        "--config.train.num_epochs=1",
        "--config.train.log_every_steps=5",
    ]


def tree_snapshot(root):
    """{relative path: sha256 of content} for every file under root."""
    snapshot = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                snapshot[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return snapshot


def assert_one_line_error(capsys, code, *fragments):
    """Exit 2; stderr ends with the only `error:` line (a progress bar may stand before it)."""
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if "error: " in line]
    assert len(errors) == 1 and err.splitlines()[-1].startswith("error: "), err
    line = err.splitlines()[-1]
    for fragment in fragments:
        assert fragment in line, line
    return line


@pytest.mark.parametrize(
    "flag, fragments",
    [
        ("--config.model.name=vit_b17", ("Unknown model 'vit_b17'", "vit_b16", "mixer-vit models")),
        ("--config.optim.lrr=0.1", ("unknown config key", "optim.lrr", "lr")),
        ("--config.model.overrides.patch_size=3", ("8x8", "patch size 3", "patch_size")),
        ("--config.optim.name=adamax", ("unknown optimizer 'adamax'", "adamw, sgd")),
        ("--config.loss.label_smoothing=1.5", ("label_smoothing", "[0, 1)")),
        ("--config.train.global_batch_size=4096", ("larger than the 1258 training examples",)),
    ],
)
def test_bad_config_fails_before_writing_anything(
    flag, fragments, digits_data_dir, tmp_path, capsys
):
    workdir = tmp_path / "run"
    code = cli.main(train_args(workdir, digits_data_dir, flag))
    assert_one_line_error(capsys, code, *fragments)
    assert not workdir.exists()


def test_missing_config_file_and_workdir(tmp_path, capsys):
    assert_one_line_error(
        capsys, cli.main(["train", "--workdir", str(tmp_path)]), "missing --config"
    )
    assert_one_line_error(
        capsys,
        cli.main(["train", "--config", str(tmp_path / "nope.py"), "--workdir", str(tmp_path)]),
        "nope.py",
    )
    assert_one_line_error(
        capsys, cli.main(["train", "--config", DEFAULT_CONFIG]), "missing --workdir"
    )
    assert_one_line_error(capsys, cli.main(["eval", "--workdir", str(tmp_path)]), "no config.json")


def test_dataset_not_prepared_fails_at_once(tmp_path, capsys):
    start = time.monotonic()
    code = cli.main(
        train_args(tmp_path / "run", tmp_path / "empty_tfds", "--config.data.name=mnist")
    )
    assert time.monotonic() - start < 10
    assert_one_line_error(capsys, code, "'mnist' is not prepared", "tfds build mnist")


def test_global_batch_not_divisible_by_devices_in_a_real_process(digits_data_dir, tmp_path):
    out = run_cli(
        train_args(tmp_path / "run", digits_data_dir, "--config.train.global_batch_size=12"),
        env_extra={"XLA_FLAGS": "--xla_force_host_platform_device_count=8"},
    )
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert (
        last.startswith("error: ")
        and "not divisible by the 8 devices" in last
        and "(e.g. 8)" in last
    )
    assert not (tmp_path / "run").exists()


def test_resuming_with_another_model_changes_nothing(digits_data_dir, tmp_path, capsys):
    workdir = tmp_path / "run"
    assert (
        cli.main(
            train_args(workdir, digits_data_dir, *tiny_flags(), "--config.train.halt_after_steps=3")
        )
        == 0
    )
    capsys.readouterr()
    before = tree_snapshot(workdir)
    code = cli.main(
        train_args(workdir, digits_data_dir, *tiny_flags(), "--config.model.overrides.depth=2")
    )
    assert_one_line_error(capsys, code, "holds a checkpoint of model", "new --workdir")
    assert tree_snapshot(workdir) == before


def test_non_finite_loss_stops_with_step_and_keeps_last_good_checkpoint(
    digits_data_dir, tmp_path, capsys
):
    workdir = tmp_path / "run"
    code = cli.main(
        train_args(
            workdir,
            digits_data_dir,
            *tiny_flags(),
            "--config.optim.name=sgd",
            "--config.optim.lr=30",
            "--config.optim.schedule=constant",
            "--config.optim.grad_clip_norm=0",
            "--config.train.checkpoint_every_steps=1",
        )
    )
    line = assert_one_line_error(capsys, code, "non-finite at step")
    bad_step = int(line.split("non-finite at step ")[1].split()[0])
    assert bad_step >= 3
    # The checkpoint whose parameters produced the non-finite loss is gone; the one before stays.
    steps = sorted(int(d) for d in os.listdir(workdir / "checkpoints") if d.isdigit())
    assert steps and steps[-1] == bad_step - 2, (steps, bad_step)
    assert f"last good checkpoint is step {bad_step - 2}" in line
    # The kept checkpoint is really good: evaluating it works and gives a finite loss.
    assert cli.main(["eval", "--workdir", str(workdir), "--split", "validation"]) == 0
    out = capsys.readouterr().out
    assert "validation accuracy" in out and "nan" not in out.lower()
