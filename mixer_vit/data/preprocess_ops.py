"""Named per-example preprocessing ops, composed from a one-line spec string.

Spec syntax: ops separated by ``|``, run left to right; each op is ``name`` or
``name(arg, ..., key=value)`` with Python literals as arguments (a bare word is a string)::

    "decode|resize_small(256)|center_crop(224)|value_range(-1,1)"           # eval
    "decode|random_resized_crop(224)|flip|randaugment(2,9)|normalize(imagenet)"  # train

An op maps an example ``{"image": uint8 [H, W, C] (or encoded bytes), "label": int, ...}``
to a new example. Random ops (``random_resized_crop``, ``inception_crop``, ``random_crop``, ``flip``,
``randaugment``) draw from the per-example ``numpy.random.Generator`` that
``TrainIterator`` hands its ``augment`` hook, so batches stay a pure function of the step.

Use::

    train_pp = make_preprocess("random_resized_crop(224)|flip|normalize(imagenet)")
    train_batches(src, ..., augment=train_pp, preprocess=as_batch_example)
    eval_batches(src, ..., preprocess=make_preprocess("resize_small(256)|center_crop(224)"))

Every spec ends with ``as_batch_example``: ``{"image": float32 [H, W, C], "label": int32 []}``
(an image no op scaled stays in 0..255).
"""

from __future__ import annotations

import ast
import io
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from mixer_vit.data.image_augment import rand_augment, random_flip
from mixer_vit.errors import UserError

Example = Mapping[str, Any]
Op = Callable[[Example, "np.random.Generator | None"], dict[str, Any]]

NORMALIZE_PRESETS = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "inception": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}


def _pil(image: np.ndarray) -> Image.Image:
    return Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)


def _array(pil: Image.Image, channels: int) -> np.ndarray:
    array = np.asarray(pil, dtype=np.uint8)
    return array[..., None] if channels == 1 else array


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 [H, W, C] -> uint8 [height, width, C], bilinear (antialiased by PIL)."""
    if image.shape[:2] == (height, width):
        return image
    return _array(_pil(image).resize((width, height), Image.BILINEAR), image.shape[-1])


def _with_image(example: Example, image: np.ndarray) -> dict[str, Any]:
    return {**example, "image": image}


def _needs_rng(name: str, rng: np.random.Generator | None) -> np.random.Generator:
    if rng is None:
        raise UserError(
            f"preprocessing op {name!r} is random and needs the training pipeline's rng; "
            "use it only in the train spec (train_batches(augment=...))"
        )
    return rng


# Each factory takes the spec's arguments and returns op(example, rng) -> example.


def decode(channels: int = 3) -> Op:
    """Encoded JPEG/PNG bytes -> uint8 [H, W, channels]; arrays pass through unchanged."""

    def op(example, rng):
        image = example["image"]
        if isinstance(image, np.ndarray) and image.dtype != object:
            return dict(example)
        data = image.item() if isinstance(image, np.ndarray) else image
        with Image.open(io.BytesIO(data)) as pil:
            pil = pil.convert("L" if channels == 1 else "RGB")
            return _with_image(example, _array(pil, channels))

    return op


def resize(height: int, width: int | None = None) -> Op:
    """uint8 [H, W, C] -> [height, width (default height), C]."""
    return lambda ex, rng: _with_image(ex, _resize(ex["image"], height, width or height))


def resize_small(size: int) -> Op:
    """Shorter side to ``size``, aspect ratio kept: [H, W, C] -> [~, ~, C]."""

    def op(example, rng):
        h, w = example["image"].shape[:2]
        scale = size / min(h, w)
        return _with_image(example, _resize(example["image"], round(h * scale), round(w * scale)))

    return op


def center_crop(height: int, width: int | None = None) -> Op:
    """Central [height, width (default height), C] window (image must be at least that big)."""
    width = width or height

    def op(example, rng):
        image = example["image"]
        h, w = image.shape[:2]
        if h < height or w < width:
            raise UserError(
                f"center_crop({height}, {width}) of a {h}x{w} image; crop at most the image "
                f"size or resize first (e.g. 'resize_small({max(height, width)})|center_crop(...)')"
            )
        top, left = (h - height) // 2, (w - width) // 2
        return _with_image(example, image[top : top + height, left : left + width])

    return op


def random_resized_crop(
    size: int,
    low: float = 0.08,
    high: float = 1.0,
    ratio_low: float = 3 / 4,
    ratio_high: float = 4 / 3,
) -> Op:
    """Inception-style crop: area fraction in [low, high], aspect log-uniform in the ratio
    range, resized to [size, size, C]; whole image after 10 failed draws (torchvision)."""

    def op(example, rng):
        rng = _needs_rng("random_resized_crop", rng)
        image = example["image"]
        height, width = image.shape[:2]
        box = (0, 0, width, height)
        for _ in range(10):
            target = height * width * rng.uniform(low, high)
            aspect = math.exp(rng.uniform(math.log(ratio_low), math.log(ratio_high)))
            w = int(round(math.sqrt(target * aspect)))
            h = int(round(math.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                top = int(rng.integers(0, height - h + 1))
                left = int(rng.integers(0, width - w + 1))
                box = (left, top, left + w, top + h)
                break
        pil = _pil(image).resize((size, size), Image.BILINEAR, box=box)
        return _with_image(example, _array(pil, image.shape[-1]))

    return op


def random_crop(size: int, padding: int = 0) -> Op:
    """Zero-pad ``padding`` pixels on every side, then a uniformly placed [size, size, C]
    window: the padded crop of small-image training (CIFAR, Fashion-MNIST: size 28,
    padding 2 or 4). uint8 [H, W, C] -> uint8 [size, size, C]."""

    def op(example, rng):
        rng = _needs_rng("random_crop", rng)
        image = example["image"]
        if padding:
            image = np.pad(image, ((padding, padding), (padding, padding), (0, 0)))
        h, w = image.shape[:2]
        if h < size or w < size:
            raise UserError(
                f"random_crop({size}, {padding}) of a {h - 2 * padding}x{w - 2 * padding} "
                f"image; crop at most the padded size or resize first"
            )
        top = int(rng.integers(0, h - size + 1))
        left = int(rng.integers(0, w - size + 1))
        return _with_image(example, np.ascontiguousarray(image[top : top + size, left : left + size]))

    return op


def flip() -> Op:
    """Left-right flip with probability 1/2."""
    return lambda ex, rng: _with_image(
        ex, np.ascontiguousarray(random_flip(ex["image"], _needs_rng("flip", rng)))
    )


def randaugment(num_ops: int = 2, magnitude: float = 9) -> Op:
    """RandAugment (``image_augment.rand_augment``): uint8 [H, W, C] -> same shape."""
    return lambda ex, rng: _with_image(
        ex, rand_augment(ex["image"], _needs_rng("randaugment", rng), num_ops, magnitude)
    )


def value_range(low: float = -1.0, high: float = 1.0) -> Op:
    """uint8 0..255 -> float32 in [low, high]."""
    scale = (high - low) / 255.0
    return lambda ex, rng: _with_image(
        ex, np.asarray(ex["image"], np.float32) * np.float32(scale) + np.float32(low)
    )


def normalize(
    mean: str | float | Sequence[float] = "imagenet", std: float | Sequence[float] | None = None
) -> Op:
    """uint8 -> float32 ``(x / 255 - mean) / std``; ``mean`` may name a preset
    (imagenet, inception, cifar10)."""
    if isinstance(mean, str):
        if mean not in NORMALIZE_PRESETS:
            raise UserError(
                f"normalize preset {mean!r} is unknown; known: {', '.join(NORMALIZE_PRESETS)}"
            )
        mean, std = NORMALIZE_PRESETS[mean]
    if std is None:
        raise UserError(
            "normalize needs a preset name or both mean and std, e.g. normalize(0.5, 0.5)"
        )
    mean32 = np.asarray(mean, np.float32) * np.float32(255.0)
    inv = np.float32(1.0) / (np.asarray(std, np.float32) * np.float32(255.0))
    return lambda ex, rng: _with_image(ex, (np.asarray(ex["image"], np.float32) - mean32) * inv)


OPS: dict[str, Callable[..., Op]] = {
    "decode": decode,
    "resize": resize,
    "resize_small": resize_small,
    "center_crop": center_crop,
    "random_resized_crop": random_resized_crop,
    "random_crop": random_crop,
    "inception_crop": random_resized_crop,
    "flip": flip,
    "randaugment": randaugment,
    "value_range": value_range,
    "normalize": normalize,
}


def as_batch_example(example: Example) -> dict[str, np.ndarray]:
    """``{"image": float32 [H, W, C], "label": int32 []}``; other keys are dropped."""
    return {
        "image": np.asarray(example["image"], np.float32),
        "label": np.asarray(example["label"], np.int32),
    }


def _literal(node: ast.expr) -> Any:
    if isinstance(node, ast.Name):  # bare word: a string, e.g. normalize(imagenet)
        return node.id
    return ast.literal_eval(node)


def _parse_op(text: str, spec: str) -> Op:
    known = ", ".join(OPS)
    try:
        call = ast.parse(text.strip(), mode="eval").body
        if isinstance(call, ast.Name):
            name, args, kwargs = call.id, [], {}
        elif isinstance(call, ast.Call) and isinstance(call.func, ast.Name):
            name = call.func.id
            args = [_literal(a) for a in call.args]
            kwargs = {k.arg: _literal(k.value) for k in call.keywords}
        else:
            raise SyntaxError(text)
    except (SyntaxError, ValueError):
        raise UserError(
            f"cannot parse preprocessing op {text.strip()!r} in {spec!r}; write ops as "
            f"name or name(arg, ...) joined by '|'; known ops: {known}"
        ) from None
    if name not in OPS:
        raise UserError(f"unknown preprocessing op {name!r} in {spec!r}; known ops: {known}")
    try:
        return OPS[name](*args, **kwargs)
    except TypeError as e:
        raise UserError(f"bad arguments for preprocessing op {text.strip()!r}: {e}") from None


class Preprocess:
    """The composed ops of a spec: ``(example, rng=None) -> {"image": float32 [H, W, C],
    "label": int32 []}``. Pass ``rng`` for specs with random ops (the train pipeline's
    ``augment`` hook does)."""

    def __init__(self, spec: str):
        self.spec = spec
        self.ops = [_parse_op(part, spec) for part in spec.split("|") if part.strip()]

    def __call__(
        self, example: Example, rng: np.random.Generator | None = None
    ) -> dict[str, np.ndarray]:
        for op in self.ops:
            example = op(example, rng)
        return as_batch_example(example)

    def __repr__(self) -> str:
        return f"Preprocess({self.spec!r})"


def make_preprocess(spec: str) -> Preprocess:
    """Parses ``spec`` (see the module docstring); raises a one-line UserError when bad."""
    return Preprocess(spec)
