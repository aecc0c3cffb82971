"""Run with XLA_FLAGS=--xla_force_host_platform_device_count=8: SAM, EMA and gradient
accumulation train steps on a 1-device and an 8-device mesh from the same initial state;
prints the max absolute parameter (and EMA) difference per trick as JSON."""

import json
import os
import sys

import jax

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from train_helpers import max_diff, random_batch, run_steps  # noqa: E402

from mixer_vit import parallel  # noqa: E402
from mixer_vit.train.step_options import StepOptions  # noqa: E402

TRICKS = {
    "sam": StepOptions(sam_rho=0.05),
    "asam": StepOptions(sam_rho=0.5, sam_adaptive=True),
    "ema": StepOptions(ema_decay=0.9),
    "accumulation": StepOptions(accumulation_steps=4),
}


def main():
    assert jax.device_count() == 8, jax.devices()
    batches = [random_batch(seed=i) for i in range(2)]
    result = {}
    for name, options in TRICKS.items():
        one, _ = run_steps(options, batches, mesh=parallel.make_mesh(1))
        eight, _ = run_steps(options, batches, mesh=parallel.make_mesh(8))
        diff = max_diff(one[-1].params, eight[-1].params)
        if options.ema_decay:
            diff = max(diff, max_diff(one[-1].ema_params, eight[-1].ema_params))
        result[name] = diff
    print(json.dumps(result))


if __name__ == "__main__":
    main()
