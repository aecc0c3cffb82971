"""Which multi-process start-up the flags and environment ask for, and the one-line errors
for bad values (no runtime: ``jax.distributed.initialize`` is recorded, not run)."""

from __future__ import annotations

import os

import pytest

from mixer_vit import cli
from mixer_vit.parallel import distributed
from mixer_vit.errors import UserError

SLURM_2_TASKS = {
    "SLURM_JOB_ID": "7",
    "SLURM_STEP_NODELIST": "node[1-2]",
    "SLURM_NTASKS": "2",
    "SLURM_PROCID": "1",
    "SLURM_LOCALID": "0",
}
OMPI_4_RANKS = {"OMPI_MCA_orte_hnp_uri": "1.0;tcp://10.0.0.1:4000", "OMPI_COMM_WORLD_SIZE": "4"}


@pytest.fixture(autouse=True)
def no_cloud_tpu(monkeypatch):
    monkeypatch.setattr(distributed, "_on_cloud_tpu_vm", lambda: False)


def resolve(environ=None, **flags):
    return distributed.resolve(**flags, environ=environ or {})


def test_single_process_run_asks_for_nothing():
    assert resolve() is None
    assert resolve({**SLURM_2_TASKS, "SLURM_NTASKS": "1"}) is None
    assert resolve({"OMPI_MCA_orte_hnp_uri": "x", "OMPI_COMM_WORLD_SIZE": "1"}) is None
    assert resolve({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"}) is None  # sbatch, not srun


def test_flags_are_passed_as_given():
    args = resolve(
        coordinator_address="10.0.0.1:1234", num_processes=2, process_id=1, local_device_ids="0,1"
    )
    assert args.initialize_kwargs() == {
        "coordinator_address": "10.0.0.1:1234",
        "num_processes": 2,
        "process_id": 1,
        "local_device_ids": [0, 1],
    }
    assert args.cluster is None


def test_jax_variables_fill_in_and_flags_win():
    environ = {
        "JAX_COORDINATOR_ADDRESS": "host-0:5000",
        "JAX_NUM_PROCESSES": "4",
        "JAX_PROCESS_ID": "3",
    }
    assert resolve(environ).initialize_kwargs() == {
        "coordinator_address": "host-0:5000",
        "num_processes": 4,
        "process_id": 3,
    }
    args = resolve(environ, process_id=0, coordinator_address="[::1]:6000")
    assert (args.coordinator_address, args.num_processes, args.process_id) == ("[::1]:6000", 4, 0)


@pytest.mark.parametrize("environ,cluster", [(SLURM_2_TASKS, "slurm"), (OMPI_4_RANKS, "ompi")])
def test_cluster_supplies_what_was_not_given(environ, cluster):
    args = resolve(environ)
    assert args.cluster == cluster and args.initialize_kwargs() == {}  # JAX detects all
    args = resolve(environ, coordinator_address="head:7777")
    assert args.initialize_kwargs() == {"coordinator_address": "head:7777"}


def test_cloud_tpu_vm_lets_jax_detect_everything(monkeypatch):
    monkeypatch.setattr(distributed, "_on_cloud_tpu_vm", lambda: True)
    args = resolve()
    assert args.cluster == "tpu" and args.initialize_kwargs() == {}


def given(address="h:1", count=2, pid=0, **more):
    return {"coordinator_address": address, "num_processes": count, "process_id": pid, **more}


@pytest.mark.parametrize(
    "environ,flags,fragments",
    [
        ({}, given(address="10.0.0.1"), ["--coordinator_address must be HOST:PORT"]),
        ({}, given(address="h:99999"), ["1..65535"]),
        ({}, given(address=":80"), ["HOST:PORT"]),
        ({}, given(pid=2), ["--process_id=2 must be below --num_processes=2"]),
        ({}, given(count=0), ["at least 1"]),
        ({}, given(pid=-1), ["non-negative"]),
        ({}, {"num_processes": 2}, ["--coordinator_address, --process_id", "no SLURM"]),
        ({}, {"coordinator_address": "h:1"}, ["--num_processes, --process_id"]),
        ({"JAX_NUM_PROCESSES": "two"}, {}, ["JAX_NUM_PROCESSES must be an integer"]),
        (
            {"JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "5", "JAX_COORDINATOR_ADDRESS": "h:1"},
            {},
            ["JAX_PROCESS_ID=5", "JAX_NUM_PROCESSES=2"],
        ),
        ({"JAX_COORDINATOR_ADDRESS": "h"}, {}, ["JAX_COORDINATOR_ADDRESS must be HOST:PORT"]),
        ({}, {"local_device_ids": "0,1"}, ["needs a multi-process run"]),
        ({}, given(local_device_ids="a"), ["comma-separated integers"]),
    ],
)
def test_bad_values_are_one_line_user_errors(environ, flags, fragments):
    with pytest.raises(UserError) as e:
        resolve(environ, **flags)
    message = str(e.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_process_id_beyond_slurm_count_is_left_to_jax():
    """Given values are passed on as they are; JAX checks them against what it detects."""
    args = resolve(SLURM_2_TASKS, process_id=1)
    assert args.initialize_kwargs() == {"process_id": 1} and args.cluster == "slurm"


@pytest.fixture
def recorded(monkeypatch):
    """Calls of jax.distributed.initialize, recorded instead of run (process 0 of 1)."""
    import jax

    calls = []
    monkeypatch.setattr(jax.distributed, "initialize", lambda **kw: calls.append(kw))
    for name in list(os.environ):
        if name.startswith(("JAX_COORDINATOR", "JAX_NUM_PROC", "JAX_PROCESS_ID", "SLURM_")):
            monkeypatch.delenv(name)
    monkeypatch.delenv("OMPI_MCA_orte_hnp_uri", raising=False)
    return calls


def test_start_initializes_only_when_asked(recorded, monkeypatch):
    assert distributed.start() is None and recorded == []
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "127.0.0.1:1234")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "1")
    monkeypatch.setenv("JAX_PROCESS_ID", "0")
    assert distributed.start() is not None
    assert recorded == [given("127.0.0.1:1234", count=1)]


def test_cli_passes_flags_to_initialize_before_training(recorded, monkeypatch, tmp_path):
    from mixer_vit.train import loop

    order = []
    monkeypatch.setattr(loop, "train_and_evaluate", lambda *a: order.append("train") or {})
    monkeypatch.setattr(
        distributed, "initialize", lambda args: order.append(args.initialize_kwargs())
    )
    monkeypatch.setattr(distributed, "is_main_process", lambda: False)  # prints nothing
    code = cli.main(
        [
            "train",
            "--config",
            "experiments/configs/digits.py",
            "--workdir",
            str(tmp_path / "w"),
            "--coordinator_address=10.1.2.3:8476",
            "--num_processes=4",
            "--process_id=2",
            "--local_device_ids=2,3",
        ]
    )
    assert code == 0
    assert order == [
        {
            "coordinator_address": "10.1.2.3:8476",
            "num_processes": 4,
            "process_id": 2,
            "local_device_ids": [2, 3],
        },
        "train",
    ]


@pytest.mark.parametrize("command", ["train", "eval"])
def test_cli_bad_values_end_with_one_error_line_and_write_nothing(
    command, recorded, tmp_path, capsys
):
    workdir = tmp_path / "w"
    args = ["--workdir", str(workdir), "--coordinator_address=10.0.0.1", "--num_processes=2"]
    if command == "train":
        args = ["--config", "experiments/configs/digits.py", *args]
    code = cli.main([command, *args, "--process_id=0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("error: --coordinator_address must be HOST:PORT"), err
    assert not workdir.exists() and recorded == []


def test_local_device_ids_alone_narrow_a_detected_cluster():
    """One SLURM task per node: JAX would take only GPU SLURM_LOCALID without this."""
    args = resolve(SLURM_2_TASKS, local_device_ids=["0", "1", "2", "3"])
    assert args.cluster == "slurm"
    assert args.initialize_kwargs() == {"local_device_ids": [0, 1, 2, 3]}
