"""Reading weight files into ``{name: numpy array}`` without unpickling anything."""

from __future__ import annotations

import os

import numpy as np

from mixer_vit.convert.tree_assign import ConversionError


def load_weight_file(path: str) -> dict[str, np.ndarray]:
    """A ``.safetensors`` or ``.npz`` file as a flat dict of numpy arrays.

    PyTorch pickles (``.pth``, ``.pt``, ``.bin``) are refused: unpickling runs arbitrary
    code. Convert them once, where you trust them, with
    ``safetensors.torch.save_file(torch.load(path), "model.safetensors")``.
    """
    if not os.path.isfile(path):
        raise ConversionError(f"weight file {path} does not exist")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".safetensors":
        from safetensors.numpy import load_file

        return dict(load_file(path))
    if ext == ".npz":
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    if ext in (".pth", ".pt", ".bin", ".ckpt", ".pkl"):
        raise ConversionError(
            f"{path} is a pickle, which is never loaded here (it can run code); save it as "
            "safetensors where you trust it: safetensors.torch.save_file(torch.load(path), "
            "'model.safetensors')"
        )
    raise ConversionError(f"unknown weight file type {ext!r} for {path}; use .safetensors or .npz")
