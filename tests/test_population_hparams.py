"""Populations whose members differ in learning rate and weight decay
(``train.population_hparams``): each member equals the separate run with its values, its
folder and config.json say which run that is, and bad specs are one-line errors."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import TINY_MODEL, load_default_config

from mixer_vit.errors import UserError
from mixer_vit.experiment import workdir_results
from mixer_vit.optim import build_optimizer, build_schedule
from mixer_vit.optim.injected import build_injected_optimizer
from mixer_vit.train.loop import open_checkpointer, train_and_evaluate
from mixer_vit.train.plan import plan_run
from mixer_vit.train.population_hparams import format_population_hparams
from mixer_vit.train.population_plan import (
    POPULATION_AUTO_KERNELS,
    member_workdir,
    population_members,
)

TOLERANCE = 1e-5
STEPS = 4
# Three members, two on one seed: 0 and 1 differ only in lr, 0 and 2 in weight decay (and
# seed). SGD with momentum: AdamW's first updates are about lr * sign(g), which turns the
# float rounding of gradients that are exactly zero in exact arithmetic (the attention key
# bias) into lr-sized differences between any two programs, vmapped or not
# (test_population.py says the same); SGD moves such a parameter by lr * (rounding).
SEEDS = (5, 5, 6)
LRS = (0.05, 0.2, 0.05)
WEIGHT_DECAYS = (0.01, 0.01, 0.5)
SMALL_MODEL = dict(TINY_MODEL, depth=1, embed_dim=16, dropout_rate=0.1, drop_path_rate=0.1)


def _tiny(data_dir: str, **train_changes):
    """conftest's ``tiny_config`` shrunk to one 16-wide block (compiles faster), for a
    module-scoped fixture: SGD with a 2-step warm-up, so 4 steps show lr and weight decay."""
    config = load_default_config()
    config.data.data_dir = data_dir
    config.model.overrides = SMALL_MODEL
    config.train.global_batch_size = 32
    config.train.log_every_steps = 5
    config.optim.name = "sgd"
    config.optim.warmup = "2"
    for key, value in train_changes.items():
        config.train[key] = value
    return config


def _saved_params(config, workdir):
    """The parameters of the latest checkpoint in ``workdir`` (stacked for a population)."""
    plan = plan_run(config)
    target = plan.init_state()
    if plan.population:
        target = jax.tree.map(lambda *xs: jnp.stack(xs), *[target] * plan.population)
    ckpt = open_checkpointer(config, workdir)
    try:
        state, _ = ckpt.restore(ckpt.latest_step(), target)
    finally:
        ckpt.close()
    return state.params


def _max_abs_difference(a_tree, b_tree) -> float:
    return max(
        float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max(initial=0.0))
        for a, b in zip(jax.tree.leaves(a_tree), jax.tree.leaves(b_tree))
    )


@pytest.fixture(scope="module")
def trained(digits_data_dir, tmp_path_factory):
    """The population trained 4 steps, and each member's separate run: (population params
    [3, ...], population workdir, [separate run params])."""
    root = tmp_path_factory.mktemp("hparam_population")
    spec = format_population_hparams(
        {"seed": SEEDS, "optim.lr": LRS, "optim.weight_decay": WEIGHT_DECAYS}
    )
    population = _tiny(digits_data_dir, population=3, halt_after_steps=STEPS,
                       population_hparams=spec)
    workdir = str(root / "population")
    assert train_and_evaluate(population, workdir) == {"steps": STEPS, "halted": True}
    stacked = _saved_params(population, workdir)
    separate = []
    for i, (seed, lr, wd) in enumerate(zip(SEEDS, LRS, WEIGHT_DECAYS)):
        alone = _tiny(digits_data_dir, halt_after_steps=STEPS)
        alone.seed, alone.optim.lr, alone.optim.weight_decay = seed, lr, wd
        alone.model.kernels = POPULATION_AUTO_KERNELS
        train_and_evaluate(alone, str(root / f"alone_{i}"))
        separate.append(_saved_params(alone, str(root / f"alone_{i}")))
    return stacked, workdir, separate


def test_each_member_equals_its_separate_run(trained):
    stacked, _, separate = trained
    for i, alone in enumerate(separate):
        member = jax.tree.map(lambda x: x[i], stacked)  # noqa: B023
        assert _max_abs_difference(member, alone) <= TOLERANCE, i
        # and not another member's run: an ignored lr (0 vs 1) or weight decay (0 vs 2)
        # would make it equal one of these
        for j, other in enumerate(separate):
            if j != i:
                assert _max_abs_difference(member, other) > 100 * TOLERANCE, (i, j)


def test_member_folders_hold_each_members_config(trained):
    _, workdir, _ = trained
    folders = sorted(os.listdir(os.path.join(workdir, "members")))
    assert folders == sorted([
        "lr_0.05_weight_decay_0.01_seed_5",
        "lr_0.2_weight_decay_0.01_seed_5",
        "lr_0.05_weight_decay_0.5_seed_6",
    ])
    for seed, lr, wd in zip(SEEDS, LRS, WEIGHT_DECAYS):
        folder = os.path.join(workdir, "members", f"lr_{lr!r}_weight_decay_{wd!r}_seed_{seed}")
        config = workdir_results.started_config(folder)
        assert (config["seed"], config["optim"]["lr"], config["optim"]["weight_decay"]) == (
            seed, lr, wd)
        assert config["train"]["population"] == 0
        assert config["train"]["population_hparams"] == ""


def test_members_and_folder_names_from_the_spec(tiny_config):
    config = tiny_config(population=2, population_hparams=" optim.lr = 1e-3, 2e-3 ")
    config.seed = 7
    members = population_members(config)
    assert [(m.seed, m.hparams) for m in members] == [
        (7, {"optim.lr": 1e-3}), (8, {"optim.lr": 2e-3})]
    assert member_workdir("w", members[1]) == os.path.join("w", "members", "lr_0.002_seed_8")
    # seed-only populations keep their folders
    seeds_only = population_members(tiny_config(population=2))
    assert [member_workdir("w", m) for m in seeds_only] == [
        member_workdir("w", 0), member_workdir("w", 1)] == [
        os.path.join("w", "members", "seed_0"), os.path.join("w", "members", "seed_1")]
    text = format_population_hparams({"optim.weight_decay": [0.1, 0.0], "seed": [3, 3]})
    assert text == "optim.weight_decay=0.1,0.0;seed=3,3"
    parsed = population_members(tiny_config(population=2, population_hparams=text))
    assert [(m.seed, m.hparams) for m in parsed] == [
        (3, {"optim.weight_decay": 0.1}), (3, {"optim.weight_decay": 0.0})]


@pytest.mark.parametrize(
    "size, spec, message",
    [
        (2, "optim.lrr=1e-3,2e-3", "unknown config key 'optim.lrr'"),
        (2, "optim.lr=1e-3,fast", "optim.lr value 'fast' is not a number"),
        (2, "seed=0,1.5", "seed value '1.5' is not an integer"),
        (2, "optim.lr=1e-3,2e-3,3e-3", "gives 3 values of optim.lr but train.population is 2"),
        (2, "loss.label_smoothing=0,0.1", "loss.label_smoothing cannot differ between members"),
        (2, "model.name=vit,mixer", "model.name cannot differ between members"),
        (2, "optim.lr", "'optim.lr' is not KEY=V1,V2"),
        (2, "optim.lr=1e-3,2e-3;optim.lr=1e-3,2e-3", "names optim.lr twice"),
        (2, "seed=4,4", "members 0 and 1 are the same run"),
        (2, "optim.lr=1e-3,-1", "member 1: optim.lr must be positive"),
        (2, "optim.lr=1e-3,nan", "is not a finite number"),
        (0, "optim.lr=1e-3", "train.population is 0"),
    ],
)
def test_bad_specs_are_one_line_errors(tiny_config, tmp_path, size, spec, message):
    config = tiny_config(population=size, population_hparams=spec)
    with pytest.raises(UserError, match=message) as error:
        train_and_evaluate(config, str(tmp_path / "w"))
    assert "\n" not in str(error.value)
    assert not os.path.exists(tmp_path / "w")


def test_resuming_with_other_members_is_refused(digits_data_dir, trained):
    _, workdir, _ = trained
    other = format_population_hparams(
        {"seed": SEEDS, "optim.lr": LRS, "optim.weight_decay": (0.01, 0.01, 0.4)}
    )
    config = _tiny(digits_data_dir, population=3, halt_after_steps=STEPS,
                   population_hparams=other)
    with pytest.raises(UserError, match="holds a population of other members"):
        train_and_evaluate(config, workdir)


@pytest.mark.parametrize(
    "name, schedule",
    [("adamw", "cosine"), ("sgd", "step"), ("lamb", "cosine_restarts"), ("lars", "constant")],
)
def test_injected_optimizer_updates_as_the_plain_one(name, schedule):
    """A state made with other values, given lr and weight decay in its ``hyperparams``,
    takes exactly the plain optimizer's updates (same float operations)."""
    def optim(lr, weight_decay):
        config = load_default_config().optim
        config.name, config.schedule, config.warmup, config.decay_at = name, schedule, "2", "3"
        config.restart_period = "3"
        config.lr, config.weight_decay = lr, weight_decay
        return config

    plain_config = optim(0.03, 0.2)
    plain = build_optimizer(plain_config, build_schedule(plain_config, 8, 2), steps_per_epoch=2)
    injected = build_injected_optimizer(optim(0.5, 0.7), 8, 2)
    params = {"dense": {"kernel": jnp.ones((3, 2)), "bias": jnp.zeros(2)}}
    plain_state, injected_state = plain.init(params), injected.init(params)
    injected_state.hyperparams.update(lr=jnp.float32(0.03), weight_decay=jnp.float32(0.2))
    plain_params = injected_params = params
    rng = np.random.default_rng(0)
    for _ in range(6):
        grads = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), p.dtype), params)
        updates, plain_state = plain.update(grads, plain_state, plain_params)
        plain_params = optax.apply_updates(plain_params, updates)
        updates, injected_state = injected.update(grads, injected_state, injected_params)
        injected_params = optax.apply_updates(injected_params, updates)
    assert _max_abs_difference(plain_params, injected_params) == 0.0
    assert _max_abs_difference(plain_params, params) > 1e-2  # it did train
