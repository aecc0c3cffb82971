"""Input-pipeline throughput: ``python -m mixer_vit.bench.input_pipeline [--images 512]``.

Builds a synthetic ImageNet-style folder (random 256x320 JPEGs, 8 classes) in a temp dir,
imports it with ``build_image_folder``, then times train batches of
``random_resized_crop(224)|flip|normalize(imagenet)`` (batch 64) read with 0, 1 and 2 grain
threads and prints a Markdown table of examples/s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import PIL.Image

SPEC = "random_resized_crop(224)|flip|normalize(imagenet)"


def write_synthetic_folder(root: Path, num_images: int, size=(256, 320), classes: int = 8):
    """``root/train/class_<k>/<i>.jpg``: smooth random RGB JPEGs of ``size`` (H, W)."""
    rng = np.random.default_rng(0)
    for i in range(num_images):
        folder = root / "train" / f"class_{i % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        small = rng.integers(0, 256, (size[0] // 8, size[1] // 8, 3), dtype=np.uint8)
        image = PIL.Image.fromarray(small).resize((size[1], size[0]), PIL.Image.BILINEAR)
        image.save(folder / f"{i}.jpg", quality=90)


def measure(source, num_threads: int, batch_size: int, num_batches: int) -> float:
    """Examples/s over ``num_batches`` batches after one warm-up batch."""
    from mixer_vit.data import train_batches
    from mixer_vit.data.preprocess_ops import as_batch_example, make_preprocess

    batches = train_batches(
        source,
        global_batch_size=batch_size,
        seed=0,
        augment=make_preprocess(SPEC),
        preprocess=as_batch_example,
        num_threads=num_threads,
    )
    next(batches)
    start = time.perf_counter()
    for _ in range(num_batches):
        next(batches)
    return num_batches * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=6)
    args = parser.parse_args()
    import tensorflow_datasets as tfds

    from mixer_vit.data import open_source
    from mixer_vit.data.image_folder import build_image_folder

    tfds.disable_progress_bar()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        write_synthetic_folder(root / "folder", args.images)
        build_image_folder(root / "folder", "synthetic_imagenet", root / "data")
        build_s = time.perf_counter() - start
        source = open_source("synthetic_imagenet", "train", root / "data")
        rows = [(n, measure(source, n, args.batch_size, args.batches)) for n in (0, 1, 2)]
    print(
        f"\n{args.images} JPEGs 256x320, import {build_s:.1f} s; spec `{SPEC}`, "
        f"batch {args.batch_size}\n"
    )
    print("| grain threads | examples/s | ms per batch |")
    print("|---:|---:|---:|")
    for threads, rate in rows:
        print(f"| {threads} | {rate:.0f} | {1000 * args.batch_size / rate:.0f} |")


if __name__ == "__main__":
    main()
