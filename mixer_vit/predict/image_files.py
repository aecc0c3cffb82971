"""The image files named by ``IMAGE`` arguments: files as given, folders searched."""

from __future__ import annotations

import os
from collections.abc import Sequence

from mixer_vit.errors import UserError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
"""File endings (compared in lower case) taken from a folder."""


def is_image_name(path: str) -> bool:
    """Whether ``path`` ends with one of ``IMAGE_EXTENSIONS``, in any letter case."""
    return path.lower().endswith(IMAGE_EXTENSIONS)


def images_in_folder(folder: str) -> list[str]:
    """Every image file under ``folder`` (recursively, not following links to folders),
    as ``folder/relative/path``, sorted by that path."""
    found = []
    for root, _, names in os.walk(folder):
        found.extend(os.path.join(root, name) for name in names if is_image_name(name))
    return sorted(found)


def find_image_files(arguments: Sequence[str]) -> list[str]:
    """The files to predict, in argument order: a file as given (whatever its ending; it
    was asked for by name), a folder as ``images_in_folder`` lists it. A file reached
    twice is kept once, at its first place.

    Raises:
      UserError: no arguments, an argument that does not exist, or no image file at all.
    """
    if not arguments:
        raise UserError(
            "missing IMAGE; e.g. mixer-vit predict --workdir workdirs/digits pic.png pictures/"
        )
    files, seen = [], set()
    for argument in arguments:
        if os.path.isdir(argument):
            candidates = images_in_folder(argument)
        elif os.path.exists(argument):
            candidates = [argument]
        else:
            raise UserError(f"IMAGE {argument} does not exist; pass image files or folders")
        for path in candidates:
            key = os.path.realpath(path)
            if key not in seen:
                seen.add(key)
                files.append(path)
    if not files:
        endings = ", ".join(e[1:] for e in IMAGE_EXTENSIONS)
        raise UserError(
            f"no image files ({endings}) in {', '.join(arguments)}; pass image files or "
            "folders that hold some"
        )
    return files
