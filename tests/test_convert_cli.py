"""`mixer-vit convert` end to end on a synthetic timm safetensors file, its one-line
errors, and `load_converted` for fine-tuning."""

from __future__ import annotations

import os

import jax
import numpy as np
import pytest
from timm_reference import random_timm_model, state_dict_numpy, timm_logits

from mixer_vit import cli
from mixer_vit.convert.save_load import load_converted


@pytest.fixture(scope="module")
def timm_vit(tmp_path_factory):
    """(timm model, path of its state dict saved as safetensors)."""
    from safetensors.numpy import save_file

    model = random_timm_model("vit_tiny_patch16_224")
    path = str(tmp_path_factory.mktemp("weights") / "vit_tiny.safetensors")
    save_file(state_dict_numpy(model), path)
    return model, path


def test_convert_timm_then_load(timm_vit, tmp_path, capsys):
    reference, path = timm_vit
    out = str(tmp_path / "converted")
    args = ["convert", "--model", "vit_ti16", "--from", "timm", "--weights", path, "--out", out]
    assert cli.main(args) == 0
    assert "5,717,416 parameters" in capsys.readouterr().out
    assert sorted(os.listdir(out)) == ["model.json", "variables"]

    model, variables = load_converted(out)
    images = np.random.default_rng(0).normal(size=(1, 224, 224, 3)).astype(np.float32)
    got = np.asarray(jax.jit(lambda v, x: model.apply(v, x))(variables, images))
    expected = timm_logits(reference, images)
    assert np.abs(got - expected).max() < 1e-3 * max(1.0, np.abs(expected).max())

    # refuse to overwrite
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: output directory") and "\n" not in err


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"--model": "vit_q16"}, "Unknown model 'vit_q16'"),
        ({"--weights": "/nonexistent/w.safetensors"}, "does not exist"),
        ({"--weights": "PICKLE"}, "is a pickle"),
        ({"--model": "vit_s16"}, "weights do not fit the model"),
        ({"--from": "onnx"}, "--from"),
    ],
)
def test_convert_errors_are_one_line(timm_vit, tmp_path, capsys, change, expected):
    _, path = timm_vit
    pickle = tmp_path / "model.pth"
    pickle.write_bytes(b"not read")
    flags = {"--model": "vit_ti16", "--from": "timm", "--weights": path}
    flags["--out"] = str(tmp_path / "out")
    flags.update(change)
    if flags["--weights"] == "PICKLE":
        flags["--weights"] = str(pickle)
    argv = ["convert"] + [x for kv in flags.items() for x in kv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and expected in err, err
    assert not os.path.exists(tmp_path / "out")
