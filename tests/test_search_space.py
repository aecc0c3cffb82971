"""The search space: sampling and mutation stay in the space and within the
constraints; bad spaces and impossible constraints are one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from mixer_vit.errors import UserError
from mixer_vit.search.constraints import Constraints, CostTable
from mixer_vit.search.space import DIMENSIONS, space_from_config, takes_heads
from mixer_vit.search.strategies.proposals import Proposer
from search_fakes import SPACE, fake_cost, settings


def _proposer(max_params=6000, max_gflops=0.0, space=None, max_samples=200):
    space = space_from_config(space or SPACE, "test")
    return Proposer(space, Constraints(max_params=max_params, max_gflops=max_gflops),
                    CostTable(None, fake_cost), max_samples)


def test_mutations_stay_in_space_and_constraints_over_many_seeds():
    proposer = _proposer(max_params=6000, max_gflops=5e-5)
    space = proposer.space
    changed_dims = set()
    for seed in range(300):
        rng = np.random.default_rng(seed)
        parent = proposer.sample(rng)
        child, dim = proposer.mutate(parent, rng)
        for c in (parent, child):
            assert space.invalid_reason(c) is None, (c, space.invalid_reason(c))
            cost = fake_cost(c)
            assert cost["params"] <= 6000 and cost["gflops"] <= 5e-5
        differ = {d for d in DIMENSIONS if parent[d] != child[d]}
        assert dim in differ
        # one dimension changes; heads also follows when the mixer gains or loses heads
        assert differ == {dim} or (dim == "mixer" and differ == {"mixer", "heads"}
                                   and takes_heads(parent["mixer"]) != takes_heads(child["mixer"]))
        if takes_heads(child["mixer"]):
            assert child["width"] % child["heads"] == 0
        changed_dims.add(dim)
    assert changed_dims == set(DIMENSIONS)


def test_sampling_is_uniform_over_mixers_and_heads_divide_width():
    space = space_from_config(SPACE, "test")
    rng = np.random.default_rng(0)
    draws = [space.sample(rng) for _ in range(4000)]
    counts = {m: sum(d["mixer"] == m for d in draws) for m in SPACE["mixer"]}
    assert all(abs(n / 4000 - 0.25) < 0.03 for n in counts.values()), counts
    assert all(space.invalid_reason(d) is None for d in draws)
    # width 24 has heads 1, 2, 4, 8 -> all divide (24 % 8 == 0); 16: all; 32: all
    assert {d["heads"] for d in draws if d["mixer"] == "attention"} == {1, 2, 4, 8}
    assert {d["heads"] for d in draws if d["mixer"] != "attention"} == {None}


def test_space_size_counts_heads_only_for_attention():
    space = space_from_config(SPACE, "test")
    # attention: 3 widths x 4 heads; 3 others x 3 widths; x 4 depths x 3 ratios x 2 patches
    assert space.size() == (3 * 4 + 3 * 3) * 4 * 3 * 2


def test_candidate_name_and_overrides():
    space = space_from_config(SPACE, "test")
    c = {"mixer": "mlp", "depth": 2, "width": 16, "mlp_ratio": 2.0, "patch_size": 4,
         "heads": None}
    assert space.name(c) == "mlp-d2-w16-r2-p4"
    assert space.model_overrides(c) == {
        "mixer": "mlp", "mixer_kwargs": {"tokens_mlp_dim": 8}, "depth": 2, "embed_dim": 16,
        "mlp_ratio": 2.0, "patch_size": 4}
    a = dict(c, mixer="attention", heads=4, mlp_ratio=1.5)
    assert space.name(a) == "attention-d2-w16-r1_5-p4-h4"
    assert space.model_overrides(a)["mixer_kwargs"] == {"num_heads": 4}


def _one_line_error(call) -> str:
    with pytest.raises(UserError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("change, words", [
    ({"mixer": ("attention", "transformerz")}, "unknown token mixer 'transformerz'"),
    ({"mixer": ("mlp",), "mixer_kwargs": {}}, "mixer mlp needs tokens_mlp_dim"),
    ({"heads": (5,)}, "no choice of space.heads (5,) divides width 16"),
    ({"depth": ()}, "space.depth is empty"),
    ({"depth": (0, 1)}, "space.depth choice 0 is not a positive integer"),
    ({"colour": ("red",)}, "space has no dimension colour"),
    ({"mixer_kwargs": {"mlp": {"tokens_mlp_dim": 8}, "pooling": {"num_heads": 2}}},
     "space.mixer_kwargs.pooling sets num_heads"),
])
def test_bad_spaces_are_one_line_errors(change, words):
    message = _one_line_error(lambda: space_from_config({**SPACE, **change}, "test"))
    assert words in message


def test_constraint_below_the_smallest_model_is_one_line_error():
    # smallest: depth 1, width 16, ratio 1: identity/pooling/mlp 16*16*3 = 768 params
    proposer = _proposer(max_params=700)
    message = _one_line_error(proposer.check_feasible)
    assert "impossible constraints (max_params 700)" in message
    assert "768 params" in message
    _proposer(max_params=768).check_feasible()  # exactly the smallest model: allowed


def test_constraint_no_sample_meets_is_one_line_error():
    # Both limits are met by some small model, but never together: 1e-6 GFLOPs needs
    # params <= 1e-6*1e9/16 = 62 at patch 2 -> nothing.
    proposer = _proposer(max_params=100_000, max_gflops=1e-6, max_samples=50)
    message = _one_line_error(lambda: proposer.sample(np.random.default_rng(0)))
    assert "none of 50 random samples meets them" in message


def test_bad_settings_are_one_line_errors():
    assert "unknown strategy 'annealing'" in _one_line_error(
        lambda: settings(strategy="annealing"))
    assert "sample_size 5 exceeds the population 4" in _one_line_error(
        lambda: settings(strategy="regularized_evolution", population=4, sample_size=5))
    assert "halving.eta must be an integer >= 2" in _one_line_error(
        lambda: settings(strategy="successive_halving", eta=1))


def test_search_config_file_errors(tmp_path):
    from mixer_vit.search.settings import load_settings

    def config_file(body):
        path = tmp_path / "search.py"
        path.write_text("import ml_collections\n\ndef get_config():\n    c = ml_collections."
                        "ConfigDict()\n" + "".join(f"    {line}\n" for line in body)
                        + "    return c\n")
        return str(path)

    good = ['c.train = "digits.py"', 'c.space = {"mixer": ("pooling",), "depth": (1,), '
            '"width": (8,), "mlp_ratio": (1.0,), "patch_size": (2,)}',
            'c.strategy = "random_search"', "c.budget = 2", "c.seed = 0"]
    assert load_settings(config_file(good)).space.mixer == ("pooling",)
    assert load_settings(config_file(good), "successive_halving", 3).seed == 3
    bad = good[:1] + [good[1].replace("pooling", "poolin")] + good[2:]
    assert "unknown token mixer 'poolin'" in _one_line_error(lambda: load_settings(
        config_file(bad)))
    assert "unknown key colour" in _one_line_error(lambda: load_settings(
        config_file(good + ['c.colour = "red"'])))
    assert "lacks budget" in _one_line_error(lambda: load_settings(
        config_file([g for g in good if "budget" not in g])))
    assert "constraints.max_params must be a number >= 0" in _one_line_error(
        lambda: load_settings(config_file(good + ['c.constraints = {"max_params": -1}'])))
