"""Input-pipeline augmentation of uint8 images on the host: random resized crop, horizontal
flip, RandAugment (Cubuk et al. 2020). Randomness comes from a numpy Generator the
pipeline derives from (seed, step, row), so a resumed run augments exactly as before.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

Augment = Callable[[Mapping[str, Any], np.random.Generator], dict[str, Any]]


def _to_pil(image: np.ndarray) -> Image.Image:
    return Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)


def _from_pil(pil: Image.Image, channels: int) -> np.ndarray:
    array = np.asarray(pil, dtype=np.uint8)
    return array[..., None] if channels == 1 else array


def random_resized_crop(
    image: np.ndarray, rng: np.random.Generator, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)
) -> np.ndarray:
    """Crop of a random area fraction in ``scale`` and aspect ratio in ``ratio`` (log-uniform),
    resized back to the input size [H, W, C] (bilinear). Falls back to the whole image after
    10 tries, as torchvision does."""
    height, width, channels = image.shape
    area = height * width
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            crop = _to_pil(image[top : top + h, left : left + w])
            return _from_pil(crop.resize((width, height), Image.BILINEAR), channels)
    return image


def random_flip(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Left-right flip with probability 1/2."""
    return image[:, ::-1] if rng.random() < 0.5 else image


def _signed(rng: np.random.Generator, value: float) -> float:
    return value if rng.random() < 0.5 else -value


# RandAugment's ops: name -> f(PIL image, magnitude in [0, 1], rng) -> PIL image.
RAND_AUGMENT_OPS: dict[str, Callable] = {
    "identity": lambda im, m, rng: im,
    "autocontrast": lambda im, m, rng: ImageOps.autocontrast(im),
    "equalize": lambda im, m, rng: ImageOps.equalize(im),
    "rotate": lambda im, m, rng: im.rotate(_signed(rng, 30 * m)),
    "solarize": lambda im, m, rng: ImageOps.solarize(im, int(256 - 256 * m)),
    "color": lambda im, m, rng: ImageEnhance.Color(im).enhance(1 + _signed(rng, 0.9 * m)),
    "posterize": lambda im, m, rng: ImageOps.posterize(im, max(1, int(8 - 4 * m))),
    "contrast": lambda im, m, rng: ImageEnhance.Contrast(im).enhance(1 + _signed(rng, 0.9 * m)),
    "brightness": lambda im, m, rng: ImageEnhance.Brightness(im).enhance(1 + _signed(rng, 0.9 * m)),
    "sharpness": lambda im, m, rng: ImageEnhance.Sharpness(im).enhance(1 + _signed(rng, 0.9 * m)),
    "shear_x": lambda im, m, rng: im.transform(
        im.size, Image.AFFINE, (1, _signed(rng, 0.3 * m), 0, 0, 1, 0)
    ),
    "shear_y": lambda im, m, rng: im.transform(
        im.size, Image.AFFINE, (1, 0, 0, _signed(rng, 0.3 * m), 1, 0)
    ),
    "translate_x": lambda im, m, rng: im.transform(
        im.size, Image.AFFINE, (1, 0, _signed(rng, 0.45 * m * im.size[0]), 0, 1, 0)
    ),
    "translate_y": lambda im, m, rng: im.transform(
        im.size, Image.AFFINE, (1, 0, 0, 0, 1, _signed(rng, 0.45 * m * im.size[1]))
    ),
}


def rand_augment(
    image: np.ndarray,
    rng: np.random.Generator,
    num_ops: int = 2,
    magnitude: float = 9,
    max_magnitude: float = 10,
) -> np.ndarray:
    """``num_ops`` ops drawn uniformly (with replacement), each at ``magnitude`` (0..10).
    image: uint8 [H, W, C] -> same shape."""
    names = list(RAND_AUGMENT_OPS)
    pil = _to_pil(image)
    for index in rng.integers(0, len(names), size=num_ops):
        pil = RAND_AUGMENT_OPS[names[index]](pil, magnitude / max_magnitude, rng)
    return _from_pil(pil, image.shape[-1])


def make_augment(
    *,
    crop_scale: tuple[float, float] | None = None,
    flip: bool = False,
    randaugment_ops: int = 0,
    randaugment_magnitude: float = 9,
) -> Augment | None:
    """The per-example augmentation the config asks for (None when it asks for none)."""
    if crop_scale is None and not flip and randaugment_ops == 0:
        return None

    def augment(example: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        image = np.asarray(example["image"], dtype=np.uint8)
        if crop_scale is not None:
            image = random_resized_crop(image, rng, crop_scale)
        if flip:
            image = random_flip(image, rng)
        if randaugment_ops:
            image = rand_augment(image, rng, randaugment_ops, randaugment_magnitude)
        return {**example, "image": np.ascontiguousarray(image)}

    return augment
