"""The preprocessing-op spec: parsing, errors, and what each op does to shapes/values."""

from __future__ import annotations

import io

import numpy as np
import PIL.Image
import pytest

from mixer_vit.data.preprocess_ops import OPS, make_preprocess
from mixer_vit.errors import UserError


def _example(h=40, w=60, seed=0):
    image = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return {"image": image, "label": np.int64(3), "id": "x"}


def test_eval_spec_shapes_and_range():
    pp = make_preprocess("resize_small(32)|center_crop(32)|value_range(-1,1)")
    out = pp(_example())
    assert set(out) == {"image", "label"}
    assert out["image"].shape == (32, 32, 3) and out["image"].dtype == np.float32
    assert out["label"].dtype == np.int32 and int(out["label"]) == 3
    assert -1 <= out["image"].min() and out["image"].max() <= 1
    assert make_preprocess("resize(16, 24)")(_example())["image"].shape == (16, 24, 3)


def test_normalize_preset_and_explicit():
    example = {"image": np.full((2, 2, 3), 255, np.uint8), "label": 0}
    out = make_preprocess("normalize(imagenet)")(example)["image"]
    expected = (1 - np.array([0.485, 0.456, 0.406])) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(out[0, 0], expected, rtol=1e-5)
    out = make_preprocess("normalize(0.5, 0.5)")(example)["image"]
    np.testing.assert_allclose(out, 1.0)


def test_random_ops_are_deterministic_per_rng_and_need_it():
    pp = make_preprocess("random_resized_crop(24)|flip|randaugment(2,9)|normalize(imagenet)")
    a = pp(_example(), np.random.default_rng([0, 5, 1]))
    b = pp(_example(), np.random.default_rng([0, 5, 1]))
    c = pp(_example(), np.random.default_rng([0, 5, 2]))
    assert a["image"].shape == (24, 24, 3)
    np.testing.assert_array_equal(a["image"], b["image"])
    assert not np.array_equal(a["image"], c["image"])
    with pytest.raises(UserError, match="'random_resized_crop' is random"):
        pp(_example())


def test_decode_bytes():
    image = _example()["image"]
    buffer = io.BytesIO()
    PIL.Image.fromarray(image).save(buffer, format="PNG")
    out = make_preprocess("decode")({"image": buffer.getvalue(), "label": 1})
    np.testing.assert_array_equal(out["image"], image.astype(np.float32))


@pytest.mark.parametrize(
    "spec, match",
    [
        ("resize(32)|blur(3)", "unknown preprocessing op 'blur'.*known ops: decode, resize"),
        ("resize(32", "cannot parse preprocessing op"),
        ("center_crop(1, 2, 3)", "bad arguments for preprocessing op"),
        ("normalize(imagenett)", "normalize preset 'imagenett' is unknown"),
    ],
)
def test_bad_specs_are_one_line_user_errors(spec, match):
    with pytest.raises(UserError, match=match) as info:
        make_preprocess(spec)
    assert "\n" not in str(info.value)


def test_every_op_is_documented():
    assert all(OPS[name].__doc__ for name in OPS)


def test_random_crop_pads_with_zeros_and_places_the_window_uniformly():
    image = np.arange(1, 17, dtype=np.uint8).reshape(4, 4, 1)
    pp = make_preprocess("random_crop(4,1)")
    seen = set()
    for seed in range(200):
        out = pp({"image": image, "label": 0}, np.random.default_rng(seed))["image"][..., 0]
        assert out.shape == (4, 4)
        # the window is the 6x6 zero-padded image at some offset (top, left) in 0..2
        padded = np.pad(image[..., 0], 1).astype(np.float32)
        match = [(t, lft) for t in range(3) for lft in range(3)
                 if np.array_equal(padded[t:t + 4, lft:lft + 4], out)]
        assert len(match) == 1
        seen.add(match[0])
    assert len(seen) == 9  # every offset occurs
    with pytest.raises(UserError, match="random_crop"):
        pp({"image": image, "label": 0}, None)
