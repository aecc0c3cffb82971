"""Search settings, costs and fitness for tests that train nothing."""

from __future__ import annotations

import dataclasses

from mixer_vit.search.constraints import Constraints
from mixer_vit.search.settings import SearchSettings, check_settings
from mixer_vit.search.space import space_from_config

SPACE = {
    "mixer": ("attention", "pooling", "mlp", "identity"),
    "depth": (1, 2, 3, 4),
    "width": (16, 24, 32),
    "mlp_ratio": (1.0, 2.0, 4.0),
    "patch_size": (2, 4),
    "heads": (1, 2, 4, 8),
    "mixer_kwargs": {"mlp": {"tokens_mlp_dim": 8}},
}


class Killed(Exception):
    """Stands for the search process being killed mid-run (resume tests)."""


def fake_cost(candidate) -> dict:
    """A closed-form stand-in for params / GFLOPs: (4 + 2 r) d w^2 per model (+ w^2 for
    attention), GFLOPs = params * tokens / 1e9 with 64 / p^2 tokens."""
    w, d, r = candidate["width"], candidate["depth"], candidate["mlp_ratio"]
    params = int(d * w * w * (2 * r + (4 if candidate["mixer"] == "attention" else 1)))
    return {"params": params, "gflops": params * (64 // candidate["patch_size"] ** 2) / 1e9}


def fake_fitness(candidate) -> float:
    """A synthetic validation accuracy in (0, 1): deeper, wider, attention better."""
    bonus = {"attention": 0.1, "mlp": 0.05, "pooling": 0.03, "identity": 0.0}
    return round(0.3 + 0.05 * candidate["depth"] + candidate["width"] / 200
                 + bonus[candidate["mixer"]] + 0.01 * candidate["mlp_ratio"], 6)


def fake_evaluate(trial, name) -> dict:
    value = fake_fitness(trial.candidate) - 0.1 / trial.epochs
    return {"validation_accuracy": value, "test_accuracy": value - 0.01 if trial.final else None}


def settings(space=None, **changes) -> SearchSettings:
    s = SearchSettings(
        train="digits.py", space=space_from_config(space or SPACE, "test"),
        strategy="random_search", budget=8, seed=0, epochs=1,
        constraints=Constraints(max_params=6000),
    )
    s = dataclasses.replace(s, **changes)
    check_settings(s, "test")
    return s
