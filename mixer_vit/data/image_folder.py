"""Imports ``folder/<split>/<class_name>/*.{jpg,jpeg,png}`` as a TFDS array_record dataset.

Built offline without TensorFlow: a ``tfds.core.GeneratorBasedBuilder`` subclass made at
run time (not registered) writes ``data_dir/<name>/1.0.0/``; afterwards
``open_source(name, split, data_dir)`` reads it like any prepared TFDS dataset.

Features of one example:
  image: uint8 ``[H, W, 3]``, stored encoded (JPEG/PNG bytes as they were on disk; images
    that are not RGB are converted and stored as PNG). ``H, W`` are fixed in the
    feature when every image has the same size, else ``None``.
  label: int64 scalar, ``ClassLabel`` with the class folder names of all splits, sorted.

Unreadable image files are skipped with a warning naming the file.
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import PIL.Image
import tensorflow_datasets as tfds

from mixer_vit.errors import UserError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
LAYOUT = "<folder>/<split>/<class_name>/*.jpg|jpeg|png"
_VERSION = "1.0.0"


class Record(NamedTuple):
    """One example to write: a unique key, encoded image (bytes, or a file to read then),
    class index."""

    key: str
    image: bytes | Path
    label: int


class ImportSummary(NamedTuple):
    """What ``build_image_folder`` wrote."""

    name: str
    data_dir: str
    split_sizes: dict[str, int]
    class_names: list[str]
    skipped: list[str]  # unreadable files

    def __str__(self) -> str:
        sizes = ", ".join(f"{s}: {n}" for s, n in sorted(self.split_sizes.items()))
        classes = ", ".join(self.class_names)
        text = (
            f"imported {self.name} into {self.data_dir}: {sizes}; "
            f"{len(self.class_names)} classes: {classes}"
        )
        if self.skipped:
            text += f"; skipped {len(self.skipped)} unreadable file(s)"
        return text


def make_builder_class(
    name: str,
    class_names: Sequence[str],
    image_shape: tuple[int | None, int | None, int],
    records: dict[str, Sequence[Record]],
    description: str = "",
) -> type[tfds.core.GeneratorBasedBuilder]:
    """A TFDS builder class (unregistered) writing ``records`` (split -> records) as is.

    The image bytes are stored unchecked: the caller validates them (tests use this to
    store corrupt images on purpose).
    """

    class _ImageFolderBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        VERSION = tfds.core.Version(_VERSION)
        RELEASE_NOTES = {_VERSION: "Imported from an image folder."}

        def __init__(self, **kwargs: Any):
            kwargs.setdefault("file_format", "array_record")
            super().__init__(**kwargs)

        def _info(self) -> tfds.core.DatasetInfo:
            return tfds.core.DatasetInfo(
                builder=self,
                description=description or f"Image folder dataset {name}.",
                features=tfds.features.FeaturesDict(
                    {
                        "image": tfds.features.Image(shape=image_shape),
                        "label": tfds.features.ClassLabel(names=list(class_names)),
                    }
                ),
                supervised_keys=("image", "label"),
            )

        def _split_generators(self, dl_manager: Any) -> dict[str, Iterator]:
            del dl_manager
            return {split: self._generate_examples(recs) for split, recs in records.items()}

        def _generate_examples(self, recs: Sequence[Record]) -> Iterator[tuple[str, dict]]:
            for rec in recs:
                yield rec.key, {"image": rec.image, "label": rec.label}

    _ImageFolderBuilder.name = name
    return _ImageFolderBuilder


def _check_name(name: str, data_dir: Path) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise UserError(
            f"dataset name {name!r} is not valid; use lower_snake_case, e.g. my_flowers"
        )
    if name in tfds.list_builders(with_community_datasets=False):
        raise UserError(f"{name!r} is a TFDS catalogue name; pick another --name")
    target = data_dir / name
    if target.exists() and any(target.iterdir()):
        raise UserError(
            f"dataset {name!r} already exists at {target}; pick another --name or delete it"
        )


def _list_files(folder: Path) -> dict[str, dict[str, list[Path]]]:
    """split -> class name -> sorted image paths (splits/classes without images dropped)."""
    layout: dict[str, dict[str, list[Path]]] = {}
    for split_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            files = sorted(
                p
                for p in class_dir.iterdir()
                if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
            )
            if files:
                layout.setdefault(split_dir.name, {})[class_dir.name] = files
    return layout


def read_image_file(path: Path) -> tuple[bytes | Path, tuple[int, int]] | None:
    """What to store for ``path`` and its ``(H, W)``, or None when it cannot be decoded.

    RGB JPEG/PNG files are stored byte for byte (returned as the path, read again when
    written, so a big folder is never held in memory); other modes are converted to RGB PNG
    bytes.
    """
    data = path.read_bytes()
    try:
        with PIL.Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.format not in ("JPEG", "PNG"):
                raise ValueError(f"format {image.format}")
            if image.mode != "RGB":
                buffer = io.BytesIO()
                image.convert("RGB").save(buffer, format="PNG")
                return buffer.getvalue(), (image.height, image.width)
            return path, (image.height, image.width)
    except Exception as e:  # noqa: BLE001 - any decoder failure means "corrupt"
        log.warning("skipping unreadable image %s (%s)", path, e)
        return None


def build_image_folder(
    folder: str | os.PathLike, name: str, data_dir: str | os.PathLike | None = None
) -> ImportSummary:
    """Writes ``folder`` as TFDS dataset ``name`` (array_record) into ``data_dir``.

    Args:
      folder: holds ``<split>/<class_name>/*.{jpg,jpeg,png}`` (e.g. train/, test/).
      name: new dataset name (lower_snake_case, not already in ``data_dir``).
      data_dir: TFDS data dir; ``default_data_dir()`` when None.

    Returns:
      An ``ImportSummary`` (split sizes, sorted class names, skipped files).

    Raises:
      UserError: no images in the expected layout, bad or taken name.
    """
    from mixer_vit.data.sources import default_data_dir

    folder = Path(folder)
    data_dir = Path(data_dir if data_dir is not None else default_data_dir())
    if not folder.is_dir():
        raise UserError(f"image folder {folder} does not exist; expected layout {LAYOUT}")
    _check_name(name, data_dir)
    layout = _list_files(folder)
    if not layout:
        raise UserError(f"no images found in {folder}; expected layout {LAYOUT}")
    class_names = sorted({c for classes in layout.values() for c in classes})
    label_of = {c: i for i, c in enumerate(class_names)}
    records: dict[str, list[Record]] = {}
    skipped: list[str] = []
    sizes: set[tuple[int, int]] = set()
    for split, classes in layout.items():
        for class_name, files in classes.items():
            for path in files:
                read = read_image_file(path)
                if read is None:
                    skipped.append(str(path))
                    continue
                sizes.add(read[1])
                key = f"{class_name}/{path.name}"
                records.setdefault(split, []).append(Record(key, read[0], label_of[class_name]))
    if not records:
        raise UserError(f"no readable images in {folder}; expected layout {LAYOUT}")
    height, width = next(iter(sizes)) if len(sizes) == 1 else (None, None)
    builder_cls = make_builder_class(name, class_names, (height, width, 3), records)
    data_dir.mkdir(parents=True, exist_ok=True)
    builder_cls(data_dir=os.fspath(data_dir)).download_and_prepare()
    return ImportSummary(
        name=name,
        data_dir=os.fspath(data_dir),
        split_sizes={split: len(recs) for split, recs in records.items()},
        class_names=class_names,
        skipped=skipped,
    )
