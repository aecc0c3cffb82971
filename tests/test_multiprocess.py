"""Two processes on localhost form one JAX runtime and train like one process.

The real `mixer-vit train` entry runs three times at once on a tiny config: as processes 0
and 1 of a 2-process run (2 simulated CPU devices each, gloo collectives, coordinator on a
free 127.0.0.1 port, one shared workdir), and as one process with 4 devices (the
reference). Both see the same 4-device mesh and the same global batches, so the final
parameters agree to float noise; process 0 alone writes metrics, config and the report,
and the report counts every test example once. The two processes start from an empty
data directory: process 0 builds the data set while the other waits.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import DEFAULT_CONFIG, REPO, TINY_MODEL

WORKER_TIMEOUT_S = 240  # the three runs take ~50 s on an idle 2-core machine
TEST_EXAMPLES = 359  # the digits test split
LAUNCHER_VARS = ("JAX_", "SLURM_", "OMPI_", "PMI_", "TPU_")
# Compile faster (a third less CPU here); both runs use the same flags.
FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_flags(data_dir: str) -> list[str]:
    """A 1-block version of the tests' tiny ViT, 9 steps of 128 (one epoch) with sgd:
    adam's first steps are ~lr * sign(g) and would turn float noise into lr-sized
    differences."""
    model = dict(TINY_MODEL, depth=1, embed_dim=16, dropout_rate=0.1, drop_path_rate=0.1)
    model.pop("mixer_kwargs")
    return [
        "train",
        "--config",
        DEFAULT_CONFIG,
        f"--config.data.data_dir={data_dir}",
        *(f"--config.model.overrides.{k}={v}" for k, v in model.items()),
        "--config.model.overrides.mixer_kwargs.num_heads=2",
        "--config.train.global_batch_size=128",
        "--config.train.num_epochs=1",
        "--config.train.log_every_steps=3",
        "--config.optim.name=sgd",
        "--config.optim.lr=0.05",
        "--config.optim.warmup=0",
        "--config.optim.schedule=constant",
    ]


def worker_env(num_devices: int) -> dict[str, str]:
    """CPU only, ``num_devices`` simulated devices, no launcher variables from outside (a
    test run inside a SLURM job must not make the reference run join it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(LAUNCHER_VARS)}
    env.update(
        JAX_PLATFORMS="cpu",
        XLA_FLAGS=f"--xla_force_host_platform_device_count={num_devices} {FAST_COMPILE}",
    )
    return env


class Worker:
    """One `python -m mixer_vit.cli` process with its output in files (no pipe to fill)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir):
        self.name = name
        self.stdout_path = log_dir / f"{name}.out"
        self.stderr_path = log_dir / f"{name}.err"
        with open(self.stdout_path, "w") as out, open(self.stderr_path, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mixer_vit.cli", *args],
                stdout=out,
                stderr=err,
                env=env,
                cwd=REPO,
            )

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def describe(self) -> str:
        return f"--- {self.name} (exit {self.proc.returncode}) stderr:\n{self.stderr[-3000:]}"


def wait_all(workers: list[Worker], timeout: float) -> None:
    """Waits for every worker; on a failure or past ``timeout`` SIGKILLs the rest (JAX's
    distributed runtime handles SIGTERM itself) and fails with their stderr."""
    deadline = time.monotonic() + timeout
    while any(w.proc.poll() is None for w in workers):
        failed = any(w.proc.returncode not in (None, 0) for w in workers)
        if failed or time.monotonic() > deadline:
            for w in workers:
                if w.proc.poll() is None:
                    w.proc.send_signal(signal.SIGKILL)
                    w.proc.wait()
            why = "a worker failed" if failed else f"workers still running after {timeout:.0f} s"
            pytest.fail(f"{why}\n" + "\n".join(w.describe() for w in workers))
        time.sleep(0.2)
    if any(w.proc.returncode != 0 for w in workers):
        pytest.fail("a worker failed\n" + "\n".join(w.describe() for w in workers))


def two_processes(args: list[str], log_dir, name: str = "process") -> list[Worker]:
    """Processes 0 and 1 of one run (2 devices each) with a coordinator on a free port."""
    address = f"127.0.0.1:{free_port()}"
    distributed = [f"--coordinator_address={address}", "--num_processes=2"]
    return [
        Worker(f"{name}{i}", [*args, *distributed, f"--process_id={i}"], worker_env(2), log_dir)
        for i in range(2)
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, digits_data_dir):
    """(workers, 2-process workdir, 1-process workdir) after all three runs finished."""
    root = tmp_path_factory.mktemp("multiprocess")
    shared, reference = root / "two_processes", root / "one_process"
    workers = two_processes([*train_flags(str(root / "empty_tfds")), f"--workdir={shared}"], root)
    reference_flags = [*train_flags(digits_data_dir), f"--workdir={reference}"]
    workers.append(Worker("reference", reference_flags, worker_env(4), root))
    wait_all(workers, WORKER_TIMEOUT_S)
    return {w.name: w for w in workers}, shared, reference


def final_params(workdir) -> dict:
    """The parameters of the workdir's last checkpoint, restored onto this process's
    first device (as numpy)."""
    import jax
    import orbax.checkpoint as ocp

    steps = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    path = workdir / "checkpoints" / str(steps[-1]) / "state"
    checkpointer = ocp.StandardCheckpointer()
    metadata = checkpointer.metadata(path)
    metadata = getattr(metadata, "item_metadata", metadata)
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    target = jax.tree.map(
        lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), metadata
    )
    return jax.tree.map(np.asarray, checkpointer.restore(path, target)["params"])


def read_lines(path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_two_processes_train_the_same_parameters_as_one(runs):
    import jax

    _, shared, reference = runs
    two, one = final_params(shared), final_params(reference)
    diffs = jax.tree.leaves(jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))), two, one))
    moved = max(float(np.max(np.abs(a))) for a in jax.tree.leaves(one))
    print(f"max |param diff| 2 processes x 2 devices vs 1 x 4: {max(diffs):.3g}")
    assert len(diffs) > 10 and moved > 0.1
    assert max(diffs) < 1e-6


def test_only_process_0_logs_writes_and_prints(runs):
    workers, shared, reference = runs
    main, other = workers["process0"], workers["process1"]
    assert "process 0 of 2, 2 local devices, 4 global devices" in main.stderr
    assert "test accuracy" in main.stdout and "epoch 1:" in main.stdout
    assert "test accuracy" not in other.stdout and "epoch 1:" not in other.stdout
    assert "INFO" not in other.stderr and "train:" not in other.stderr  # no bar, no info
    names = sorted(os.listdir(shared))
    assert names == sorted(os.listdir(reference)), names  # config.json once, no extras
    lines = read_lines(shared / "metrics.jsonl")
    keys = [(line["step"], line["split"]) for line in lines]
    assert len(keys) == len(set(keys)), keys  # nobody wrote a line twice
    expected = read_lines(reference / "metrics.jsonl")
    assert keys == [(line["step"], line["split"]) for line in expected]
    for got, want in zip(lines, expected):
        for name in ("loss", "accuracy"):
            assert got[name] == pytest.approx(want[name], abs=1e-5), (got, want)


def test_report_counts_every_test_example_once(runs):
    _, shared, reference = runs
    with open(shared / "test_report.json") as f:
        report = json.load(f)
    with open(reference / "test_report.json") as f:
        expected = json.load(f)
    assert sum(report["support"]) == TEST_EXAMPLES
    assert np.sum(report["confusion"]) == TEST_EXAMPLES
    assert report["support"] == expected["support"]
    assert report["confusion"] == expected["confusion"]
    test_line = [line for line in read_lines(shared / "metrics.jsonl") if line["split"] == "test"]
    assert [line["count"] for line in test_line] == [TEST_EXAMPLES]


@pytest.mark.slow
def test_resume_on_two_processes_then_on_one_matches_the_uninterrupted_run(
    runs, digits_data_dir, tmp_path
):
    """Steps 1-4 on 2 processes, 5-6 resumed on 2 processes, 7-9 on 1 process x 4 devices:
    the checkpoint and the data position carry over whatever the process layout."""
    import jax

    _, _, reference = runs
    workdir = tmp_path / "resumed"
    flags = [*train_flags(digits_data_dir), f"--workdir={workdir}"]
    for phase, halt in (("first", 4), ("second", 2)):
        halted = [*flags, f"--config.train.halt_after_steps={halt}"]
        wait_all(two_processes(halted, tmp_path, phase), WORKER_TIMEOUT_S)
    wait_all([Worker("last", flags, worker_env(4), tmp_path)], WORKER_TIMEOUT_S)
    resumed, one = final_params(workdir), final_params(reference)
    diffs = jax.tree.leaves(jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))), resumed, one))
    print(f"max |param diff| resumed 2 -> 2 -> 1 processes vs uninterrupted: {max(diffs):.3g}")
    assert max(diffs) < 1e-6
