"""Parameters and forward GFLOPs of a finished run's model, from the model identity its
checkpoints record (name, overrides, classes, image shape)."""

from __future__ import annotations

import functools
import json
import os

from mixer_vit.errors import UserError


def model_identity(workdir: str) -> dict:
    """The ``meta.model`` of the workdir's latest checkpoint."""
    from mixer_vit.train.checkpoints import Checkpointer

    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), every_steps=1)
    try:
        step = ckpt.latest_step()
        if step is None:
            raise UserError(f"{workdir} has no checkpoint; rerun the experiment to train it")
        return ckpt.read_meta(step)["model"]
    finally:
        ckpt.close()


@functools.lru_cache(maxsize=64)
def _cost(identity_json: str) -> tuple[int, float]:
    from mixer_vit.bench.flops import forward_flops_per_image, param_count
    from mixer_vit.models import create_model

    identity = json.loads(identity_json)
    overrides = dict(identity.get("overrides") or {})
    overrides["num_classes"] = identity["num_classes"]
    model = create_model(identity["name"], **overrides)
    shape = tuple(identity["image_shape"])
    return param_count(model, shape), forward_flops_per_image(model, shape) / 1e9


def model_cost(workdir: str) -> dict:
    """{"params": int, "gflops_per_image": forward GFLOPs per image as XLA counts them (a
    multiply-add is 2 FLOPs, about twice the "GMACs" papers quote)}."""
    params, gflops = _cost(json.dumps(model_identity(workdir), sort_keys=True))
    return {"params": params, "gflops_per_image": gflops}
