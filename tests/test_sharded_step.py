"""The jitted, sharded train step gives the same parameters on 1 and on 8 devices."""

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO


def run_on_8_simulated_devices(script: str, timeout: float, args=()) -> dict:
    """Runs tests/scripts/<script> with 8 simulated CPU devices; returns its JSON line."""
    env = dict(
        os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu"
    )
    out = subprocess.run(
        [sys.executable, os.path.join(REPO, "tests", "scripts", script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_train_step_on_8_simulated_devices_matches_1_device():
    result = run_on_8_simulated_devices("one_step_parity.py", timeout=300)
    assert result["num_leaves"] > 10
    assert abs(result["loss_1"] - result["loss_8"]) < 1e-5
    assert result["max_abs_diff"] < 1e-5, result


@pytest.mark.slow  # ~90 s; the plain step's 8-device parity above stays in the default suite
def test_sam_ema_and_accumulation_on_8_simulated_devices_match_1_device():
    result = run_on_8_simulated_devices("tricks_parity.py", timeout=600)
    assert set(result) == {"sam", "asam", "ema", "accumulation"}
    for trick, diff in result.items():
        assert diff < 1e-5, (trick, diff)
