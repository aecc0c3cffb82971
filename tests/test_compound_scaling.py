"""Compound scaling: the scaled shapes against hand-computed roundings, the (alpha, beta,
gamma) grid against a brute-force enumeration, the FLOPs-matched single-axis model against
an exhaustive search (a fake FLOPs function, then XLA's count of a tiny ViT), choosing the
grid's best validation point, the resize op against PIL, and the two experiment files
(loaded, dry-run lines with the computed arms)."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil

import numpy as np
import pytest
from conftest import REPO
from PIL import Image

from mixer_vit import cli
from mixer_vit.data import make_preprocess
from mixer_vit.errors import UserError
from mixer_vit.search import compound_scaling as cs

BASE = cs.ScalingBase(depth=4, width=48, resolution=24, patch_size=4, width_multiple=4)


# -- the arithmetic ------------------------------------------------------------------------

@pytest.mark.parametrize("point, phi, expected", [
    # depth 4 * 1.2 = 4.8 -> 5; width 48 * 1.1 = 52.8 = 13.2 fours -> 52; res 24 * 1.15
    # = 27.6 = 6.9 patches -> 28
    ((1.2, 1.1, 1.15), 1, (5, 52, 28)),
    # 4 * 1.44 = 5.76 -> 6; 48 * 1.21 = 58.08 = 14.52 fours -> 60; 24 * 1.3225 = 31.74
    # = 7.935 patches -> 32
    ((1.2, 1.1, 1.15), 2, (6, 60, 32)),
    ((1.0, 1.0, 1.0), 3, (4, 48, 24)),
    # 4 * 1.125 = 4.5 -> 5 (halves go up); 48 * 1.125 = 54 = 13.5 fours -> 56;
    # 24 * 1.25 = 30 = 7.5 patches -> 32
    ((1.125, 1.125, 1.25), 1, (5, 56, 32)),
    ((2.0, 1.0, 1.0), 1.5, (11, 48, 24)),  # 4 * 2**1.5 = 11.31 -> 11
])
def test_scaled_shapes_match_hand_computed_roundings(point, phi, expected):
    shape = cs.scaled(BASE, *point, phi)
    assert (shape.depth, shape.width, shape.resolution) == expected
    assert shape.name == "d{}-w{}-r{}".format(*expected)


def test_rounding_absorbs_float_noise_and_keeps_one_unit():
    assert 50 * 1.15 < 57.5  # 57.49999999999999: a plain floor(x + 0.5) gives 57
    assert cs.round_to_multiple(50 * 1.15, 1) == 58
    assert cs.round_to_multiple(25 * 1.14, 1) == 29  # 28.499999999999996
    assert cs.round_to_multiple(2.5, 1) == 3 and cs.round_to_multiple(3.5, 1) == 4
    assert cs.round_to_multiple(0.3, 4) == 4  # never below one multiple
    assert cs.round_to_multiple(9.99, 4) == 8 and cs.round_to_multiple(10, 4) == 12


def test_bad_bases_and_coefficients_are_user_errors():
    with pytest.raises(UserError, match="width 50 is not a multiple of width_multiple 4"):
        cs.ScalingBase(4, 50, 24, 4, 4)
    with pytest.raises(UserError, match="resolution 26 is not a multiple of patch_size 4"):
        cs.ScalingBase(4, 48, 26, 4, 4)
    with pytest.raises(UserError, match="beta 0.9 is below 1"):
        cs.scaled(BASE, 1.2, 0.9, 1.1, 1)


@pytest.mark.parametrize("step, tolerance", [(0.1, 0.1), (0.05, 0.05), (0.05, 0.1)])
def test_grid_is_every_lattice_point_meeting_the_constraint(step, tolerance):
    points = cs.grid(step, tolerance)
    # brute force over integer lattice indices, in NumPy
    k = np.arange(0, 40)
    a, b, g = np.meshgrid(1 + k * step, 1 + k * step, 1 + k * step, indexing="ij")
    ok = np.abs(a * b**2 * g**2 - 2) <= tolerance + 1e-9
    expected = {tuple(round(float(v), 6) for v in p)
                for p in zip(a[ok], b[ok], g[ok])}
    assert {tuple(round(v, 6) for v in p) for p in points} == expected
    assert all(min(p) >= 1 for p in points)
    assert len(points) == len(set(points))


def test_grid_holds_efficientnets_point_only_within_its_tolerance():
    assert (1.2, 1.1, 1.15) in cs.grid(0.05, 0.1)  # 1.2 * 1.21 * 1.3225 = 1.92
    assert (1.2, 1.1, 1.15) not in cs.grid(0.05, 0.05)
    assert (1.2, 1.1, 1.2) in cs.grid(0.1, 0.1)  # 2.09


def test_distinct_models_keep_the_first_point_of_each_model():
    points = [(1.0, 1.0, 1.4), (1.1, 1.0, 1.35), (1.2, 1.1, 1.2)]
    models = cs.distinct_models(BASE, points)
    # (1, 1, 1.4) and (1.1, 1, 1.35) both give d4-w48-r32 (4.4 -> 4; 32.4 -> 32)
    assert list(models.items()) == [(cs.ModelShape(4, 48, 32), (1.0, 1.0, 1.4)),
                                    (cs.ModelShape(5, 52, 28), (1.2, 1.1, 1.2))]


def test_point_names_round_trip():
    assert cs.point_name(1.2, 1.1, 1.15) == "a120_b110_g115"
    assert cs.parse_point_name("a120_b110_g115") == (1.2, 1.1, 1.15)
    assert cs.parse_point_name("base") is None


# -- single-axis matching --------------------------------------------------------------------

def fake_gflops(shape: cs.ModelShape) -> float:
    """A ViT-like count: per block 12 N w^2 + 2 N^2 w (N tokens of 4x4 patches), plus an
    embedding."""
    tokens = (shape.resolution // 4) ** 2
    return (shape.depth * (12 * tokens * shape.width**2 + 2 * tokens**2 * shape.width)
            + 16 * tokens * shape.width) / 1e9


@pytest.mark.parametrize("axis", cs.AXES)
def test_single_axis_is_the_flops_closest_value_of_its_axis(axis):
    values = cs.axis_values(BASE, axis)
    rng = np.random.default_rng(0)
    base_cost = fake_gflops(BASE.shape)
    for target in [base_cost * f for f in (0.3, 1.0, 1.7, 4.0, 4.3, 9.5)] + list(
            base_cost * rng.uniform(0.5, 12, size=20)):
        calls = []

        def counted(shape):
            calls.append(shape)
            return fake_gflops(shape)

        found = cs.single_axis(BASE, axis, target, counted)
        # exhaustively: every value of the axis, the closest cost (ties: the smaller)
        candidates = [cs.with_axis(BASE, axis, values(k)) for k in range(1, 400)]
        best = min(candidates, key=lambda s: (abs(fake_gflops(s) - target), getattr(s, axis)))
        assert found == best, (axis, target)
        assert len(set(calls)) <= 14  # a handful of measurements, not a scan


def test_single_axis_breaks_a_tie_toward_the_smaller_model():
    cost = lambda shape: float(shape.depth)  # noqa: E731
    assert cs.single_axis(BASE, "depth", 6.5, cost).depth == 6
    assert cs.single_axis(BASE, "depth", 6.5000001, cost).depth == 7
    with pytest.raises(UserError, match="unknown axis 'heads'"):
        cs.single_axis(BASE, "heads", 1.0, cost)


TINY = dict(mixer="attention", mixer_kwargs={"num_heads": 2}, patch_size=4, mlp_ratio=2.0,
            use_class_token=False, use_pos_embed=True, pool="gap")


def test_single_axis_with_xlas_count_of_a_tiny_vit():
    tiny = cs.ScalingBase(depth=1, width=8, resolution=8, patch_size=4, width_multiple=4)
    gflops = cs.xla_gflops("vit_ti16", TINY, channels=1, num_classes=3)
    one, two = gflops(tiny.shape), gflops(cs.with_axis(tiny, "depth", 2))
    assert 0 < one < two
    target = gflops(cs.with_axis(tiny, "depth", 3))
    assert cs.single_axis(tiny, "depth", target, gflops) == cs.ModelShape(3, 8, 8)
    # between depth 2 and 3, nearer 3: depth 3; a blocks' cost is the difference
    block = target - two
    assert cs.single_axis(tiny, "depth", two + 0.6 * block, gflops).depth == 3
    assert cs.single_axis(tiny, "depth", two + 0.4 * block, gflops).depth == 2
    # width: the returned width's count is at least as close as its neighbours'
    width = cs.single_axis(tiny, "width", 2 * one, gflops)
    near = [abs(gflops(cs.with_axis(tiny, "width", w)) - 2 * one)
            for w in (width.width - 4, width.width, width.width + 4)]
    assert near[1] <= near[0] and near[1] <= near[2]


# -- choosing the grid point -------------------------------------------------------------------

def test_best_validation_point_ignores_test_accuracy_and_other_arms():
    results = {"table": {
        "a120_b110_g120": {"validation_accuracy": {"mean": 0.81}, "test_accuracy": {"mean": 0.7}},
        "a100_b140_g100": {"validation_accuracy": {"mean": 0.83}, "test_accuracy": {"mean": 0.6}},
        "a190_b100_g100": {"validation_accuracy": {"mean": 0.79}, "test_accuracy": {"mean": 0.9}},
        "base": {"validation_accuracy": {"mean": 0.99}},
    }}
    assert cs.best_validation_point(results, "r.json") == ((1.0, 1.4, 1.0), "a100_b140_g100", 0.83)
    tie = {"table": {"a130_b100_g100": {"validation_accuracy": {"mean": 0.8}},
                     "a120_b100_g100": {"validation_accuracy": {"mean": 0.8}}}}
    assert cs.best_validation_point(tie, "r.json")[1] == "a120_b100_g100"
    with pytest.raises(UserError, match="r.json has no grid arm"):
        cs.best_validation_point({"table": {"base": {}}}, "r.json")


# -- the resize op that scales resolution ---------------------------------------------------------

def test_resize_then_normalize_matches_pil_bilinear():
    image = np.random.default_rng(1).integers(0, 256, size=(28, 28, 1), dtype=np.uint8)
    for side in (20, 24, 44):
        out = make_preprocess(f"resize({side})|normalize(0.286,0.353)")(
            {"image": image, "label": 3})
        pil = np.asarray(Image.fromarray(image[..., 0]).resize((side, side), Image.BILINEAR),
                         np.float32)
        expected = (pil / 255.0 - 0.286) / 0.353
        assert out["image"].shape == (side, side, 1)
        np.testing.assert_allclose(out["image"][..., 0], expected, rtol=1e-5, atol=1e-5)


# -- the experiment files --------------------------------------------------------------------------

@pytest.fixture
def experiments_project(tmp_path, monkeypatch):
    """A project directory holding copies of the two experiment files and the configs they
    use; the current directory for the test."""
    configs = tmp_path / "experiments" / "configs"
    configs.mkdir(parents=True)
    for name in ("digits.py", "digits_mixer.py"):
        shutil.copy(os.path.join(REPO, "experiments", "configs", name), configs / name)
    for name in ("compound_grid.py", "compound_scaling.py"):
        shutil.copy(os.path.join(REPO, "experiments", name), tmp_path / "experiments" / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def dry_run_arms(capsys, name):
    """{arm: {flag: value}} of seed 0's dry-run lines."""
    rc = cli.main(["experiment", name, "--dry-run", "--seeds", "1"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    arms = {}
    for line in out.splitlines():
        words = shlex.split(line)
        arm = words[words.index("--workdir") + 1].split("/")[-2]
        arms[arm] = dict(w[2:].split("=", 1) for w in words if w.startswith("--config."))
    return arms


def test_grid_experiment_has_one_arm_per_distinct_model(experiments_project, capsys):
    from mixer_vit.experiment.spec import load_experiment

    spec = load_experiment("compound_grid")
    models = cs.distinct_models(BASE, cs.grid(0.1, 0.1))
    assert list(spec.arms) == [cs.point_name(*p) for p in models.values()]
    assert len(spec.arms) == 17 and spec.seeds == 2
    arms = dry_run_arms(capsys, "compound_grid")
    for shape, point in models.items():
        flags = arms[cs.point_name(*point)]
        assert flags["config.model.overrides.depth"] == str(shape.depth)
        assert flags["config.model.overrides.embed_dim"] == str(shape.width)
        pp = f"resize({shape.resolution})|normalize(0.286,0.353)"
        assert flags["config.data.train_pp"] == pp and flags["config.data.eval_pp"] == pp


def test_scaling_experiment_arms_from_the_default_point(experiments_project, capsys):
    arms = dry_run_arms(capsys, "compound_scaling")
    assert list(arms) == ["base", "compound_phi1", "compound_phi2", "depth_only",
                          "width_only", "resolution_only"]

    def shape(arm):
        flags = arms[arm]
        side = int(flags["config.data.train_pp"].split("(")[1].split(")")[0])
        return cs.ModelShape(int(flags["config.model.overrides.depth"]),
                             int(flags["config.model.overrides.embed_dim"]), side)

    assert shape("base") == BASE.shape
    assert shape("compound_phi1") == cs.scaled(BASE, 1.2, 1.1, 1.15, 1) == cs.ModelShape(5, 52, 28)
    assert shape("compound_phi2") == cs.ModelShape(6, 60, 32)
    module = load_module(experiments_project / "experiments" / "compound_grid.py")
    gflops = module.gflops()
    target = gflops(shape("compound_phi2"))
    for axis in cs.AXES:
        found = shape(f"{axis}_only")
        assert [getattr(found, a) == getattr(BASE, a) for a in cs.AXES].count(False) == 1
        step = cs.axis_values(BASE, axis)(1)
        near = [abs(gflops(cs.with_axis(BASE, axis, getattr(found, axis) + d)) - target)
                for d in (-step, 0, step)]
        assert near[1] <= near[0] and near[1] <= near[2], axis
        assert abs(gflops(found) / target - 1) < 0.1


def load_module(path):
    spec = importlib.util.spec_from_file_location(f"compound_test_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scaling_experiment_reads_the_grids_best_validation_arm(experiments_project):
    module = load_module(experiments_project / "experiments" / "compound_scaling.py")
    point, source = module.chosen_point()
    assert point == (1.2, 1.1, 1.15) and "default" in source
    results = experiments_project / "experiments" / "results" / "compound_grid"
    results.mkdir(parents=True)
    (results / "results.json").write_text(json.dumps({"experiment": "compound_grid", "table": {
        "a120_b110_g120": {"validation_accuracy": {"mean": 0.80}},
        "a140_b110_g110": {"validation_accuracy": {"mean": 0.82}},
    }}))
    point, source = module.chosen_point()
    assert point == (1.4, 1.1, 1.1) and "a140_b110_g110 (82.00%" in source
