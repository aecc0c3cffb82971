"""The asynchronous train loop: no device-to-host transfer between log steps, metrics
fetched at log steps, the next batch placed ahead, and the non-finite check at the sync
points still naming the first bad step and keeping the last good checkpoint."""

import contextlib
import os

import jax
import numpy as np
import pytest
from jax._src import array as jax_array

from mixer_vit.errors import UserError
from mixer_vit.train.device_batches import DeviceBatches
from mixer_vit.train.loop import _Run, train_and_evaluate
from mixer_vit.train.metrics_writer import MetricsWriter
from mixer_vit.train.plan import plan_run


def _tiny_run(config, workdir):
    plan = plan_run(config)
    os.makedirs(workdir, exist_ok=True)
    checkpointer = plan.open_checkpointer(str(workdir))
    return _Run(plan, str(workdir), checkpointer, MetricsWriter(str(workdir)))


class DeviceFetch(Exception):
    """A device array's value was read on the host."""


@contextlib.contextmanager
def no_device_to_host():
    """Fails any device-to-host transfer: JAX's transfer guard (which acts on GPU/TPU; CPU
    arrays already live in host memory, so there it never fires) plus a guard on the
    Python-level reads of a ``jax.Array`` (``jax.device_get``, ``float``, ``int``,
    ``bool``, ``.item()``, ``__array__``), so the test means the same on this CPU."""
    cls = jax_array.ArrayImpl
    names = ("__array__", "__float__", "__int__", "__bool__", "__index__", "item", "tolist")
    originals = {name: cls.__dict__[name] for name in names}

    def refuse(self, *args, **kwargs):
        raise DeviceFetch("device-to-host transfer")

    for name in names:
        setattr(cls, name, refuse)
    try:
        with jax.transfer_guard_device_to_host("disallow"):
            yield
    finally:
        for name, original in originals.items():
            setattr(cls, name, original)


def test_guard_catches_every_host_read():
    x = jax.numpy.ones(3) * 2
    reads = (lambda: jax.device_get({"m": [x]}), lambda: float(x[0]), lambda: x.item(0))
    for read in reads:
        with no_device_to_host(), pytest.raises(DeviceFetch):
            read()
    assert float(x[0]) == 2.0


def test_train_steps_between_log_steps_transfer_nothing_to_the_host(tiny_config, tmp_path):
    config = tiny_config(log_every_steps=4)
    run = _tiny_run(config, tmp_path)
    run.run_train_step(1)  # compiles; the first step may touch the host while tracing
    run.log_train(1)
    run.window_start = 0.0
    with no_device_to_host():
        for step in range(2, 6):
            run.run_train_step(step)
        with pytest.raises(DeviceFetch):
            run.log_train(5)  # the log step is where the metrics come to the host
    assert run.metrics._fetched == []  # nothing was fetched under the guard
    shown = run.log_train(5)
    assert np.isfinite(float(shown["loss"]))
    # All four steps since the last log were counted, each with its own host row.
    lines = open(os.path.join(tmp_path, "metrics.jsonl")).read().splitlines()
    assert len(lines) == 2
    run.ckpt.close()
    run.writer.close()


def test_device_batches_run_ahead_and_resume_at_the_next_unused_batch(tiny_config):
    from mixer_vit import data

    config = tiny_config()
    plan = plan_run(config)

    def host():
        return data.train_batches(
            plan.open_split("train"), global_batch_size=32, seed=0, num_threads=0
        )

    ahead = DeviceBatches(host(), plan.mesh, depth=2)
    first = [np.asarray(next(ahead)["label"]) for _ in range(3)]
    assert ahead._host.step == 5  # two more batches are already on the device
    state = ahead.get_state()
    assert state["step"] == 3
    resumed = DeviceBatches(host(), plan.mesh, depth=2)
    resumed.set_state(state)
    plain = host()
    expected = [next(plain)["label"] for _ in range(4)]
    np.testing.assert_array_equal(np.stack(first), np.stack(expected[:3]))
    np.testing.assert_array_equal(np.asarray(next(resumed)["label"]), expected[3])


def _diverging(tiny_config, every, checkpoint_every=None):
    config = tiny_config(log_every_steps=every, checkpoint_every_steps=checkpoint_every or every)
    config.optim.name = "sgd"
    config.optim.lr = 30.0
    config.optim.schedule = "constant"
    config.optim.warmup = "0"
    config.optim.grad_clip_norm = 0.0
    config.train.num_epochs = 1
    return config


def _bad_step(error: UserError) -> int:
    return int(str(error).split("non-finite at step ")[1].split()[0])


def test_non_finite_step_found_between_sync_points_and_last_good_checkpoint_kept(
    tiny_config, tmp_path
):
    # Checked every step, the first non-finite step is known exactly ...
    with pytest.raises(UserError, match="non-finite at step") as every_step:
        train_and_evaluate(_diverging(tiny_config, 1, 1000), str(tmp_path / "each"))
    bad = _bad_step(every_step.value)
    every = 4
    assert bad > every + 1, "the diverging run must pass a checkpoint first"
    # ... and syncing only every 4 steps names the same step and keeps the checkpoint
    # before the parameters that produced it.
    workdir = tmp_path / "synced"
    with pytest.raises(UserError, match="non-finite at step") as synced:
        train_and_evaluate(_diverging(tiny_config, every), str(workdir))
    assert _bad_step(synced.value) == bad
    good = max(s for s in range(every, bad, every) if s < bad - 1)
    steps = sorted(int(d) for d in os.listdir(workdir / "checkpoints") if d.isdigit())
    assert steps and steps[-1] == good, (steps, bad)
    assert f"last good checkpoint is step {good}" in str(synced.value)


@pytest.mark.slow
def test_worker_processes_read_the_same_batches_and_resume(digits_data_dir):
    from mixer_vit import data

    source = data.open_source("sklearn_digits", "train", digits_data_dir, in_memory=True)
    workers = data.train_batches(source, global_batch_size=64, seed=0, worker_processes=2)
    plain = data.train_batches(source, global_batch_size=64, seed=0, num_threads=0)
    for _ in range(3):
        np.testing.assert_array_equal(next(workers)["image"], next(plain)["image"])
    workers.set_state(workers.get_state())
    np.testing.assert_array_equal(next(workers)["label"], next(plain)["label"])
