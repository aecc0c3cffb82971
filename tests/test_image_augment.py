"""Input-pipeline augmentation: shapes, bounds, determinism per (seed, step, row), and
repeated augmentation."""

import numpy as np
import pytest

from mixer_vit.data import image_augment, train_batches


def gradient_image(h=32, w=24, c=3):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * 10) % 256, (y * 8) % 256, (x + y) % 256][:c], -1).astype(np.uint8)


def test_random_resized_crop_keeps_size_and_zooms_in():
    image = gradient_image()
    rng = np.random.default_rng(0)
    out = image_augment.random_resized_crop(image, rng, scale=(0.1, 0.2))
    assert out.shape == image.shape and out.dtype == np.uint8
    # Channel 0 is 10 * column: a crop of at most 20% of the area (at most ~15 of the 24
    # columns for these aspect ratios), resized back, spans a narrower range of columns.
    assert np.ptp(out[..., 0].astype(int)) < 0.7 * np.ptp(image[..., 0].astype(int))
    whole = image_augment.random_resized_crop(image, rng, scale=(1.0, 1.0), ratio=(0.75, 0.75))
    assert whole.shape == image.shape


def test_flip_is_a_mirror_half_of_the_time():
    image = gradient_image()
    flips = [
        np.array_equal(image_augment.random_flip(image, np.random.default_rng(s)), image[:, ::-1])
        for s in range(200)
    ]
    assert 0.35 < np.mean(flips) < 0.65


@pytest.mark.parametrize("name", sorted(image_augment.RAND_AUGMENT_OPS))
def test_every_rand_augment_op_keeps_shape_and_dtype(name):
    for channels in (1, 3):
        image = gradient_image(c=channels)
        pil = image_augment._to_pil(image)
        out = image_augment._from_pil(
            image_augment.RAND_AUGMENT_OPS[name](pil, 0.9, np.random.default_rng(0)), channels
        )
        assert out.shape == image.shape and out.dtype == np.uint8


def test_augmented_batches_are_a_pure_function_of_the_step():
    source = [{"image": gradient_image(8, 8, 1) // (i + 1), "label": i % 3} for i in range(40)]
    augment = image_augment.make_augment(crop_scale=(0.3, 1.0), flip=True, randaugment_ops=2)

    def batches(skip):
        it = train_batches(source, global_batch_size=8, seed=3, augment=augment, num_threads=0)
        if skip:
            it.set_state({**it.get_state(), "step": skip})
        return [next(it)["image"] for _ in range(3)]

    full = batches(0) + batches(3)
    again = batches(0)
    for a, b in zip(full[:3], again):
        np.testing.assert_array_equal(a, b)
    plain = train_batches(source, global_batch_size=8, seed=3, num_threads=0)
    assert not np.array_equal(next(plain)["image"], full[0])
    assert image_augment.make_augment() is None


def test_repeated_augmentation_shows_each_image_repeats_times():
    source = [{"image": np.full((4, 4, 1), i, np.uint8), "label": i} for i in range(12)]
    it = train_batches(source, global_batch_size=12, seed=0, repeats=3, num_threads=0)
    labels = next(it)["label"].tolist()
    assert sorted(labels) == sorted(sum(([i] * 3 for i in set(labels)), []))
    assert len(set(labels)) == 4
