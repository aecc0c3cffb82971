"""`mixer-vit show` and mixer_vit.model_views: each picture's numbers equal an independent
NumPy computation (rollout, attention maps recomputed from the qkv weights, position
embedding similarity, token-mixing kernels), the figures hold those numbers in the stated
layout, and the command writes PNGs for a trained workdir or fails with one clear line."""

from __future__ import annotations

import os

import jax
import numpy as np
import pytest
from conftest import TINY_MODEL, load_default_config
from PIL import Image
from tiny_models import images, tiny_model

from mixer_vit import cli
from mixer_vit.errors import UserError
from mixer_vit.model_views import (
    attention_rollout,
    position_embedding_similarity,
    rollout_patch_map,
    token_mixing_grid,
    token_mixing_kernels,
    view_figures,
)
from mixer_vit.model_views.command import define_flags, run_command
from mixer_vit.model_views.images import decode_image
from mixer_vit.model_views.probe import probe_model
from mixer_vit.model_views.render import file_stems
from mixer_vit.models import create_model

GRID = (4, 4)  # tiny models: 16x16 images, patch 4


def _variables(model, x, seed=0):
    """Random parameters in ``model``'s tree for inputs like ``x`` (the tree from
    ``jax.eval_shape(model.init)``, quicker than running the initialisers): N(0, 0.3),
    norm scales 1 + N(0, 0.1)."""
    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        noise = rng.normal(size=leaf.shape).astype(np.float32)
        return 1 + 0.1 * noise if path[-1].key == "scale" else 0.3 * noise

    abstract = jax.eval_shape(model.init, jax.random.key(0), x)
    return {"params": jax.tree_util.tree_map_with_path(draw, abstract["params"])}


ATTENTION_MODELS = {
    "class token": lambda: tiny_model("vit"),
    "mean-pooled": lambda: tiny_model("vit", use_class_token=False, pool="gap"),
    "distilled": lambda: create_model(
        "deit_ti16_distilled",
        patch_size=4,
        embed_dim=16,
        depth=2,
        num_classes=5,
        mixer_kwargs={"num_heads": 2},
    ),
}


@pytest.fixture(scope="module")
def tiny():
    """kind -> (model, variables) for 16x16x3 inputs, built once per kind."""
    built = {}

    def get(kind):
        if kind not in built:
            model = ATTENTION_MODELS[kind]() if kind in ATTENTION_MODELS else tiny_model(kind)
            built[kind] = model, _variables(model, images(1))
        return built[kind]

    return get


# ---------------------------------------------------------------- rollout


def _softmax_rows(rng, shape):
    logits = rng.normal(size=shape) * 2
    weights = np.exp(logits)
    return weights / weights.sum(-1, keepdims=True)


def _rollout_loops(layers):
    """Abnar & Zuidema's rollout with explicit loops, float64: per layer the head mean,
    plus the identity, rows renormalised, multiplied onto the product so far."""
    batch, heads, tokens, _ = layers[0].shape
    out = np.zeros((batch, tokens, tokens))
    for b in range(batch):
        flow = np.eye(tokens)
        for layer in layers:
            mixed = np.zeros((tokens, tokens))
            for i in range(tokens):
                for j in range(tokens):
                    mixed[i, j] = sum(layer[b, h, i, j] for h in range(heads)) / heads
                    mixed[i, j] += 1.0 if i == j else 0.0
                mixed[i] /= mixed[i].sum()
            product = np.zeros((tokens, tokens))
            for i in range(tokens):
                for j in range(tokens):
                    product[i, j] = sum(mixed[i, k] * flow[k, j] for k in range(tokens))
            flow = product
        out[b] = flow
    return out


def test_rollout_equals_half_attention_half_identity_products_for_softmax_weights():
    rng = np.random.default_rng(0)
    layers = [_softmax_rows(rng, (2, 3, 5, 5)).astype(np.float32) for _ in range(3)]
    rollout = attention_rollout(layers)
    assert rollout.shape == (2, 5, 5)
    np.testing.assert_allclose(rollout, _rollout_loops(layers), atol=1e-12)
    # rows summing to 1: (A + I) / 2 is the same as renormalising A + I
    half = [0.5 * w.astype(np.float64).mean(1) + 0.5 * np.eye(5) for w in layers]
    np.testing.assert_allclose(rollout, half[2] @ half[1] @ half[0], atol=1e-6)
    np.testing.assert_allclose(rollout.sum(-1), 1.0, atol=1e-12)


def test_rollout_renormalises_rows_of_head_mixed_weights():
    # CaiT's talking heads mix the weights after the softmax: rows no longer sum to 1
    rng = np.random.default_rng(1)
    layers = [rng.uniform(0.0, 0.7, size=(1, 2, 4, 4)) for _ in range(2)]
    np.testing.assert_allclose(attention_rollout(layers), _rollout_loops(layers), atol=1e-12)


def test_rollout_patch_map_reads_the_class_row_or_the_mean_over_rows():
    rollout = np.arange(2 * 17 * 17, dtype=np.float64).reshape(2, 17, 17)
    with_class = rollout_patch_map(rollout, GRID)
    np.testing.assert_array_equal(with_class[1, 2, 3], rollout[1, 0, 1 + 2 * 4 + 3])
    without = rollout_patch_map(rollout[:, 1:, 1:], GRID)
    np.testing.assert_allclose(without[0, 3, 1], rollout[0, 1:, 1 + 3 * 4 + 1].mean())


def test_rollout_of_a_model_equals_the_loop_computation_on_its_sown_weights(tiny):
    model, variables = tiny("class token")
    x = images(2)
    probe = probe_model(model, variables, x)
    layers = [site.weights for site in probe.sites]
    assert [w.shape for w in layers] == [(2, 2, 17, 17)] * 2
    np.testing.assert_allclose(attention_rollout(layers), _rollout_loops(layers), atol=1e-6)


# ---------------------------------------------------------------- attention maps


def _numpy_attention(block_input, qkv, heads):
    """softmax(q k^T / sqrt(d)) per head from the normalised block input [B, N, D] and the
    fused qkv Dense params (output axis (3, heads, head_dim)); float64 [B, H, N, N]."""
    x = np.asarray(block_input, np.float64)
    batch, tokens, dim = x.shape
    hd = dim // heads
    out = x @ np.asarray(qkv["kernel"], np.float64) + np.asarray(qkv["bias"], np.float64)
    out = out.reshape(batch, tokens, 3, heads, hd)
    q = out[:, :, 0].transpose(0, 2, 1, 3)  # [B, H, N, hd]
    k = out[:, :, 1].transpose(0, 2, 1, 3)
    logits = np.einsum("bhqd,bhkd->bhqk", q, k) / np.sqrt(hd)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    return weights / weights.sum(-1, keepdims=True)


@pytest.mark.parametrize("kind", list(ATTENTION_MODELS))
def test_attention_panels_equal_a_numpy_recomputation_from_the_qkv_weights(tiny, kind):
    model, variables = tiny(kind)
    x = images(2, seed=3)
    _, captured = model.apply(
        variables, x, train=False, capture_intermediates=True, mutable=["intermediates"]
    )
    layer, head, image = 1, 1, 1
    block_input = captured["intermediates"][f"blocks_{layer}"]["norm1"]["__call__"][0]
    qkv = variables["params"][f"blocks_{layer}"]["mixer"]["qkv"]
    weights = _numpy_attention(block_input, qkv, heads=2)[image, head]  # [N, N]
    prefix = weights.shape[0] - 16
    patch_columns = weights[:, prefix:]
    if prefix:  # the class token (first) attending to the patches
        expected = patch_columns[0].reshape(GRID)
    else:  # attention each patch receives, averaged over the queries
        expected = patch_columns.mean(0).reshape(GRID)

    shown = view_figures(model, variables, x, names=["p", "q"], layers=[1, 0], heads=[1, 0])
    figure = shown["q_attention"]  # rows = layers [1, 0], columns = heads [1, 0]
    panel = figure.axes[0].images[1].get_array()  # row 0 = layer 1, column 0 = head 1
    np.testing.assert_allclose(panel, expected, atol=2e-5)
    other = figure.axes[3].images[1].get_array()  # row 1 = layer 0, column 1 = head 0
    assert not np.allclose(other, expected, atol=1e-3)
    label = figure.axes[0].get_ylabel()
    assert label.startswith("blocks_1/mixer") and ("class token" in label) == bool(prefix)


def test_cait_maps_come_from_its_patch_blocks_and_class_attention_blocks(tiny):
    model, variables = tiny("cait")
    x = images(1)
    probe = probe_model(model, variables, x)
    names = [site.name for site in probe.sites]
    assert names == ["blocks_0/mixer", "cls_blocks_0/attn"]
    assert probe.sites[1].weights.shape == (1, 2, 1, 17)


def test_scanned_blocks_give_one_site_per_block():
    model = tiny_model("vit", scan_blocks=True)
    x = images(1)
    variables = _variables(model, x)
    _, state = model.apply(variables, x, train=False, mutable=["intermediates"])
    stacked = np.asarray(state["intermediates"]["blocks"]["mixer"]["attention_weights"][0])
    probe = probe_model(model, variables, x)
    assert [site.name for site in probe.sites] == ["blocks_0/mixer", "blocks_1/mixer"]
    np.testing.assert_array_equal(probe.sites[1].weights, stacked[1])


# ---------------------------------------------------------------- position embedding


@pytest.mark.parametrize("kind", ["class token", "distilled"])
def test_position_similarity_equals_numpy_cosines_without_the_prefix_slots(tiny, kind):
    model, variables = tiny(kind)
    x = images(1)
    table = np.asarray(variables["params"]["pos_embed"], np.float64)[0]  # [P + 16, D]
    prefix = table.shape[0] - 16
    assert prefix == {"class token": 1, "distilled": 2}[kind]
    expected = np.zeros((4, 4, 4, 4))
    for a in range(16):
        for b in range(16):
            u, v = table[prefix + a], table[prefix + b]
            expected[a // 4, a % 4, b // 4, b % 4] = u @ v / np.sqrt((u @ u) * (v @ v))
    similarity = position_embedding_similarity(variables["params"]["pos_embed"], GRID)
    np.testing.assert_allclose(similarity, expected, atol=1e-6)

    mosaic = view_figures(model, variables, x)["position_similarity"].axes[0].images[0]
    tile = mosaic.get_array()[2 * 5 : 2 * 5 + 4, 3 * 5 : 3 * 5 + 4]  # patch (2, 3), gap 1
    np.testing.assert_allclose(tile, expected[2, 3], atol=1e-6)


# ---------------------------------------------------------------- token mixing


def test_mixer_token_mixing_grids_are_the_fc1_kernel_columns_on_the_patch_grid(tiny):
    model, variables = tiny("mixer")
    kernels = token_mixing_kernels(variables["params"], 16)
    assert [k.block for k in kernels] == [0, 1]
    for k in kernels:
        fc1 = np.asarray(variables["params"][f"blocks_{k.block}"]["mixer"]["mlp"]["fc1"]["kernel"])
        np.testing.assert_array_equal(k.kernel, fc1)  # [16 patches, 8 units]
    grids = token_mixing_grid(kernels[1].kernel, GRID, units=5)
    assert grids.shape == (5, 4, 4)
    for unit in range(5):
        for row in range(4):
            for col in range(4):
                assert grids[unit, row, col] == kernels[1].kernel[row * 4 + col, unit]

    shown = view_figures(model, variables, None, image_shape=(16, 16, 3), layers=[1], units=5)
    assert list(shown) == ["token_mixing_block1"]
    image = shown["token_mixing_block1"].axes[0].images[0]
    np.testing.assert_array_equal(image.get_array()[0:4, 5:9], grids[1])  # unit 1: 2nd tile
    low, high = image.get_clim()
    assert low == -high == -np.abs(grids).max()  # symmetric colour scale


def test_scanned_mixer_kernels_are_split_per_block():
    model = tiny_model("mixer", scan_blocks=True)
    variables = _variables(model, images(1))
    stacked = np.asarray(variables["params"]["blocks"]["mixer"]["mlp"]["fc1"]["kernel"])
    kernels = token_mixing_kernels(variables["params"], 16)
    assert [k.block for k in kernels] == [0, 1]
    np.testing.assert_array_equal(kernels[1].kernel, stacked[1])


# ---------------------------------------------------------------- what applies, errors


@pytest.mark.parametrize("family", ["poolformer", "resnet"])
def test_models_without_attention_position_or_token_mixing_weights_are_refused(family):
    if family == "resnet":
        model, x = create_model("resnet18", num_classes=5), np.zeros((1, 32, 32, 3), np.float32)
    else:
        model, x = tiny_model(family), images(1)
    # the refusal reads the parameter tree (no patch embedding); shapes are enough
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    with pytest.raises(UserError, match="supports ViT, DeiT and CaiT") as error:
        view_figures(model, variables, x)
    assert "\n" not in str(error.value)


def test_bad_indices_name_the_valid_range(tiny):
    model, variables = tiny("class token")
    x = images(1)
    with pytest.raises(UserError, match=r"--layers 2 .* 2 attention layers.* 0\.\.1"):
        view_figures(model, variables, x, layers=[0, 2])
    with pytest.raises(UserError, match=r"--heads 5 .* 2 heads.* 0\.\.1"):
        view_figures(model, variables, x, heads=[5])
    with pytest.raises(UserError, match="pass --images"):
        view_figures(model, variables, None, image_shape=(16, 16, 3))
    mixer, mixer_variables = tiny("mixer")
    with pytest.raises(UserError, match="no heads"):
        view_figures(mixer, mixer_variables, x, heads=[0])


def test_file_stems_are_distinct_and_safe():
    assert file_stems(["a/x.png", "b/x.jpg", "c/my pic.png"]) == ["x", "x_2", "my_pic"]


# ---------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def digits_workdir(digits_data_dir, tmp_path_factory):
    """A ViT (4x4 patch grid of 8x8 digits, 2 blocks, 2 heads) trained for 2 steps."""
    from mixer_vit.train.loop import train_and_evaluate

    config = load_default_config()
    config.data.data_dir = digits_data_dir
    config.model.overrides = dict(TINY_MODEL)
    config.train.global_batch_size = 32
    config.train.halt_after_steps = 2
    workdir = str(tmp_path_factory.mktemp("show") / "run")
    train_and_evaluate(config, workdir)
    return workdir


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    """Two digits as files: an 8x8 grey PNG (the stored form) and a 24x24 RGB JPEG."""
    from mixer_vit.data.digits_builder import load_digits_uint8

    digits, _ = load_digits_uint8()
    folder = tmp_path_factory.mktemp("images")
    grey, rgb = str(folder / "zero.png"), str(folder / "big three.jpg")
    Image.fromarray(digits[0, :, :, 0]).save(grey)
    Image.fromarray(digits[3, :, :, 0]).resize((24, 24)).convert("RGB").save(rgb)
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    return {"grey": grey, "rgb": rgb, "broken": str(folder / "broken.png"), "digits": digits}


def test_files_decode_to_the_stored_grey_8x8_form(image_files):
    pixels = decode_image(image_files["grey"], (8, 8, 1))
    np.testing.assert_array_equal(pixels, image_files["digits"][0])  # PNG is lossless
    resized = decode_image(image_files["rgb"], (8, 8, 1))
    assert resized.shape == (8, 8, 1) and resized.dtype == np.uint8
    assert decode_image(image_files["grey"], (None, None, 3)).shape == (8, 8, 3)


def _show(*args):
    return run_command(cli._parse(list(args), define_flags))


def test_show_writes_the_pictures_of_a_trained_vit(digits_workdir, image_files, tmp_path, capsys):
    out = tmp_path / "pictures"
    files = f"{image_files['grey']},{image_files['rgb']}"
    args = ["--workdir", digits_workdir, "--images", files, "--out", str(out), "--heads", "1"]
    assert cli.main(["show", *args]) == 0
    expected = {
        "zero_attention.png",
        "zero_rollout.png",
        "big_three_attention.png",
        "big_three_rollout.png",
        "position_similarity.png",
    }
    assert set(os.listdir(out)) == expected
    for name in expected:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1024
    with Image.open(out / "zero_attention.png") as picture:
        assert picture.size[0] < picture.size[1]  # one head column, two layer rows
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("5 pictures of step 2")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--images", "{missing}"], "does not exist"),
        (["--images", "{broken}"], "cannot read image"),
        (["--images", "{grey}", "--heads", "0,2"], "valid indices are 0..1"),
    ],
)
def test_show_mistakes_fail_with_one_line(digits_workdir, image_files, tmp_path, args, message):
    paths = {**image_files, "missing": str(tmp_path / "nope.png")}
    args = [a.format(**paths) for a in args]
    with pytest.raises(UserError, match=message) as error:
        _show("--workdir", digits_workdir, "--out", str(tmp_path / "o"), *args)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "o").exists()
