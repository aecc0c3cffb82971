"""The same measurement through timm (PyTorch): ``--vs_timm``.

timm runs where our model runs: on the CUDA GPU when JAX's backend is a GPU and torch
sees CUDA (each call then ends with ``torch.cuda.synchronize()``, so it blocks like ours),
else on the CPU.

Inference runs the model in eval mode under ``torch.no_grad``; train runs one AdamW step
(cross-entropy, forward + backward + update); train_sam runs SAM's two forward-backward
passes before the update. bfloat16 uses ``torch.autocast``. Weights are random
(``pretrained=False``); nothing downloads. torch and timm are optional dependencies.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

from mixer_vit.bench.throughput import SAM_RHO
from mixer_vit.errors import UserError

# timm imports torchvision at import time; there is no CPU torchvision wheel here, so a
# source checkout's stand-in (tests/torch_reference) is used when the real one is missing.
_STAND_IN = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "torch_reference")
INSTALL_HINT = "pip install torch==2.13.0 timm"


def import_timm():
    try:
        importlib.import_module("torch")
    except ImportError:
        raise UserError(f"--vs_timm needs PyTorch, which is not installed; {INSTALL_HINT}")
    try:
        importlib.import_module("torchvision")
    except ImportError:
        if os.path.isdir(_STAND_IN):
            sys.path.insert(0, os.path.abspath(_STAND_IN))
    try:
        return importlib.import_module("timm")
    except ImportError as e:
        raise UserError(f"--vs_timm needs timm, which did not import ({e}); {INSTALL_HINT}")


def _timm_entry(our_name: str):
    from mixer_vit.convert import timm_converters

    entries = timm_converters()
    if our_name not in entries:
        raise UserError(f"--vs_timm: no timm counterpart is registered for {our_name!r}")
    return entries[our_name]


def timm_name(our_name: str) -> str:
    return _timm_entry(our_name).timm_name


def timm_kwargs(
    our_name: str, image_size: int, overrides: dict[str, Any], channels: int = 3
) -> dict[str, Any]:
    """timm keyword arguments for the row: the registered architecture arguments of
    ``our_name`` (e.g. a small ViT's ``patch_size``, ``embed_dim``), the resolution and
    input channels, then our ``--override`` values (``mixer_kwargs.x`` -> ``x``)."""
    kwargs = {k: v for k, v in overrides.items() if not isinstance(v, dict)}
    kwargs.update(overrides.get("mixer_kwargs", {}))
    registered = dict(_timm_entry(our_name).timm_kwargs)
    return {**registered, "img_size": image_size, "in_chans": channels, **kwargs}


def share_gpu_memory(environ=None) -> None:
    """Lets torch share the GPU with JAX in one process: JAX then allocates on demand
    instead of reserving 75% of the GPU's memory at start-up. Call before JAX's backends
    start; a value the user set is kept."""
    environ = os.environ if environ is None else environ
    environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


def torch_device(torch) -> str:
    """``"cuda"`` when JAX runs on a GPU and torch sees CUDA, else ``"cpu"``."""
    import jax

    return "cuda" if jax.default_backend() == "gpu" and torch.cuda.is_available() else "cpu"


def _call(model, torch, mode: str, dtype: str, images, labels):
    device = images.device.type
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=dtype == "bfloat16")
    wait = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    if mode == "inference":
        model.eval()

        def call():
            with torch.no_grad(), autocast:
                model(images)
            wait()

        return call
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    params = [p for p in model.parameters() if p.requires_grad]

    def loss_backward():
        with autocast:
            loss = torch.nn.functional.cross_entropy(model(images).float(), labels)
        loss.backward()

    def call():
        optimizer.zero_grad(set_to_none=True)
        loss_backward()
        if mode == "train_sam":
            with torch.no_grad():
                norm = torch.norm(torch.stack([p.grad.norm() for p in params]))
                eps = [SAM_RHO * p.grad / (norm + 1e-12) for p in params]
                for p, e in zip(params, eps):
                    p.add_(e)
            optimizer.zero_grad(set_to_none=True)
            loss_backward()
            with torch.no_grad():
                for p, e in zip(params, eps):
                    p.sub_(e)
        optimizer.step()
        wait()

    return call


def prepare_timm(
    name: str,
    mode: str,
    dtype: str,
    image_size: int,
    batch_size: int,
    overrides: dict[str, Any] | None = None,
    channels: int = 3,
) -> Callable[[], Any]:
    """timm's blocking call for the row: the same model, batch, mode and dtype."""
    timm = import_timm()
    import torch

    torch.manual_seed(0)
    try:
        model = timm.create_model(
            timm_name(name),
            pretrained=False,
            **timm_kwargs(name, image_size, overrides or {}, channels),
        )
    except TypeError as e:
        raise UserError(f"--vs_timm: timm could not build {name} with these settings ({e})")
    device = torch_device(torch)
    model = model.to(device)
    images = torch.randn(batch_size, channels, image_size, image_size, device=device)
    labels = torch.randint(0, model.num_classes or 1, (batch_size,), device=device)
    return _call(model, torch, mode, dtype, images, labels)
