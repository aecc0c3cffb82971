"""``model.init_from``: a run starts from the weights of a ``mixer-vit convert`` directory."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import TINY_MODEL

from mixer_vit import parallel
from mixer_vit.convert import save_converted
from mixer_vit.errors import UserError
from mixer_vit.models import create_model
from mixer_vit.train.initial_weights import with_initial_weights
from mixer_vit.train.state import create_train_state

try:  # the run plan's module (older trainers: ``setup.prepare``)
    from mixer_vit.train import plan as run_plan

    make_run = run_plan.plan_run
except ImportError:
    from mixer_vit.train import setup as run_plan

    make_run = run_plan.prepare

SIZE = 8
OVERRIDES = dict(TINY_MODEL, num_classes=10)


def _state(model, seed, with_ema=False):
    mesh = parallel.make_mesh(1)
    tx = optax.adamw(1e-3)
    return create_train_state(
        model, tx, (SIZE, SIZE, 3), jax.random.PRNGKey(seed), parallel.replicated(mesh),
        with_ema=with_ema,
    )


@pytest.fixture
def converted(tmp_path):
    """A converted directory of the tiny ViT (seed 7) and its parameters."""
    model = create_model("vit_ti16", **OVERRIDES)
    params = _state(model, seed=7).params
    directory = str(tmp_path / "converted")
    save_converted(directory, "vit_ti16", OVERRIDES, SIZE, {"params": params}, "test")
    return directory, jax.tree.map(np.asarray, params)


def test_parameters_and_ema_come_from_the_directory_optimizer_state_is_fresh(converted):
    directory, saved = converted
    model = create_model("vit_ti16", **OVERRIDES)
    fresh = _state(model, seed=0, with_ema=True)
    assert not np.allclose(fresh.params["pos_embed"], saved["pos_embed"])
    state = with_initial_weights(fresh, directory, "vit_ti16", model, SIZE)
    for got in (state.params, state.ema_params):
        jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), b), got, saved)
    leaf = jax.tree.leaves(state.params)[0]
    assert leaf.sharding == jax.tree.leaves(fresh.params)[0].sharding
    zeros = [np.all(np.asarray(m) == 0) for m in jax.tree.leaves(state.opt_state[0].mu)]
    assert all(zeros) and int(state.step) == 0


def test_a_directory_for_another_model_size_or_head_is_refused(converted, tmp_path):
    directory, _ = converted
    model = create_model("vit_ti16", **OVERRIDES)
    state = _state(model, seed=0)
    with pytest.raises(UserError, match="holds vit_ti16 weights but the run trains vit_s16"):
        with_initial_weights(state, directory, "vit_s16", model, SIZE)
    with pytest.raises(UserError, match="converted at 8px but the run's images are 16px"):
        with_initial_weights(state, directory, "vit_ti16", model, 16)
    deeper = create_model("vit_ti16", **dict(OVERRIDES, depth=3))
    with pytest.raises(UserError, match="converted with depth=2 but the run's model has depth=3"):
        with_initial_weights(_state(deeper, seed=0), directory, "vit_ti16", deeper, SIZE)
    with pytest.raises(UserError, match="no model.json"):
        with_initial_weights(state, str(tmp_path), "vit_ti16", model, SIZE)


def test_shape_mismatch_names_the_parameters(converted):
    """Grey images: the converted patch embedding expects 3 channels, the run's 1."""
    directory, _ = converted
    model = create_model("vit_ti16", **OVERRIDES)
    mesh = parallel.make_mesh(1)
    grey = create_train_state(
        model, optax.adamw(1e-3), (SIZE, SIZE, 1), jax.random.PRNGKey(0),
        parallel.replicated(mesh),
    )
    wanted = r"shape: patch_embed\S* \(2, 2, 3, 32\) \(run: \(2, 2, 1, 32\)\)"
    with pytest.raises(UserError, match=wanted):
        with_initial_weights(grey, directory, "vit_ti16", model, SIZE)


def test_another_class_count_needs_a_fresh_head(converted):
    """Fine-tuning on 5 classes from a 10-class directory: refused naming the head, unless
    ``init_fresh`` keeps the head; then everything else is the directory's."""
    directory, saved = converted
    model = create_model("vit_ti16", **dict(OVERRIDES, num_classes=5))
    fresh = _state(model, seed=0)
    with pytest.raises(UserError, match=r"shape: head/bias \(10,\) \(run: \(5,\)\)"):
        with_initial_weights(fresh, directory, "vit_ti16", model, SIZE)
    with pytest.raises(UserError, match="init_fresh '\\[' is not a valid regex"):
        with_initial_weights(fresh, directory, "vit_ti16", model, SIZE, fresh="[")
    head = jax.tree.map(np.asarray, fresh.params["head"])
    state = with_initial_weights(fresh, directory, "vit_ti16", model, SIZE, fresh="^head/")
    kept = jax.tree.map(np.asarray, state.params["head"])
    jax.tree.map(np.testing.assert_array_equal, kept, head)
    np.testing.assert_array_equal(np.asarray(state.params["pos_embed"]), saved["pos_embed"])
    np.testing.assert_array_equal(
        np.asarray(state.params["blocks_0"]["mlp"]["fc1"]["kernel"]),
        saved["blocks_0"]["mlp"]["fc1"]["kernel"],
    )


def test_the_run_setup_loads_init_from_and_it_is_not_part_of_the_model_identity(
    tiny_config, monkeypatch
):
    calls = []

    def record(state, directory, name, model, image_size, fresh):
        calls.append((directory, name, image_size, fresh))
        return state

    monkeypatch.setattr(run_plan, "with_initial_weights", record)
    config = tiny_config()
    plain = make_run(config)
    plain.init_state()
    assert calls == []
    config.model.init_from, config.model.init_fresh = "/weights/dir", "^head/"
    run = make_run(config)
    run.init_state()
    assert calls == [("/weights/dir", "vit_ti16", 8, "^head/")]
    assert run.model_identity() == plain.model_identity()
