"""The staged search space (per-stage mixer, depth, width, MLP ratio, heads; a stem
patch size): sampling and mutation stay in the space and within the constraints, a
mutation changes one stage dimension or the patch size, a candidate's overrides build
the model its name says (parameter count derived by hand), bad spaces are one-line
errors, and the strategies resume a killed staged search to the identical history."""

from __future__ import annotations

import itertools
import math
import os

import numpy as np
import pytest

from conftest import REPO
from mixer_vit.errors import UserError
from mixer_vit.search.constraints import Constraints, CostTable
from mixer_vit.search.loop import run_search
from mixer_vit.search.space import space_from_config, takes_heads
from mixer_vit.search.staged_space import STAGE_DIMENSIONS, StagedSearchSpace
from mixer_vit.search.strategies.proposals import Proposer
from search_fakes import Killed, settings

STAGED = {
    "stages": 2,
    "mixer": (("pooling", "dwconv", "identity"), ("attention", "pooling", "mlp")),
    "depth": (1, 2, 3),
    "width": ((8, 16), (16, 24, 32)),
    "mlp_ratio": (1.0, 2.0),
    "patch_size": (2, 4),
    "heads": (1, 2, 4, 8),
    "mixer_kwargs": {"mlp": {"tokens_mlp_dim": 8}, "dwconv": {"kernel_size": 3}},
}


def staged_fake_cost(c) -> dict:
    """A closed-form stand-in: per stage (4 + 2 r) d w^2 (+ w^2 for attention)."""
    params = sum(int(b["depth"] * b["width"] ** 2 * (2 * b["mlp_ratio"] + (
        4 if b["mixer"] == "attention" else 1))) for b in c["stages"])
    return {"params": params, "gflops": params * (64 // c["patch_size"] ** 2) / 1e9}


def staged_fake_evaluate(trial, name) -> dict:
    bonus = {"attention": 0.1, "mlp": 0.05, "dwconv": 0.04, "pooling": 0.03, "identity": 0.0}
    value = round(0.3 + sum(0.03 * b["depth"] + b["width"] / 400 + bonus[b["mixer"]]
                            for b in trial.candidate["stages"]) - 0.1 / trial.epochs, 6)
    return {"validation_accuracy": value,
            "test_accuracy": value - 0.01 if trial.final else None}


def _space(**changes) -> StagedSearchSpace:
    return space_from_config({**STAGED, **changes}, "test")


def _proposer(max_params=4000, max_gflops=0.0, space=None):
    return Proposer(space or _space(), Constraints(max_params=max_params,
                                                    max_gflops=max_gflops),
                    CostTable(None, staged_fake_cost), 200)


def test_a_space_with_stages_is_the_staged_space_with_per_stage_choices():
    space = _space()
    assert isinstance(space, StagedSearchSpace) and space.stages == 2
    assert space.stage_choices(0) == {"mixer": ("pooling", "dwconv", "identity"),
                                      "depth": (1, 2, 3), "width": (8, 16),
                                      "mlp_ratio": (1.0, 2.0)}
    assert space.stage_choices(1)["width"] == (16, 24, 32)
    assert space.patch_size == (2, 4)


def test_sampling_and_mutation_stay_in_space_and_constraints_over_many_seeds():
    proposer = _proposer(max_params=4000, max_gflops=4e-5)
    space = proposer.space
    labels = set()
    for seed in range(300):
        rng = np.random.default_rng(seed)
        parent = proposer.sample(rng)
        child, label = proposer.mutate(parent, rng)
        for c in (parent, child):
            assert space.invalid_reason(c) is None, (c, space.invalid_reason(c))
            cost = staged_fake_cost(c)
            assert cost["params"] <= 4000 and cost["gflops"] <= 4e-5
            for b in c["stages"]:
                assert (b["heads"] is not None) == takes_heads(b["mixer"])
                if b["heads"] is not None:
                    assert b["width"] % b["heads"] == 0
        # exactly one dimension of one stage (or the patch size) changed; heads follow a
        # mixer that gains or loses them
        changed = [f"stages.{s}.{d}" for s in range(2) for d in STAGE_DIMENSIONS
                   if parent["stages"][s][d] != child["stages"][s][d]]
        if parent["patch_size"] != child["patch_size"]:
            changed.append("patch_size")
        assert label in changed
        stage = label.split(".")[1] if label != "patch_size" else None
        assert changed == [label] or (
            label.endswith(".mixer") and changed == [label, f"stages.{stage}.heads"]
            and takes_heads(parent["stages"][int(stage)]["mixer"])
            != takes_heads(child["stages"][int(stage)]["mixer"]))
        labels.add(label)
    # every dimension mutated, but stage 0's heads: none of its mixers takes heads
    assert labels == {"patch_size"} | {f"stages.{s}.{d}" for s in range(2)
                                       for d in STAGE_DIMENSIONS} - {"stages.0.heads"}


def test_sampling_is_uniform_per_stage_and_size_counts_every_candidate():
    space = _space()
    rng = np.random.default_rng(0)
    draws = [space.sample(rng) for _ in range(3000)]
    assert all(space.invalid_reason(d) is None for d in draws)
    for s in range(2):
        for mixer in space.mixer[s]:
            share = sum(d["stages"][s]["mixer"] == mixer for d in draws) / 3000
            assert abs(share - 1 / 3) < 0.03, (s, mixer, share)
    # width 24: heads 1, 2, 4, 8 all divide it; every combination by enumeration
    assert {d["stages"][1]["heads"] for d in draws
            if d["stages"][1]["mixer"] == "attention"} == {1, 2, 4, 8}
    per_stage = []
    for s in range(2):
        blocks = 0
        for m, _, w, _ in itertools.product(*space.stage_choices(s).values()):
            blocks += sum(w % h == 0 for h in space.heads) if m == "attention" else 1
        per_stage.append(blocks)
    assert space.size() == math.prod(per_stage) * 2 == (3 * 2 * 3 * 2) * (
        (4 + 4 + 4 + 2 * 3) * 3 * 2) * 2


CANDIDATE = {"patch_size": 2, "stages": [
    {"mixer": "pooling", "depth": 1, "width": 8, "mlp_ratio": 2.0, "heads": None},
    {"mixer": "attention", "depth": 2, "width": 16, "mlp_ratio": 1.0, "heads": 2},
]}


def test_candidate_name_and_overrides():
    space = _space()
    assert space.invalid_reason(CANDIDATE) is None
    assert space.name(CANDIDATE) == "p2-pooling.d1.w8.r2-attention.d2.w16.r1.h2"
    assert space.model_overrides(CANDIDATE) == {
        "depths": (1, 2), "dims": (8, 16), "stage_mixers": ("pooling", "attention"),
        "stage_mixer_kwargs": ({}, {"num_heads": 2}), "stage_mlp_ratios": (2.0, 1.0),
        "patch_size": 2, "stem_kernel_size": 3, "stem_padding": 1}
    assert space.table_cells(CANDIDATE) == [
        "pooling d1 w8 r2 \\| attention d2 w16 r1 h2", "2"]
    assert space.plot_group(CANDIDATE) == "pooling > attention"
    bad = {"patch_size": 2, "stages": [dict(CANDIDATE["stages"][0], heads=2),
                                       CANDIDATE["stages"][1]]}
    assert space.invalid_reason(bad) == "stage 0: mixer pooling takes no heads, but heads is 2"
    assert "stage 1: width 8" in space.invalid_reason(
        {"patch_size": 2, "stages": [CANDIDATE["stages"][0],
                                     dict(CANDIDATE["stages"][1], width=8)]})


def test_overrides_build_the_model_whose_parameters_are_counted_by_hand():
    from mixer_vit.bench.flops import param_count
    from mixer_vit.models import create_model

    model = create_model("poolformer_s12", num_classes=10,
                         **_space().model_overrides(CANDIDATE))

    def conv(k, cin, cout):
        return k * k * cin * cout + cout

    def dense(i, o):
        return i * o + o

    def block(w, ratio, attention):
        norms, layer_scales = 2 * 2 * w, 2 * w
        mixer = dense(w, 3 * w) + dense(w, w) if attention else 0  # qkv, proj
        return norms + layer_scales + mixer + dense(w, int(w * ratio)) + dense(int(w * ratio), w)

    expected = (conv(3, 1, 8)                               # stem: 3x3 (2p - 1), stride 2
                + block(8, 2.0, False)                      # stage 0: 1 pooling block
                + conv(3, 8, 16) + 2 * block(16, 1.0, True)  # stage 1: downsample, 2 blocks
                + 2 * 16 + dense(16, 10))                   # final LayerNorm, head
    assert expected == 80 + 328 + 1168 + 2 * 1728 + 32 + 170
    assert param_count(model, (8, 8, 1)) == expected


def _one_line_error(call) -> str:
    with pytest.raises(UserError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("change, words", [
    ({"mixer": ("pooling", "transformerz")}, "unknown token mixer 'transformerz'"),
    ({"mixer": (("pooling",), ("attentionz",))}, "unknown token mixer 'attentionz' in "
                                                   "space.mixer[1]"),
    ({"stages": 0}, "space.stages must be a positive integer (the number of stages), got 0"),
    ({"stages": True}, "space.stages must be a positive integer"),
    ({"heads": (5,)}, "no choice of space.heads (5,) divides width 16"),  # stage 1's
    ({"heads": ()}, "mixer attention takes num_heads but space.heads is empty"),
    ({"width": ((8,), (16,), (32,))}, "space.width gives 3 per-stage tuples for 2 stages"),
    ({"width": ((8,), ())}, "space.width[1] is empty"),
    ({"width": ((8,), 16)}, "space.width mixes tuples and single choices"),
    ({"depth": (0, 1)}, "space.depth choice 0 is not a positive integer"),
    ({"mixer_kwargs": {"dwconv": {"kernel_size": 3}}}, "mixer mlp needs tokens_mlp_dim"),
    ({"colour": ("red",)}, "space has no dimension colour; the dimensions are stages, mixer"),
])
def test_bad_staged_spaces_are_one_line_errors(change, words):
    assert words in _one_line_error(lambda: _space(**change))


def test_missing_patch_size_is_one_line_error():
    values = {k: v for k, v in STAGED.items() if k != "patch_size"}
    assert "space lacks patch_size" in _one_line_error(lambda: space_from_config(values, "t"))


def test_feasibility_check_stops_at_the_first_smallest_model_that_fits():
    measured = []

    def cost(c):
        measured.append(c)
        return staged_fake_cost(c)

    space = _space()
    # the first smallest candidate: pooling / attention at depth 1, widths 8 / 16, ratio 1,
    # heads 1, patch 2: 8^2 * 3 + 16^2 * 6 = 1728 params
    Proposer(space, Constraints(max_params=1728), CostTable(None, cost)).check_feasible()
    assert len(measured) == 1 and staged_fake_cost(measured[0])["params"] == 1728
    # below every smallest model: all 3 x 3 mixer pairs x 2 patches measured, the least named
    measured.clear()
    message = _one_line_error(Proposer(space, Constraints(max_params=700),
                                       CostTable(None, cost)).check_feasible)
    assert len(measured) == 18
    # least: (pooling|dwconv|identity) then pooling/mlp at width 16: 8^2*3 + 16^2*3 = 960
    assert "impossible constraints (max_params 700)" in message and "960 params" in message


def staged_settings(**changes):
    return settings(STAGED, constraints=Constraints(max_params=4000), **changes)


@pytest.mark.parametrize("strategy", ["regularized_evolution", "successive_halving"])
def test_killed_staged_search_resumes_to_identical_history(tmp_path, strategy):
    s = staged_settings(strategy=strategy, budget=10, population=4, sample_size=2, eta=2,
                        min_epochs=1, max_epochs=4)
    whole = run_search(s, str(tmp_path / "whole"), staged_fake_evaluate, staged_fake_cost)
    assert len(whole) == (10 if strategy == "regularized_evolution" else 10 + 5 + 2)
    for r in whole:
        assert s.space.invalid_reason(r["candidate"]) is None and r["params"] <= 4000
        if r["origin"]["kind"] == "mutation":
            assert r["origin"]["dimension"] in s.space.mutable_dimensions(
                whole[r["origin"]["parent"]]["candidate"])

    calls = []

    def dying(trial, name):
        if len(calls) == 5:
            raise Killed
        calls.append(name)
        return staged_fake_evaluate(trial, name)

    with pytest.raises(Killed):
        run_search(s, str(tmp_path / "resumed"), dying, staged_fake_cost)
    resumed = run_search(s, str(tmp_path / "resumed"), staged_fake_evaluate, staged_fake_cost)
    assert resumed == whole


def test_results_table_shows_the_stages(tmp_path):
    from mixer_vit.search.report import write_results

    s = staged_settings(train=os.path.join(REPO, "experiments", "configs",
                                           "digits.py:poolformer"), budget=3)
    history = run_search(s, str(tmp_path), staged_fake_evaluate, staged_fake_cost)
    text = open(write_results(s, history, str(tmp_path), "staged.py")).read()
    assert ("| rank | candidate | stages | patch | params | GFLOPs | epochs | val % | test % |\n"
            "|---:|---|---|---:|---:|---:|---:|---:|---:|") in text
    best = max(history, key=lambda r: (r["validation_accuracy"], -r["gflops"], -r["step"]))
    cells = s.space.table_cells(best["candidate"])
    assert f"| 1 | {best['name']} * | {cells[0]} | {cells[1]} | {best['params']:,} |" in text
    assert os.path.getsize(tmp_path / "pareto.png") > 5000


def test_base_model_must_fit_the_space(tmp_path):
    from mixer_vit.search.settings import train_config

    configs = os.path.join(REPO, "experiments", "configs")
    isotropic_base = os.path.join(configs, "digits_mixer.py:identity")
    message = _one_line_error(lambda: train_config(staged_settings(train=isotropic_base)))
    assert "the base model vit_ti16 has no depths; this space needs a hierarchical " \
           "MetaFormer (poolformer_*" in message
    hierarchical_base = os.path.join(configs, "digits.py:poolformer")
    message = _one_line_error(lambda: train_config(settings(train=hierarchical_base)))
    assert "the base model poolformer_s12 has no depth; this space needs an isotropic " \
           "MetaFormer" in message
    assert train_config(staged_settings(train=hierarchical_base)).model.name == "poolformer_s12"
    # a base config that does not set a field every candidate sets (exports need it)
    base = tmp_path / "base.py"
    base.write_text(f"""
from mixer_vit.config_file import load_config_file

def get_config():
    config = load_config_file({hierarchical_base!r})
    del config.model.overrides["stage_mlp_ratios"]
    return config
""")
    message = _one_line_error(lambda: train_config(staged_settings(train=str(base))))
    assert "the base config's model.overrides lacks stage_mlp_ratios, which every " \
           "candidate sets" in message


def test_an_exported_config_names_its_base_relative_to_the_directory_the_search_ran_from(tmp_path):
    from mixer_vit.search.export import portable_spec

    inside = tmp_path / "repo" / "experiments" / "configs" / "digits.py"
    assert portable_spec(f"{inside}:poolformer", cwd=str(tmp_path / "repo")) == (
        os.path.join("experiments", "configs", "digits.py") + ":poolformer")
    outside = tmp_path / "elsewhere" / "base.py"
    assert portable_spec(str(outside), cwd=str(tmp_path / "repo")) == str(outside)
