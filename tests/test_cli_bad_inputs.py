"""Bad input a new user gives the `mixer-vit` command: one line `error: ...`, exit status 2,
no traceback, and nothing on disk changed. Anything else (a bug) keeps its traceback."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import DEFAULT_CONFIG, run_cli
from test_cli_errors import assert_one_line_error, tree_snapshot

from mixer_vit import cli
from mixer_vit.errors import UserError
from mixer_vit.models.registry import search_models

CONVERT = ["convert", "--model", "vit_ti16", "--from", "timm"]


@pytest.fixture
def existing_workdir(tmp_path):
    """A workdir holding files a run would write (must stay byte for byte as they are)."""
    workdir = tmp_path / "run"
    (workdir / "checkpoints" / "5").mkdir(parents=True)
    (workdir / "config.json").write_text('{"seed": 0}')
    (workdir / "checkpoints" / "5" / "state").write_bytes(b"\x00weights")
    return workdir


def test_config_file_with_a_syntax_error(tmp_path, existing_workdir, capsys):
    config = tmp_path / "my_config.py"
    config.write_text("import ml_collections\n\ndef get_config(:\n    return None\n")
    before = tree_snapshot(existing_workdir)
    code = cli.main(["train", "--config", str(config), "--workdir", str(existing_workdir)])
    assert_one_line_error(capsys, code, "my_config.py line 3", "invalid syntax", "def get_config(:")
    assert tree_snapshot(existing_workdir) == before


def test_config_file_with_a_syntax_error_through_the_real_command(tmp_path):
    config = tmp_path / "broken.py"
    config.write_text("def get_config():\n    return {'a': 1\n")
    out = run_cli(["train", "--config", f"{config}:vit", "--workdir", str(tmp_path / "w")])
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: config file {config} line 2"), lines
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize(
    "source, fragments",
    [
        ("x = 1\n", ("defines no get_config()",)),
        ("def get_config():\n    pass\n", ("returned NoneType", "ConfigDict")),
        (
            "from mixer_vit.errors import UserError\n"
            "def get_config(arg=None):\n    raise UserError(f'no preset {arg}; use a or b')\n",
            ("no preset None; use a or b",),
        ),
    ],
)
def test_config_file_without_a_config(tmp_path, source, fragments, capsys):
    config = tmp_path / "c.py"
    config.write_text(source)
    code = cli.main(["train", "--config", str(config), "--workdir", str(tmp_path / "w")])
    assert_one_line_error(capsys, code, *fragments)
    assert not (tmp_path / "w").exists()


def test_config_file_that_raises_keeps_its_traceback(tmp_path):
    """An exception of the config's own code other than UserError is a bug in that code:
    it propagates (the interpreter prints its traceback, naming the config's line)."""
    config = tmp_path / "c.py"
    config.write_text("def get_config():\n    return {}['missing']\n")
    with pytest.raises(KeyError) as raised:
        cli.main(["train", "--config", str(config), "--workdir", str(tmp_path / "w")])
    assert any(str(frame.path) == str(config) for frame in raised.traceback)


@pytest.mark.parametrize("below", [False, True])
def test_workdir_naming_an_existing_file(tmp_path, below, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    workdir = notes / "run" if below else notes
    code = cli.main(["train", "--config", DEFAULT_CONFIG, "--workdir", str(workdir)])
    assert_one_line_error(capsys, code, "--workdir", str(notes), "directory")
    assert notes.read_text() == "keep me"
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


def safetensors_bytes():
    from safetensors.numpy import save

    return save({"patch_embed.proj.weight": np.ones((192, 3, 16, 16), np.float32)})


def npz_bytes(tmp_path):
    path = tmp_path / "source.npz"
    np.savez(path, **{"embedding/kernel": np.ones((16, 16, 3, 192), np.float32)})
    data = path.read_bytes()
    path.unlink()
    return data


@pytest.mark.parametrize(
    "name, make, fragments",
    [
        ("cut.safetensors", lambda d: d[: len(d) // 2], ("cut.safetensors", "truncated")),
        ("header.safetensors", lambda d: d[:5], ("header.safetensors", "truncated")),
        ("random.safetensors", lambda d: os.urandom(64), ("random.safetensors", "damaged")),
        ("empty.safetensors", lambda d: b"", ("empty.safetensors", "truncated")),
    ],
)
def test_truncated_or_corrupt_safetensors(tmp_path, name, make, fragments, capsys):
    weights = tmp_path / name
    weights.write_bytes(make(safetensors_bytes()))
    before = weights.read_bytes()
    out = tmp_path / "out"
    code = cli.main([*CONVERT, "--weights", str(weights), "--out", str(out)])
    assert_one_line_error(capsys, code, *fragments, "download or export it again")
    assert not out.exists() and weights.read_bytes() == before


@pytest.mark.parametrize(
    "name, corrupt, fragments",
    [
        ("cut.npz", lambda d: d[: len(d) // 2], ("cut.npz", "truncated")),
        ("flipped.npz", lambda d: d[:-200] + bytes(200), ("flipped.npz", "damaged")),
        ("random.npz", lambda d: os.urandom(64), ("random.npz", "not a zip archive")),
    ],
)
def test_truncated_or_corrupt_npz(tmp_path, name, corrupt, fragments, capsys):
    weights = tmp_path / name
    weights.write_bytes(corrupt(npz_bytes(tmp_path)))
    out = tmp_path / "out"
    argv = [*CONVERT, "--from", "big_vision", "--weights", str(weights), "--out", str(out)]
    code = cli.main(argv)
    assert_one_line_error(capsys, code, *fragments)
    assert not out.exists()


def test_npz_with_object_arrays_is_refused(tmp_path, capsys):
    weights = tmp_path / "objects.npz"
    np.savez(weights, a=np.array([{"code": 1}], dtype=object))
    code = cli.main([*CONVERT, "--weights", str(weights), "--out", str(tmp_path / "out")])
    assert_one_line_error(capsys, code, "object (pickled) arrays")


def test_models_filter_that_is_not_a_regular_expression(capsys):
    code = cli.main(["models", "--filter", "[", "--noflops"])
    assert_one_line_error(capsys, code, "'['", "not a regular expression")
    assert capsys.readouterr().out == ""


def test_models_filter_is_a_regular_expression():
    assert search_models("^vit_ti16$") == ["vit_ti16"]
    assert search_models("b16$") == [n for n in search_models() if n.endswith("b16")]
    assert "mixer_b16" in search_models("mixer_(s|b)16")
    with pytest.raises(UserError):
        search_models("(")


def test_a_library_value_error_keeps_its_traceback(monkeypatch):
    """Only UserError becomes a one-line message; a plain ValueError is a bug."""

    def broken(argv):
        raise ValueError("internal shape mismatch")

    monkeypatch.setitem(cli.COMMANDS, "models", broken)
    with pytest.raises(ValueError, match="internal shape mismatch"):
        cli.main(["models"])


def test_bad_model_field_value_is_a_user_error(tmp_path, digits_data_dir, capsys):
    """A model's own field check (a ValueError in the module) reached from the config."""
    code = cli.main(
        [
            "train",
            "--config",
            DEFAULT_CONFIG,
            "--workdir",
            str(tmp_path / "w"),
            f"--config.data.data_dir={digits_data_dir}",
            "--config.model.overrides.drop_path_rate=1.5",
        ]
    )
    assert_one_line_error(capsys, code, "model 'vit_ti16'", "drop_path_rate must be in [0, 1)")
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize(
    "config_arg, fragments",
    [
        ("digits.py:foo", ("unknown preset 'foo'", "vit, mixer")),
        ("digits_mixer.py", ("needs a mixer name", "digits_mixer.py:shift")),
        ("digits_mixer.py:shift,bad", ("expected key=value", "'bad'")),
    ],
)
def test_bad_argument_of_a_shipped_config(tmp_path, config_arg, fragments, capsys):
    config = os.path.join(os.path.dirname(DEFAULT_CONFIG), config_arg)
    code = cli.main(["train", "--config", config, "--workdir", str(tmp_path / "w")])
    assert_one_line_error(capsys, code, *fragments)
    assert not (tmp_path / "w").exists()
