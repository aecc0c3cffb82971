"""The frozen random token-mixing matrix: no trainable parameters, a fixed linear map over
tokens (checked against the matrix recovered from one-hot inputs), row-stochastic, one
matrix per block, unchanged by a train step, the same in grouped inference."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mixer_vit.layers import make_mixer
from mixer_vit.layers.random_mixer import random_mixing_matrix
from mixer_vit.models import create_model

TOKENS, DIM = 9, 5


def apply(x, **kwargs):
    mixer = make_mixer("random", **kwargs)
    return np.asarray(mixer.apply({}, jnp.asarray(x), deterministic=True))


def recovered_matrix(**kwargs) -> np.ndarray:
    """The map's matrix ``[N, N]``, read off its outputs for the one-hot token inputs:
    input token m set to ones gives column m."""
    basis = np.eye(TOKENS, dtype=np.float32)[:, :, None] * np.ones((1, 1, DIM), np.float32)
    out = apply(basis, **kwargs)  # [M (input token), N (output token), D]
    np.testing.assert_allclose(out, out[..., :1] * np.ones(DIM), atol=1e-7)  # same per channel
    return out[..., 0].T


def test_is_a_fixed_row_stochastic_linear_map_over_tokens():
    matrix = recovered_matrix(seed=3)
    assert np.all(matrix > 1 / (np.e * TOKENS)) and np.all(matrix < np.e / TOKENS)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-6)
    assert np.linalg.matrix_rank(matrix) == TOKENS  # random, not the uniform average
    np.testing.assert_allclose(matrix, random_mixing_matrix(TOKENS, 3), atol=1e-6)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2, 2, TOKENS, DIM)).astype(np.float32)
    np.testing.assert_allclose(apply(x, seed=3), np.einsum("nm,bmd->bnd", matrix, x), atol=1e-5)
    np.testing.assert_allclose(
        apply(2.0 * x - 3.0 * y, seed=3), 2.0 * apply(x, seed=3) - 3.0 * apply(y, seed=3), atol=1e-5
    )
    np.testing.assert_array_equal(apply(x, seed=3), apply(x, seed=3))


def test_another_seed_gives_another_matrix():
    assert np.abs(recovered_matrix(seed=0) - recovered_matrix(seed=1)).max() > 1e-3


def test_no_trainable_params_and_a_train_step_leaves_the_map_alone():
    kwargs = dict(embed_dim=8, depth=2, patch_size=4, num_classes=3)
    kwargs.update(use_class_token=False, pool="gap")
    model = create_model("vit_ti16", mixer="random", mixer_kwargs={}, **kwargs)
    identity = create_model("vit_ti16", mixer="identity", mixer_kwargs={}, **kwargs)
    images = jnp.asarray(np.random.default_rng(1).normal(size=(2, 8, 8, 3)), jnp.float32)
    variables = model.init(jax.random.PRNGKey(0), images, train=False)
    head = variables["params"]["head"]  # zero-initialised: make the logits see the blocks
    head = {**head, "kernel": jax.random.normal(jax.random.PRNGKey(1), head["kernel"].shape)}
    variables = {"params": {**variables["params"], "head": head}}
    assert set(variables) == {"params"}
    assert "mixer" not in variables["params"]["blocks_0"]
    count = lambda tree: sum(leaf.size for leaf in jax.tree.leaves(tree))
    reference = identity.init(jax.random.PRNGKey(0), images, train=False)["params"]
    reference = {**reference, "head": head}
    assert count(variables["params"]) == count(reference)
    # the model does mix tokens: the random model differs from the identity one
    logits = model.apply(variables, images, train=False)
    unmixed = identity.apply({"params": reference}, images, train=False)
    assert np.abs(np.asarray(logits - unmixed)).max() > 1e-6

    def loss(params):
        out = model.apply({"params": params}, images, train=False)
        return optax.softmax_cross_entropy_with_integer_labels(out, jnp.array([0, 1])).mean()

    grads = jax.grad(loss)(variables["params"])
    params = optax.apply_updates(variables["params"], jax.tree.map(lambda g: -g, grads))
    # after the update each block still mixes with its own constant matrix
    _, state = model.apply(
        {"params": params},
        images,
        train=False,
        capture_intermediates=True,
        mutable=["intermediates"],
    )
    matrices = []
    for block in ("blocks_0", "blocks_1"):
        seen = state["intermediates"][block]
        mixer_in, mixer_out = seen["norm1"]["__call__"][0], seen["mixer"]["__call__"][0]
        matrices.append(random_mixing_matrix(4, 0, f"{block}/mixer"))
        expected = np.einsum("nm,bmd->bnd", matrices[-1], np.asarray(mixer_in))
        np.testing.assert_allclose(np.asarray(mixer_out), expected, atol=1e-5)
    assert np.abs(matrices[0] - matrices[1]).max() > 1e-3
    # inference run in image groups (lifted scan over groups) uses the same matrices
    grouped = create_model("vit_ti16", mixer="random", inference_image_group=1, **kwargs)
    np.testing.assert_array_equal(np.asarray(grouped.apply(variables, images)), np.asarray(logits))
