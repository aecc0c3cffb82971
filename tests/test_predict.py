"""``mixer-vit predict``: image files -> the class probabilities `mixer-vit eval` computes.

One tiny digits run (trained once for the module, with a parameter EMA that evaluation
uses) serves every test. The reference probabilities come from the eval path itself
(``run.eval_batches`` + ``make_eval_step``, as ``evaluate_checkpoint`` runs them) on the
test split, and the PNG files are that split's stored uint8 images.
"""

from __future__ import annotations

import json
import os

import numpy as np
import PIL.Image
import pytest
from conftest import TINY_MODEL, load_default_config

from mixer_vit import cli, data
from mixer_vit.errors import UserError
from mixer_vit.predict.command import split_paths
from mixer_vit.predict.image_files import find_image_files
from mixer_vit.predict.predictor import top_k


@pytest.fixture(scope="module")
def load_once():
    """``load_trained_model`` restoring each (workdir, step) once for the module."""
    from mixer_vit.train import trained_model

    loaded, load_trained_model = {}, trained_model.load_trained_model

    def load(workdir, step=None):
        if (workdir, step) not in loaded:
            loaded[workdir, step] = load_trained_model(workdir, step)
        return loaded[workdir, step]

    return load


@pytest.fixture
def predict(monkeypatch, capsys, load_once):
    """``predict(*args) -> (exit status, stdout, stderr)`` through ``cli.main``."""
    from mixer_vit.train import trained_model

    monkeypatch.setattr(trained_model, "load_trained_model", load_once)

    def run(*args):
        status = cli.main(["predict", *map(str, args)])
        out, err = capsys.readouterr()
        return status, out, err

    return run


@pytest.fixture(scope="module")
def workdir(digits_data_dir, tmp_path_factory):
    """A 1-epoch, 1-block tiny ViT on digits with an EMA of decay 0.9 that evaluation uses."""
    from mixer_vit.train.loop import train_and_evaluate

    config = load_default_config()
    config.data.data_dir = digits_data_dir
    config.model.overrides = dict(TINY_MODEL, depth=1)
    config.train.global_batch_size = 64
    config.train.num_epochs = 1
    config.optim.warmup = "0"
    config.optim.lr = 1e-2
    config.ema.decay = 0.9
    config.ema.evaluate = True
    path = str(tmp_path_factory.mktemp("predict_run"))
    train_and_evaluate(config, path)
    return path


@pytest.fixture(scope="module")
def eval_reference(workdir):
    """What `mixer-vit eval` computes on the test split (``evaluate_checkpoint``'s path):
    probabilities [359, 10] with the evaluation (EMA) parameters, and [359, 10] through the
    same step with the raw parameters in their place."""
    import jax

    from mixer_vit.train.evaluate import evaluate
    from mixer_vit.train.plan import plan_run
    from mixer_vit.train.state import abstract_train_state
    from mixer_vit.train.step import make_eval_step
    from mixer_vit.train.workdir_config import load_workdir_config

    run = plan_run(load_workdir_config(workdir))
    assert run.evaluate_with_ema
    shapes = abstract_train_state(run.model, run.tx, run.image_shape, with_ema=True)
    target = jax.tree.map(
        lambda s, sharding: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding),
        shapes,
        run.state_sharding(),
    )
    checkpointer = run.open_checkpointer(workdir)
    state, _ = checkpointer.restore(checkpointer.latest_step(), target)
    checkpointer.close()
    eval_step = make_eval_step(
        run.model, run.mesh, use_ema=True, state_sharding=run.state_sharding()
    )
    probabilities = []
    for evaluated in (state, state.replace(ema_params=state.params)):
        predictions = []
        evaluate(evaluated, eval_step, run.eval_batches("test"), run.mesh, predictions)
        probabilities.append(np.concatenate([p for p, _ in predictions]))
    return tuple(probabilities)


def _write_test_pngs(folder, data_dir, count, start=0) -> list[str]:
    """The stored uint8 [8, 8, 1] images of test examples start.. as grey PNG files."""
    source = data.open_source("sklearn_digits", "test", data_dir)
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i in range(start, start + count):
        path = os.path.join(folder, f"test_{i:04d}.png")
        PIL.Image.fromarray(source[i]["image"][..., 0]).save(path)
        paths.append(path)
    return paths


def _parse_line(line):
    """``PATH: c p, c p`` -> (PATH, [(c, p), ...])."""
    path, rest = line.rsplit(": ", 1)
    pairs = [item.split(" ") for item in rest.split(", ")]
    return path, [(c, float(p)) for c, p in pairs]


def test_predictions_are_the_eval_probabilities(
    predict, workdir, eval_reference, digits_data_dir, tmp_path
):
    probs, _ = eval_reference
    paths = _write_test_pngs(tmp_path / "pics", digits_data_dir, 6)
    # folder and file positionals between and after flags
    status, out, err = predict(
        "--workdir", workdir, tmp_path / "pics", "--top_k", "3", paths[0]
    )
    assert status == 0, err
    lines = out.splitlines()
    assert len(lines) == 6  # paths[0] is in the folder too: predicted once
    for i, line in enumerate(lines):
        path, top = _parse_line(line)
        assert path == paths[i]
        expected = np.argsort(-probs[i], kind="stable")[:3]
        assert [c for c, _ in top] == [str(k) for k in expected]
        np.testing.assert_allclose([p for _, p in top], probs[i][expected], atol=6e-5)


def test_json_holds_every_class_probability_with_the_ema_parameters(
    predict, workdir, eval_reference, digits_data_dir, tmp_path
):
    """The run evaluates with its parameter EMA: so does predict."""
    probs, raw = eval_reference
    assert np.abs(probs[10:14] - raw[10:14]).max() > 1e-2  # the EMA really differs here
    paths = _write_test_pngs(tmp_path, digits_data_dir, 4, start=10)
    status, out, _ = predict("--json", *paths, "--workdir", workdir, "--top_k", 50)
    assert status == 0
    records = json.loads(out)  # stdout is the JSON and nothing else
    assert [r["path"] for r in records] == paths
    for i, record in enumerate(records):
        top = record["top_k"]
        assert len(top) == 10  # --top_k 50 clipped to the 10 classes
        got = np.array([c["probability"] for c in top])
        assert np.all(np.diff(got) <= 0)
        assert abs(got.sum() - 1) < 1e-5
        assert [c["class"] for c in top] == [str(c["index"]) for c in top]
        by_index = np.zeros(10)
        by_index[[c["index"] for c in top]] = got
        np.testing.assert_allclose(by_index, probs[10 + i], atol=1e-5)


def test_many_images_in_batches_with_a_progress_bar(
    predict, workdir, eval_reference, digits_data_dir, tmp_path
):
    probs, _ = eval_reference
    _write_test_pngs(tmp_path / "many", digits_data_dir, 300)
    status, out, err = predict(
        "--workdir", workdir, tmp_path / "many", "--batch_size", 128, "--top_k", 1
    )
    assert status == 0
    predicted = [int(_parse_line(line)[1][0][0]) for line in out.splitlines()]
    assert predicted == list(np.argmax(probs[:300], axis=1))
    assert "300/300" in err  # the bar on stderr, only for more than 256 images
    status, _, err = predict("--workdir", workdir, tmp_path / "many" / "test_0000.png")
    assert "/1 " not in err and "img/s" not in err


def test_other_sizes_and_colours_are_converted_and_resized(
    predict, workdir, digits_data_dir, tmp_path
):
    """A 20x12 RGB image is read as grey ("L") resized bilinearly to 8x8: the same
    prediction as that grey 8x8 image given directly."""
    rgb = np.random.default_rng(0).integers(0, 256, (20, 12, 3), dtype=np.uint8)
    PIL.Image.fromarray(rgb).save(tmp_path / "big.BMP")
    grey = PIL.Image.fromarray(rgb).convert("L").resize((8, 8), PIL.Image.Resampling.BILINEAR)
    grey.save(tmp_path / "small.png")
    status, out, _ = predict(
        "--workdir", workdir, "--json", tmp_path / "big.BMP", tmp_path / "small.png"
    )
    assert status == 0
    big, small = json.loads(out)
    assert big["top_k"] == small["top_k"]


def test_unreadable_images_are_skipped_with_a_warning(
    predict, workdir, digits_data_dir, tmp_path
):
    good = _write_test_pngs(tmp_path, digits_data_dir, 2)
    bad = tmp_path / "test_0000b.png"
    bad.write_bytes(b"\x89PNG not really")
    truncated = tmp_path / "test_0001b.jpg"
    truncated.write_bytes(open(good[1], "rb").read()[:60])
    status, out, err = predict("--workdir", workdir, tmp_path)
    assert status == 0
    assert [_parse_line(line)[0] for line in out.splitlines()] == good
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: skipped {bad}: cannot read image (not an image format Pillow can decode)",
        f"warning: skipped {truncated}: cannot read image (image file is truncated)",
    ]
    status, out, err = predict("--workdir", workdir, bad, truncated)
    assert status == 2 and out == ""
    assert err.splitlines()[-1] == "error: none of the 2 image file(s) could be read"


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope.png"], "IMAGE nope.png does not exist"),
        (["empty"], "no image files (png, jpg, jpeg, bmp, gif, webp) in empty"),
        ([], "missing IMAGE"),
        (["--top_k", "0", "x.png"], "--top_k must be >= 1"),
    ],
)
def test_user_mistakes_are_one_line_errors(predict, workdir, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    os.mkdir("empty")
    PIL.Image.new("L", (8, 8)).save("x.png")
    status, out, err = predict("--workdir", workdir, *args)
    assert status == 2 and out == ""
    assert err.splitlines()[-1].startswith(f"error: {message}")


def test_folders_are_searched_recursively_by_image_extension(tmp_path):
    for name in ("b/z.PNG", "b/a.jpeg", "a.webp", "c/d/e.Gif", "notes.txt", "b/x.tiff"):
        os.makedirs(os.path.dirname(tmp_path / name), exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    root = str(tmp_path)
    assert find_image_files([root, os.path.join(root, "notes.txt")]) == [
        os.path.join(root, name) for name in ("a.webp", "b/a.jpeg", "b/z.PNG", "c/d/e.Gif")
    ] + [os.path.join(root, "notes.txt")]
    with pytest.raises(UserError, match="does not exist"):
        find_image_files([os.path.join(root, "missing")])


def test_split_paths_takes_images_from_anywhere():
    argv = ["--workdir", "W", "a.png", "b/", "--top_k", "3", "--json", "c.jpg", "--step=4",
            "--batch-size", "8", "--", "--odd.png"]
    assert split_paths(argv) == (
        ["a.png", "b/", "c.jpg", "--odd.png"],
        ["--workdir", "W", "--top_k", "3", "--json", "--step=4", "--batch-size", "8"],
    )


def test_top_k_is_sorted_and_breaks_ties_by_class():
    p = np.array([[0.1, 0.4, 0.1, 0.4], [0.7, 0.1, 0.15, 0.05]])
    indices, values = top_k(p, 3)
    np.testing.assert_array_equal(indices, [[1, 3, 0], [0, 2, 1]])
    np.testing.assert_array_equal(values, [[0.4, 0.4, 0.1], [0.7, 0.15, 0.1]])
