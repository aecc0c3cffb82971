"""TFDS split expressions wherever a split is named: counted, read, trained on, and a bad
one refused (one line, exit 2) before the first step."""

import os

import numpy as np
import pytest

from mixer_vit import cli, data
from mixer_vit.errors import UserError
from mixer_vit.train.loop import train_and_evaluate
from mixer_vit.train.plan import plan_run
from tests.conftest import DEFAULT_CONFIG

TRAIN, VALIDATION = 1258, 180  # the embedded digits splits


def _images(source) -> np.ndarray:
    return np.stack([source[i]["image"] for i in range(len(source))])


@pytest.mark.parametrize(
    "split, expected",
    [
        ("train[:90%]", round(0.9 * TRAIN)),
        ("train[1000:]", TRAIN - 1000),
        ("train[-10%:]", TRAIN - round(0.9 * TRAIN)),
        ("train+validation", TRAIN + VALIDATION),
    ],
)
def test_split_expressions_count_the_examples_they_select(digits_data_dir, split, expected):
    assert data.count_examples("sklearn_digits", split, digits_data_dir) == expected
    assert len(data.open_source("sklearn_digits", split, digits_data_dir)) == expected


def test_split_expressions_read_the_examples_they_name(digits_data_dir):
    def images(split):
        return _images(data.open_source("sklearn_digits", split, digits_data_dir, in_memory=True))

    train, validation = images("train"), images("validation")
    np.testing.assert_array_equal(images("train[1000:]"), train[1000:])
    np.testing.assert_array_equal(images("train[:90%]"), train[: round(0.9 * TRAIN)])
    np.testing.assert_array_equal(images("train+validation"), np.concatenate([train, validation]))


@pytest.mark.parametrize(
    "split, says",
    [
        ("valid", "unknown split 'valid'"),
        ("train+nope", "unknown split 'nope'"),
        ("train[:90]%", "cannot read the split string"),
        ("train[abc]", "cannot read the split string"),
        ("train[5:5]", "selects no examples"),
    ],
)
def test_bad_split_strings_are_one_line_user_errors(digits_data_dir, split, says):
    with pytest.raises(UserError, match=says.replace("[", r"\[")) as error:
        data.count_examples("sklearn_digits", split, digits_data_dir)
    assert "\n" not in str(error.value)


def test_validation_carved_from_train_plans_the_run_from_the_slice(tiny_config):
    config = tiny_config()
    config.data.train_split = "train[:90%]"
    config.data.eval_split = "train[90%:]"
    config.data.test_split = "test+validation"
    plan = plan_run(config)
    assert plan.split_sizes == {
        "train[:90%]": round(0.9 * TRAIN),
        "train[90%:]": TRAIN - round(0.9 * TRAIN),
        "test+validation": 359 + VALIDATION,
    }
    assert plan.steps_per_epoch == round(0.9 * TRAIN) // 32


def test_missing_eval_split_stops_before_the_first_step(tiny_config, tmp_path):
    config = tiny_config()
    config.data.eval_split = "valid"
    workdir = tmp_path / "run"
    with pytest.raises(UserError, match="unknown split 'valid'"):
        train_and_evaluate(config, str(workdir))
    assert not workdir.exists()  # nothing trained, nothing written


def test_cli_reports_a_missing_test_split_in_one_line_with_exit_2(
    digits_data_dir, tmp_path, capsys
):
    workdir = tmp_path / "run"
    code = cli.main(
        [
            "train",
            "--config",
            DEFAULT_CONFIG,
            "--workdir",
            str(workdir),
            f"--config.data.data_dir={digits_data_dir}",
            "--config.data.test_split=tset",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "unknown split 'tset'" in err[0], err
    assert not os.path.exists(workdir)
