"""timm (PyTorch) as the reference implementation in parity tests.

``import_timm()`` puts the stand-in torchvision (tests/torch_reference) on the path first.
Models are randomly initialised (nothing downloads), then every floating-point parameter
and buffer is perturbed so that zero-initialised biases, unit norm scales and layer-scale
constants are exercised too.
"""

from __future__ import annotations

import os
import sys

import numpy as np

TORCH_REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_reference")


def import_timm():
    if TORCH_REFERENCE not in sys.path:
        sys.path.insert(0, TORCH_REFERENCE)
    import timm

    return timm


def random_timm_model(timm_name: str, seed: int = 0, **kwargs):
    """A timm model in eval mode with random, perturbed weights (no download)."""
    timm = import_timm()
    import torch

    torch.manual_seed(seed)
    model = timm.create_model(timm_name, pretrained=False, **kwargs).eval()
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var"):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
            else:
                tensor.add_(0.02 * torch.randn(tensor.shape, generator=generator))
    return model


def state_dict_numpy(model) -> dict[str, np.ndarray]:
    """The model's state dict as float32 numpy arrays (integer buffers dropped)."""
    return {
        k: v.detach().cpu().numpy() for k, v in model.state_dict().items() if v.is_floating_point()
    }


def timm_logits(model, images_nhwc: np.ndarray) -> np.ndarray:
    """Runs the timm model on NHWC float32 images (transposed to NCHW)."""
    import torch

    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(images_nhwc.transpose(0, 3, 1, 2)))
        return model(x).cpu().numpy()


def max_logit_difference(
    our_name: str,
    timm_name: str,
    image_size: int,
    batch: int = 2,
    our_overrides: dict | None = None,
    timm_kwargs: dict | None = None,
):
    """Converts a random timm model into ours and returns max |logits ours - timm|, plus
    the reference logits' scale (so a test can see the comparison is not trivially 0)."""
    import jax

    from mixer_vit.convert import convert_timm

    reference = random_timm_model(timm_name, **(timm_kwargs or {}))
    model, variables = convert_timm(
        our_name, state_dict_numpy(reference), image_size=image_size, **(our_overrides or {})
    )
    images = np.random.default_rng(0).normal(size=(batch, image_size, image_size, 3))
    images = images.astype(np.float32)
    expected = timm_logits(reference, images)
    got = np.asarray(jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, images))
    return float(np.max(np.abs(got - expected))), float(np.max(np.abs(expected)))
