"""Reading weight files into ``{name: numpy array}`` without unpickling anything."""

from __future__ import annotations

import os
import zipfile
import zlib

import numpy as np

from mixer_vit.convert.tree_assign import ConversionError

PICKLE_EXTENSIONS = (".pth", ".pt", ".bin", ".ckpt", ".pkl")
# What numpy's zip / .npy readers raise for a truncated or damaged archive (a bad zip
# directory, a member cut short, a bad CRC or deflate stream, a header that lies).
_NPZ_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError)


def _first_line(error: BaseException) -> str:
    return str(error).split("\n")[0]


def _damaged(path: str, kind: str, reason: str) -> ConversionError:
    return ConversionError(
        f"{path} is not a readable {kind} file ({reason}); it is truncated or damaged: "
        "download or export it again"
    )


def _load_safetensors(path: str) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return dict(load_file(path))
    except SafetensorError as e:
        raise _damaged(path, ".safetensors", _first_line(e)) from None


def _load_npz(path: str) -> dict[str, np.ndarray]:
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise ConversionError(f"weight file {path} cannot be read ({e.strerror})") from None
    if magic != b"PK\x03\x04":
        raise _damaged(path, ".npz", "empty" if not magic else "not a zip archive")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except _NPZ_READ_ERRORS as e:
        if "allow_pickle" in str(e):  # an object array: loading it would unpickle
            raise ConversionError(
                f"{path} holds object (pickled) arrays, which are never loaded here; "
                "save plain numeric arrays (np.savez) where you trust the file"
            ) from None
        raise _damaged(path, ".npz", f"{type(e).__name__}: {_first_line(e)}") from None


def load_weight_file(path: str) -> dict[str, np.ndarray]:
    """A ``.safetensors`` or ``.npz`` file as a flat dict of numpy arrays.

    PyTorch pickles (``.pth``, ``.pt``, ``.bin``) are refused: unpickling runs arbitrary
    code. Convert them once, where you trust them, with
    ``safetensors.torch.save_file(torch.load(path), "model.safetensors")``.

    Raises:
      ConversionError (a ``UserError``): a missing, pickled, truncated or damaged file,
        or an unknown extension; one line naming the file and the fix.
    """
    if not os.path.isfile(path):
        raise ConversionError(f"weight file {path} does not exist")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".safetensors":
        return _load_safetensors(path)
    if ext == ".npz":
        return _load_npz(path)
    if ext in PICKLE_EXTENSIONS:
        raise ConversionError(
            f"{path} is a pickle, which is never loaded here (it can run code); save it as "
            "safetensors where you trust it: safetensors.torch.save_file(torch.load(path), "
            "'model.safetensors')"
        )
    raise ConversionError(f"unknown weight file type {ext!r} for {path}; use .safetensors or .npz")
