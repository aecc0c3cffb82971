"""Contract test run for EVERY registered token mixer, inside the isotropic MetaFormer.

Each mixer found by ``list_mixers()`` at collection time must: give the right output
shape, run under jit, have finite and nonzero gradients, run in bfloat16 (parameters stay
float32), be deterministic in eval mode, and survive one sharded train step.

A new mixer must add a line to ``MIXER_SETTINGS`` below (its tiny hyper-parameters and,
if needed, model overrides such as ``use_class_token=False``); a mixer missing from the
table fails ``test_mixer_has_contract_settings`` with a message saying so.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mixer_vit import parallel
from mixer_vit.layers import list_mixers
from mixer_vit.models import create_model
from mixer_vit.train.state import TrainState
from mixer_vit.train.step import make_train_step

# Class-token-free, position-embedding-free model (for spatial mixers that want only
# the patch grid as tokens).
GRID_ONLY = dict(use_class_token=False, use_pos_embed=False, pool="gap")

# mixer name -> {"mixer_kwargs": tiny hyper-parameters, "model": extra model overrides}
MIXER_SETTINGS: dict[str, dict] = {
    "attention": {"mixer_kwargs": {"num_heads": 2}},
    "attention_fused": {"mixer_kwargs": {"num_heads": 2, "implementation": "fused"}},
    "talking_heads_attention": {"mixer_kwargs": {"num_heads": 2}},
    "mlp": {"mixer_kwargs": {"tokens_mlp_dim": 8}},
    "identity": {"mixer_kwargs": {}},
    "shift": {"mixer_kwargs": {}, "model": GRID_ONLY},
    "window_attention": {"mixer_kwargs": {"num_heads": 2, "window_size": 2}, "model": GRID_ONLY},
    "pooling": {"mixer_kwargs": {}, "model": GRID_ONLY},
    "dwconv": {"mixer_kwargs": {}, "model": GRID_ONLY},
    "fourier": {"mixer_kwargs": {}, "model": GRID_ONLY},
    "linear": {"mixer_kwargs": {}, "model": GRID_ONLY},
    "random": {"mixer_kwargs": {"seed": 1}},
}
# Extra cases that are not mixer names (same mixer, another option): case -> mixer name.
EXTRA_CASES = {"attention_fused": "attention"}

IMAGE_SIZE, NUM_CLASSES, BATCH = 16, 3, 2
CASES = sorted(set(list_mixers()) | {c for c, m in EXTRA_CASES.items() if m in list_mixers()})


def _settings(case: str) -> dict:
    if case not in MIXER_SETTINGS:
        pytest.fail(
            f"token mixer {case!r} is registered but has no entry in MIXER_SETTINGS in "
            f"tests/test_mixer_contract.py; add its tiny hyper-parameters there "
            f"(e.g. {{'mixer_kwargs': {{...}}, 'model': GRID_ONLY}})"
        )
    return MIXER_SETTINGS[case]


def _model(case: str, **extra):
    settings = _settings(case)
    overrides = dict(
        mixer=EXTRA_CASES.get(case, case),
        mixer_kwargs=settings["mixer_kwargs"],
        embed_dim=16,
        depth=1,
        patch_size=4,
        num_classes=NUM_CLASSES,
        drop_path_rate=0.1,
        dropout_rate=0.1,
    )
    overrides.update(settings.get("model", {}))
    overrides.update(extra)
    return create_model("vit_ti16", **overrides)


def _images(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(BATCH, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)


@functools.lru_cache(maxsize=None)
def _init(case: str):
    """(model, params) with a random (not zero) head, so gradients reach the blocks."""
    model = _model(case)
    init = jax.jit(lambda x: model.init(jax.random.PRNGKey(0), x, train=False)["params"])
    params = dict(init(jnp.asarray(_images())))
    head = dict(params["head"])
    head["kernel"] = jax.random.normal(jax.random.PRNGKey(1), head["kernel"].shape) * 0.5
    params["head"] = head
    return model, params


@functools.lru_cache(maxsize=None)
def _forward(case: str):
    """One compiled function, run twice: eval logits and train logits (fixed dropout key)."""
    model, params = _init(case)

    def run(p, x):
        logits = model.apply({"params": p}, x, train=False)
        key = jax.random.PRNGKey(3)
        return logits, model.apply({"params": p}, x, train=True, rngs={"dropout": key})

    run = jax.jit(run)
    images = jnp.asarray(_images())
    return jax.device_get(run(params, images)), jax.device_get(run(params, images))


@functools.lru_cache(maxsize=None)
def _train_step(case: str):
    """One sharded train step (1-device mesh) with SGD at lr 1, so the parameter change is
    minus the gradient. Returns (loss, grads)."""
    model, params = _init(case)
    mesh = parallel.make_mesh(1)
    tx = optax.sgd(1.0)
    state = TrainState(
        step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params), model_state={}
    )
    state = jax.device_put(state, parallel.replicated(mesh))
    before = jax.device_get(params)
    step = make_train_step(model, tx, mesh, base_rng=jax.random.PRNGKey(1), label_smoothing=0.1)
    batch = {"image": _images(), "label": (np.arange(BATCH) % NUM_CLASSES).astype(np.int32)}
    state, metrics = step(state, parallel.shard_batch(batch, mesh))
    jax.block_until_ready(state)
    assert int(state.step) == 1
    grads = jax.tree.map(lambda old, new: old - np.asarray(new), before, state.params)
    return float(metrics["loss"]), grads


def test_every_registered_mixer_is_covered():
    assert {"attention", "mlp", "identity", "shift"} <= set(list_mixers())
    assert "attention_fused" in CASES


@pytest.mark.parametrize("case", CASES)
def test_mixer_has_contract_settings(case):
    _settings(case)


@pytest.mark.parametrize("case", CASES)
def test_mixer_shape_jit_determinism(case):
    (logits, train_logits), (logits2, train_logits2) = _forward(case)
    assert logits.shape == (BATCH, NUM_CLASSES) and logits.dtype == np.float32
    assert train_logits.shape == (BATCH, NUM_CLASSES)
    assert np.all(np.isfinite(logits)) and np.all(np.isfinite(train_logits))
    np.testing.assert_array_equal(logits, logits2)  # eval: same output twice
    np.testing.assert_array_equal(train_logits, train_logits2)  # train: same key, same output


@pytest.mark.parametrize("case", CASES)
def test_mixer_sharded_train_step(case):
    loss, _ = _train_step(case)
    assert np.isfinite(loss), f"{case}: loss {loss}"


@pytest.mark.parametrize("case", CASES)
def test_mixer_gradient_finite_and_nonzero(case):
    _, grads = _train_step(case)
    for path, g in jax.tree_util.tree_leaves_with_path(grads):
        assert np.all(np.isfinite(g)), f"{case}: non-finite gradient at {path}"
    block = grads["blocks_0"]
    assert float(optax.tree.norm(block)) > 0, f"{case}: zero gradient for the block"
    if "mixer" in block:  # mixers with parameters: they must receive gradient
        assert float(optax.tree.norm(block["mixer"])) > 0, f"{case}: mixer params get no grad"


@pytest.mark.parametrize("case", CASES)
def test_mixer_bfloat16(case):
    _, params = _init(case)
    (reference, _), _ = _forward(case)
    model = _model(case, dtype=jnp.bfloat16)
    images = jnp.asarray(_images())
    variables = jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x, train=False), images)
    dtypes = {leaf.dtype for leaf in jax.tree.leaves(variables["params"])}
    assert dtypes == {jnp.dtype(jnp.float32)}, f"{case}: bf16 model params are {dtypes}"
    logits = jax.jit(lambda p, x: model.apply({"params": p}, x, train=False))(params, images)
    assert logits.dtype == jnp.float32 and np.all(np.isfinite(logits))
    scale = float(np.abs(reference).max())
    assert float(np.abs(np.asarray(logits) - reference).max()) < 0.1 * scale + 0.05, case
