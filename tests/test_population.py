"""Population training (``config.train.population``): every member equals the separate run
with its seed (init, data order, randomness), for a ViT end to end and for a BatchNorm
model at the step level; per-member results in the workdir; resume; refusals."""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mixer_vit import parallel
from mixer_vit.errors import UserError
from mixer_vit.experiment import workdir_results
from mixer_vit.models import create_model
from mixer_vit.train.loop import open_checkpointer, train_and_evaluate
from mixer_vit.train.plan import plan_run
from mixer_vit.train.population_plan import POPULATION_AUTO_KERNELS, member_workdir
from mixer_vit.train.population_step import make_population_train_step, shard_population_batch
from mixer_vit.train.state import create_train_state
from mixer_vit.train.step import make_train_step

TOLERANCE = 1e-5
SCALE_FLOOR = 1e-2


def _saved_state(config, workdir):
    """The train state of the latest checkpoint in ``workdir`` (stacked for a population)."""
    plan = plan_run(config)
    target = plan.init_state()
    if plan.population:
        target = jax.tree.map(lambda *xs: jnp.stack(xs), *[target] * plan.population)
    ckpt = open_checkpointer(config, workdir)
    try:
        state, _ = ckpt.restore(ckpt.latest_step(), target)
    finally:
        ckpt.close()
    return state


def _max_differences(stacked, member: int, separate) -> tuple[float, float]:
    """(max abs, max relative) difference between member ``member`` of ``stacked`` and
    ``separate`` over every leaf; relative: a leaf's max abs difference over its max abs
    value, at least ``SCALE_FLOOR`` (AdamW's first steps move a zero-initialised bias by
    about lr * sign(g): at 1e-4 such a leaf shows its 2e-8 rounding as 2e-4 relative)."""
    absolute, relative = 0.0, 0.0
    for a, b in zip(jax.tree.leaves(stacked), jax.tree.leaves(separate)):
        a, b = np.asarray(a[member], np.float64), np.asarray(b, np.float64)
        diff = float(np.abs(a - b).max(initial=0.0))
        absolute = max(absolute, diff)
        relative = max(relative, diff / max(float(np.abs(b).max(initial=0.0)), SCALE_FLOOR))
    return absolute, relative


def test_members_equal_separate_runs_after_a_few_steps(tiny_config, tmp_path):
    # AdamW, warm-up, dropout and drop-path: init, data order and rng must all match.
    steps = 4
    population = tiny_config(population=2, halt_after_steps=steps)
    population.seed = 5
    result = train_and_evaluate(population, str(tmp_path / "population"))
    assert result == {"steps": steps, "halted": True}
    stacked = _saved_state(population, str(tmp_path / "population"))
    assert stacked.step.tolist() == [steps, steps]
    separate = tiny_config(halt_after_steps=steps)
    separate.seed = 6  # member 1
    # a population computes with the reference kernels (auto: POPULATION_AUTO_KERNELS),
    # and so does the separate run its member config.json describes
    separate.model.kernels = POPULATION_AUTO_KERNELS
    train_and_evaluate(separate, str(tmp_path / "seed_6"))
    state = _saved_state(separate, str(tmp_path / "seed_6"))
    absolute, relative = _max_differences(stacked.params, 1, state.params)
    assert absolute <= TOLERANCE and relative <= TOLERANCE, (absolute, relative)
    # optimizer moments (tiny second moments: absolute) and the plateau value too
    assert _max_differences(stacked, 1, state)[0] <= TOLERANCE
    # member 0 (seed 5) is another run: a wrong seed or data order would show here
    assert _max_differences(stacked.params, 0, state.params)[0] > 1e-3


def _tiny_convmixer():
    from mixer_vit.models.convmixer import ConvMixer

    return ConvMixer(dim=16, depth=2, kernel_size=3, patch_size=2, activation="gelu",
                     num_classes=10)


def test_batchnorm_members_equal_separate_steps():
    """A BatchNorm model (ConvMixer): parameters and batch_stats per member. SGD: AdamW's
    first updates are about lr * sign(g), which turns float rounding of near-zero
    gradients into lr-sized differences (train_helpers.run_steps says the same)."""
    model, mesh = _tiny_convmixer(), parallel.make_mesh(1)
    tx = optax.sgd(0.05, momentum=0.9)
    seeds, steps, replicated = (0, 1, 2), 3, parallel.replicated(mesh)
    rng = np.random.default_rng(0)
    batches = [
        {"image": rng.normal(size=(len(seeds), 16, 8, 8, 1)).astype(np.float32),
         "label": rng.integers(0, 10, (len(seeds), 16)).astype(np.int32)}
        for _ in range(steps)
    ]
    init = [create_train_state(model, tx, (8, 8, 1), jax.random.PRNGKey(s), replicated)
            for s in seeds]
    assert "batch_stats" in init[0].model_state
    keys = jnp.stack([jax.random.fold_in(jax.random.PRNGKey(s), 1) for s in seeds])
    population = make_population_train_step(model, tx, mesh, base_rngs=keys)
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *init)
    for batch in batches:
        stacked, metrics = population(stacked, shard_population_batch(batch, mesh))
        assert metrics["loss"].shape == (len(seeds),)
    for member, seed in enumerate(seeds):
        step = make_train_step(model, tx, mesh, base_rng=keys[member])
        state = create_train_state(model, tx, (8, 8, 1), jax.random.PRNGKey(seed), replicated)
        for batch in batches:
            one = {k: v[member] for k, v in batch.items()}
            state, _ = step(state, parallel.shard_batch(one, mesh))
        for part in ("params", "model_state"):
            absolute, relative = _max_differences(
                getattr(stacked, part), member, getattr(state, part)
            )
            assert absolute <= TOLERANCE and relative <= TOLERANCE, (seed, part, absolute)


@pytest.mark.slow  # three trainings of an epoch (~20 s alone, ~50 s on a loaded machine)
def test_population_writes_member_results_and_resumes(tiny_config, tmp_path):
    """Halted and resumed, a population of 2 ends with two member folders that read as
    finished runs, whose test metrics equal the separate runs'."""
    workdir = str(tmp_path / "population")
    config = tiny_config(population=2, num_epochs=1, checkpoint_every_steps=10)
    halted = train_and_evaluate(tiny_config(population=2, num_epochs=1,
                                            checkpoint_every_steps=10, halt_after_steps=12),
                                workdir)
    assert halted == {"steps": 12, "halted": True}
    with pytest.raises(UserError, match="population of 2"):
        train_and_evaluate(tiny_config(population=3, num_epochs=1), workdir)
    result = train_and_evaluate(config, workdir)
    assert [m["seed"] for m in result["members"]] == [0, 1]
    with open(os.path.join(workdir, "population_results.json")) as f:
        assert [m["seed"] for m in json.load(f)["members"]] == [0, 1]
    for member in result["members"]:
        folder = member_workdir(workdir, member["seed"])
        assert workdir_results.is_finished(folder)
        assert workdir_results.started_config(folder)["seed"] == member["seed"]
        assert workdir_results.started_config(folder)["train"]["population"] == 0
        assert workdir_results.started_config(folder)["model"]["kernels"] == "reference"
        final = workdir_results.final_metrics(folder)
        assert final["test_accuracy"] == member["accuracy"]
        assert final["steps"] == result["steps"] == 39  # 1258 // 32 steps in one epoch
    separate = tiny_config(num_epochs=1)
    separate.seed = 1
    separate.model.kernels = POPULATION_AUTO_KERNELS
    alone = train_and_evaluate(separate, str(tmp_path / "seed_1"))
    assert result["members"][1]["count"] == alone["count"]
    assert abs(result["members"][1]["loss"] - alone["loss"]) < 1e-4
    assert abs(result["members"][1]["accuracy"] - alone["accuracy"]) <= 1 / alone["count"]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c.early_stopping.update(patience=2), "early stopping"),
        (lambda c: c.sam.update(rho=0.05, per_device=True), "sam.per_device"),
        (lambda c: c.train.update(population=-1), "integer >= 0"),
    ],
)
def test_population_refuses_what_it_cannot_train(tiny_config, tmp_path, change, message):
    config = tiny_config(population=2)
    change(config)
    with pytest.raises(UserError, match=message):
        train_and_evaluate(config, str(tmp_path / "w"))
    assert not os.path.exists(tmp_path / "w")
