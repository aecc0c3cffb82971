"""`mixer-vit plot` (mixer_vit/run_plots), the reliability bins of the test report, and the
plots a finished run writes into its TensorBoard files."""

from __future__ import annotations

import glob
import io
import json
import logging
import os
import re
import struct

import numpy as np
import pytest
from absl import flags

from mixer_vit.errors import UserError
from mixer_vit.metrics import expected_calibration_error, reliability_bins
from mixer_vit.run_plots.class_names import class_names_for
from mixer_vit.run_plots.command import define_flags, expand_workdir_args, run_command
from mixer_vit.run_plots.confusion_plot import row_normalised
from mixer_vit.run_plots.curve_data import curve_data, read_metrics
from mixer_vit.run_plots.make_plots import make_plots
from mixer_vit.run_plots.run_files import run_labels
from mixer_vit.run_plots.tensorboard_images import TAGS, write_end_of_run_images
from mixer_vit.train.test_report import build_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# -- reliability bins ----------------------------------------------------------------------
def _probs_with_top(confidences, top_classes, k=3):
    """[n, k] rows whose top probability is confidences[i] at class top_classes[i], the rest
    shared evenly."""
    probs = np.zeros((len(confidences), k))
    for i, (c, top) in enumerate(zip(confidences, top_classes)):
        probs[i] = (1.0 - c) / (k - 1)
        probs[i, top] = c
    return probs


def test_reliability_bins_on_fixed_probabilities():
    # 4 bins (0, .25], (.25, .5], (.5, .75], (.75, 1]; 0.5, 0.75 and 1.0 lie on upper edges.
    confidence = [0.5, 0.375, 0.625, 0.625, 0.75, 0.875, 1.0, 0.875]
    correct = [1, 0, 1, 0, 1, 1, 1, 0]
    top = [i % 3 for i in range(8)]
    labels = np.array([t if ok else (t + 1) % 3 for t, ok in zip(top, correct)])
    probs = _probs_with_top(confidence, top)
    bins = reliability_bins(probs, labels, num_bins=4)
    np.testing.assert_array_equal(bins["bin_edges"], [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_array_equal(bins["count"], [0, 2, 3, 3])
    np.testing.assert_allclose(bins["accuracy"], [np.nan, 1 / 2, 2 / 3, 2 / 3])
    np.testing.assert_allclose(
        bins["confidence"], [np.nan, (0.5 + 0.375) / 2, 2 / 3, (0.875 + 1 + 0.875) / 3]
    )
    # 2/8 * |0.5 - 0.4375| + 3/8 * 0 + 3/8 * |2/3 - 11/12|
    assert expected_calibration_error(probs, labels, num_bins=4) == pytest.approx(0.109375)


def test_reliability_bins_match_numpy_and_the_ece_identity():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(10, 0.3), size=500)
    labels = rng.integers(0, 10, size=500)
    labels[:300] = probs[:300].argmax(-1)  # mostly right, so several bins fill
    bins = reliability_bins(probs, labels, num_bins=15)

    edges = np.linspace(0, 1, 16)
    conf, right = probs.max(-1), probs.argmax(-1) == labels
    index = np.digitize(conf, edges[1:-1], right=True)  # edges[b] < conf <= edges[b+1]
    count = np.array([(index == b).sum() for b in range(15)])
    np.testing.assert_array_equal(bins["count"], count)
    assert count.sum() == 500 and (count == 0).any() and (count > 0).sum() >= 5
    for b in np.flatnonzero(count):
        assert bins["accuracy"][b] == pytest.approx(right[index == b].mean())
        assert bins["confidence"][b] == pytest.approx(conf[index == b].mean())
    assert np.isnan(bins["accuracy"][count == 0]).all()
    filled = count > 0
    identity = np.sum(
        count[filled] / 500 * np.abs(bins["accuracy"][filled] - bins["confidence"][filled])
    )
    assert expected_calibration_error(probs, labels) == pytest.approx(identity, abs=1e-12)


def _predictions(seed, n=120, k=4, right=0.7):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(k, 0.5), size=n)
    labels = rng.integers(0, k, size=n)
    keep = rng.random(n) < right
    labels[keep] = probs[keep].argmax(-1)
    return probs, labels


def test_report_stores_the_bins_as_json():
    test = _predictions(1)
    report = json.loads(json.dumps(build_report([_predictions(2)], [test])))
    stored = report["reliability"]
    bins = reliability_bins(*test)
    assert stored["count"] == bins["count"].tolist() and sum(stored["count"]) == 120
    for got, want in zip(stored["accuracy"], bins["accuracy"]):
        assert (got is None and np.isnan(want)) or got == pytest.approx(want)
    ece = sum(
        c / 120 * abs(a - f)
        for c, a, f in zip(stored["count"], stored["accuracy"], stored["confidence"])
        if c
    )
    assert report["ece"] == pytest.approx(ece, abs=1e-12)


# -- metrics.jsonl -> curves ---------------------------------------------------------------
TRAIN_ROWS = [  # (step, loss, accuracy, lr)
    (10, 2.0, 0.25, 1e-3), (20, 1.5, 0.5, 2e-3), (30, 1.0, 0.75, 1e-3),
]
VALIDATION_ROWS = [(15, 1.8, 0.3), (30, 1.1, 0.7)]


def _write_metrics(workdir, offset=0.0, halt_repeat=False, partial_line=False):
    os.makedirs(workdir, exist_ok=True)
    lines = []
    for step, loss, acc, lr in TRAIN_ROWS:
        lines.append({"step": step, "split": "train", "time": 1.0, "loss": loss + offset,
                      "accuracy": acc, "lr": lr, "img_per_s": 100.0, "note": "text"})
    for step, loss, acc in VALIDATION_ROWS:
        lines.append({"step": step, "split": "validation", "time": 1.0, "loss": loss + offset,
                      "accuracy": acc, "count": 180.0})
    if halt_repeat:  # the halted run logged step 20; the resumed run logs it again after it
        lines.insert(1, {"step": 20, "split": "train", "loss": 9.0, "accuracy": 0.0, "lr": 5.0})
    lines.append({"step": 30, "split": "test", "loss": 1.2 + offset, "accuracy": 0.72})
    with open(os.path.join(workdir, "metrics.jsonl"), "w") as f:
        f.write("".join(json.dumps(line) + "\n" for line in lines))
        if partial_line:
            f.write('{"step": 40, "split": "tr')


def test_curve_data_reads_the_fabricated_values(tmp_path):
    _write_metrics(str(tmp_path), halt_repeat=True, partial_line=True)
    rows, bad = read_metrics(str(tmp_path / "metrics.jsonl"))
    assert bad == 1 and len(rows) == 7
    curves = curve_data(rows)
    assert set(curves) == {"train", "validation", "test"}
    steps, loss = curves["train"]["loss"]
    np.testing.assert_array_equal(steps, [10, 20, 30])
    # step 20 was written twice: the first row (9.0) is replaced by the one after it
    np.testing.assert_array_equal(loss, [2.0, 1.5, 1.0])
    np.testing.assert_array_equal(curves["train"]["lr"][1], [1e-3, 2e-3, 1e-3])
    np.testing.assert_array_equal(curves["validation"]["accuracy"][0], [15, 30])
    np.testing.assert_array_equal(curves["validation"]["accuracy"][1], [0.3, 0.7])
    assert "note" not in curves["train"] and "time" not in curves["train"]
    assert "lr" not in curves["validation"]
    np.testing.assert_array_equal(curves["test"]["loss"][1], [1.2])


def test_row_normalised_confusion():
    counts = np.array([[3, 1, 0], [0, 0, 0], [2, 2, 4]])
    np.testing.assert_allclose(
        row_normalised(counts), [[0.75, 0.25, 0], [0, 0, 0], [0.25, 0.25, 0.5]]
    )


def test_run_labels_are_the_shortest_distinguishing_suffix():
    assert run_labels(["/x/digits"]) == ["digits"]
    assert run_labels(["/a/run", "/b/run", "/b/other"]) == ["a/run", "b/run", "other"]
    assert run_labels(["/p/members/seed_0", "/p/members/seed_1"]) == ["seed_0", "seed_1"]


# -- whole folders -------------------------------------------------------------------------
def _write_run(workdir, data_dir, *, report="full", offset=0.0):
    """A fabricated workdir: metrics, config and (unless report is None) a test report;
    report="old" leaves out the reliability bins as reports before them did."""
    _write_metrics(workdir, offset)
    with open(os.path.join(workdir, "config.json"), "w") as f:
        json.dump({"data": {"name": "sklearn_digits", "data_dir": data_dir,
                            "test_split": "test"}}, f)
    if report is not None:
        content = build_report([_predictions(3)], [_predictions(4)])
        if report == "old":
            del content["reliability"]
        with open(os.path.join(workdir, "test_report.json"), "w") as f:
            json.dump(content, f)


def _image_sources(index_path):
    with open(index_path) as f:
        return re.findall(r'<img src="([^"]+)"', f.read())


def _assert_png(path):
    with open(path, "rb") as f:
        content = f.read()
    assert content[:8] == PNG_MAGIC and len(content) > 1024, path


@pytest.fixture(scope="module")
def empty_data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("no_data"))


def test_one_finished_run_default_folder(tmp_path, empty_data_dir, capsys):
    workdir = str(tmp_path / "digits")
    _write_run(workdir, empty_data_dir)
    fv = _flags(["--workdir", workdir])
    assert run_command(fv) == 0
    out = os.path.join(workdir, "plots")
    assert sorted(os.listdir(out)) == [
        "confusion.png", "curves.png", "index.html", "reliability.png"
    ]
    assert _image_sources(os.path.join(out, "index.html")) == [
        "curves.png", "confusion.png", "reliability.png"
    ]
    for name in ("curves.png", "confusion.png", "reliability.png"):
        _assert_png(os.path.join(out, name))
    with open(os.path.join(out, "index.html")) as f:
        page = f.read()
    report = json.load(open(os.path.join(workdir, "test_report.json")))
    assert f"{report['top1']:.4f}" in page and f"{report['ece']:.4f}" in page
    assert "<td>30</td>" in page  # steps
    assert capsys.readouterr().out.strip() == (
        f"wrote 3 plot(s) and {os.path.join(out, 'index.html')}"
    )
    # the data set is not in data_dir: axes fall back to indices, nothing was prepared
    assert not os.listdir(empty_data_dir)


def test_several_runs_overlaid_with_unfinished_and_old_reports(tmp_path, empty_data_dir):
    finished, unfinished, old = (str(tmp_path / n) for n in ("a", "b", "c"))
    _write_run(finished, empty_data_dir)
    _write_run(unfinished, empty_data_dir, report=None, offset=0.3)
    _write_run(old, empty_data_dir, report="old", offset=0.6)
    out = str(tmp_path / "compare")
    written = make_plots([finished, unfinished, old], out)
    names = ["curves.png", "a_confusion.png", "a_reliability.png", "c_confusion.png"]
    assert [os.path.basename(p) for p in written.images] == names
    assert _image_sources(written.index) == names
    assert sorted(os.listdir(out)) == sorted(names + ["index.html"])
    for name in names:
        _assert_png(os.path.join(out, name))
    assert written.notes == [
        "b: no test_report.json (the run has not finished); curves only",
        "c: test_report.json has no reliability bins (written by an older version); "
        "reliability diagram skipped",
    ]
    with open(written.index) as f:
        page = f.read()
    assert all(html_note in page for html_note in ("curves only", "reliability diagram skipped"))


def test_a_population_workdir_stands_for_its_members(tmp_path, empty_data_dir):
    population = tmp_path / "pop"
    for seed in (0, 1):
        _write_run(str(population / "members" / f"seed_{seed}"), empty_data_dir)
    with open(population / "config.json", "w") as f:
        json.dump({}, f)
    written = make_plots([str(population)])
    assert written.out == os.path.join(str(population), "plots")
    assert _image_sources(written.index) == [
        "curves.png", "seed_0_confusion.png", "seed_0_reliability.png",
        "seed_1_confusion.png", "seed_1_reliability.png",
    ]


def test_class_names_come_from_a_prepared_data_set(digits_data_dir, empty_data_dir):
    from mixer_vit.train.trained_model import class_names_of

    config = {"data": {"name": "sklearn_digits", "data_dir": digits_data_dir}}
    assert class_names_for(config, 10) == class_names_of("sklearn_digits", digits_data_dir, 10)
    assert class_names_for({"data": {"name": "no_such_set", "data_dir": empty_data_dir}}, 3) == [
        "0", "1", "2"
    ]
    assert class_names_for(None, 2) == ["0", "1"]


# -- bad inputs ----------------------------------------------------------------------------
def _flags(argv):
    fv = flags.FlagValues()
    define_flags(fv)
    fv(["mixer-vit", *expand_workdir_args(argv)])
    return fv


def test_workdir_lists_after_one_flag():
    assert expand_workdir_args(["--workdir", "a", "b", "--out", "o", "--workdir=c", "d"]) == [
        "--workdir", "a", "--workdir", "b", "--out", "o", "--workdir=c", "--workdir", "d"
    ]
    assert _flags(["--workdir", "a", "b"]).workdir == ["a", "b"]


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", r"^--workdir \S+/missing does not exist; pass the workdir of a"),
        ("no_metrics", r"^--workdir \S+/no_metrics has no metrics.jsonl; pass the workdir"),
        ("two_without_out", r"^2 workdirs need --out DIR for their combined plots"),
        ("none", r"^missing --workdir"),
    ],
)
def test_bad_inputs_are_one_line_user_errors(tmp_path, empty_data_dir, case, message):
    (tmp_path / "no_metrics").mkdir()
    (tmp_path / "no_metrics" / "config.json").write_text("{}")
    for name in ("r1", "r2"):
        _write_run(str(tmp_path / name), empty_data_dir, report=None)
    argv = {
        "missing": ["--workdir", str(tmp_path / "missing")],
        "no_metrics": ["--workdir", str(tmp_path / "no_metrics")],
        "two_without_out": ["--workdir", str(tmp_path / "r1"), str(tmp_path / "r2")],
        "none": [],
    }[case]
    with pytest.raises(UserError, match=message) as error:
        run_command(_flags(argv))
    assert "\n" not in str(error.value)
    assert not os.path.exists(tmp_path / "r1" / "plots")


# -- TensorBoard images at the end of a run ------------------------------------------------
def _event_images(tensorboard_dir):
    """{tag: (step, PNG bytes)} of the image summaries in the run's event files, read as
    TFRecords (u64 length, u32 crc, Event proto, u32 crc)."""
    from tensorboardX.proto import event_pb2

    images = {}
    for path in glob.glob(os.path.join(tensorboard_dir, "events.out.tfevents.*")):
        with open(path, "rb") as f:
            content = f.read()
        at = 0
        while at < len(content):
            (length,) = struct.unpack("<Q", content[at:at + 8])
            event = event_pb2.Event.FromString(content[at + 12:at + 12 + length])
            at += 12 + length + 4
            for value in event.summary.value:
                if value.HasField("image"):
                    images[value.tag] = (event.step, value.image.encoded_image_string)
    return images


def test_a_finished_run_writes_its_plots_and_pictures_to_tensorboard(tiny_config, tmp_path, caplog):
    from PIL import Image

    from mixer_vit.train.loop import train_and_evaluate

    workdir = str(tmp_path / "run")
    with caplog.at_level(logging.WARNING, logger="mixer_vit"):
        result = train_and_evaluate(tiny_config(num_epochs=1), workdir)
    pictures = ("mixer_vit.run_plots", "mixer_vit.model_views")
    assert not [r for r in caplog.records if r.name.startswith(pictures)]
    images = _event_images(os.path.join(workdir, "tensorboard"))
    views = [f"views/validation{i}_{kind}" for i in (0, 1) for kind in ("attention", "rollout")]
    assert sorted(images) == sorted([*TAGS, *views, "views/position_similarity"])
    for tag, (step, encoded) in images.items():
        assert step == result["steps"] and encoded[:8] == PNG_MAGIC
        width, height = Image.open(io.BytesIO(encoded)).size
        assert min(width, height) >= (300 if tag in TAGS else 100)
    report = json.load(open(os.path.join(workdir, "test_report.json")))
    assert sum(report["reliability"]["count"]) == result["count"]


def test_a_plotting_failure_is_a_warning_not_an_error(tmp_path, empty_data_dir, caplog):
    _write_run(str(tmp_path), empty_data_dir)

    class BrokenWriter:
        enabled = True

        def add_image(self, tag, image, step):
            raise OSError("disk full")

    with caplog.at_level(logging.WARNING, logger="mixer_vit.run_plots"):
        assert write_end_of_run_images(BrokenWriter(), str(tmp_path), 30) == []
    assert "disk full" in caplog.text


def test_the_command_line_reports_a_bad_workdir_in_one_line(tmp_path, capsys):
    from mixer_vit import cli

    assert cli.main(["plot", "--workdir", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --workdir ")
