"""Reads gzip-compressed IDX files, the format of the MNIST family's original files.

An IDX file is a big-endian header followed by the raw array:

  bytes 0-1   zero
  byte  2     element type (0x08: unsigned byte, the only type read here)
  byte  3     number of dimensions ``D``
  4 * D bytes each dimension, unsigned 32-bit big-endian
  then        ``prod(dims)`` elements, row-major

so the magic number (the first four bytes as one big-endian integer) is 2051 for an
image file (uint8, 3 dims ``[N, H, W]``) and 2049 for a label file (uint8, 1 dim
``[N]``). Any problem (missing file, broken gzip stream, wrong magic, fewer or more
bytes than the header announces) raises ``IdxFileError`` naming the file.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np

IMAGES_MAGIC = 2051  # uint8, 3 dimensions: [N, H, W]
LABELS_MAGIC = 2049  # uint8, 1 dimension: [N]
_UBYTE = 0x08


class IdxFileError(ValueError):
    """An IDX file is missing, truncated or not what it should be; the message names it."""


def _read_gzip(path: str) -> bytes:
    """The whole decompressed content of ``path``."""
    if not os.path.isfile(path):
        raise IdxFileError(f"missing file {path}")
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
        raise IdxFileError(f"truncated or corrupt gzip file {path} ({e})") from None


def parse_idx(content: bytes, name: str, expected_magic: int) -> np.ndarray:
    """Parses one decompressed IDX file of unsigned bytes.

    Args:
      content: the decompressed bytes.
      name: the file, for error messages.
      expected_magic: ``IMAGES_MAGIC`` or ``LABELS_MAGIC``.

    Returns:
      uint8 array with the header's dimensions (``[N, H, W]`` or ``[N]``).
    """
    if len(content) < 4:
        raise IdxFileError(f"truncated file {name}: {len(content)} bytes, no IDX header")
    (magic,) = struct.unpack(">I", content[:4])
    if magic != expected_magic:
        kind = "image" if expected_magic == IMAGES_MAGIC else "label"
        raise IdxFileError(
            f"{name} is not an IDX {kind} file: magic number {magic}, expected {expected_magic}"
        )
    num_dims = expected_magic & 0xFF
    assert expected_magic >> 8 == _UBYTE  # both magics announce unsigned bytes
    header_size = 4 + 4 * num_dims
    if len(content) < header_size:
        raise IdxFileError(f"truncated file {name}: the IDX header is cut short")
    dims = struct.unpack(f">{num_dims}I", content[4:header_size])
    expected_size = header_size + int(np.prod(dims, dtype=np.int64))
    if len(content) != expected_size:
        problem = "truncated file" if len(content) < expected_size else "trailing bytes in"
        raise IdxFileError(
            f"{problem} {name}: {len(content)} bytes, the header's dimensions "
            f"{'x'.join(map(str, dims))} need {expected_size}"
        )
    return np.frombuffer(content, dtype=np.uint8, offset=header_size).reshape(dims)


def read_idx_images(path: str | os.PathLike) -> np.ndarray:
    """Images of a gzip-compressed IDX image file: uint8 ``[N, H, W]``."""
    path = os.fspath(path)
    return parse_idx(_read_gzip(path), path, IMAGES_MAGIC)


def read_idx_labels(path: str | os.PathLike) -> np.ndarray:
    """Labels of a gzip-compressed IDX label file: uint8 ``[N]``."""
    path = os.fspath(path)
    return parse_idx(_read_gzip(path), path, LABELS_MAGIC)

