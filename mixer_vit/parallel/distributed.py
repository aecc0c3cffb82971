"""Multi-host start-up: JAX's distributed runtime, from flags, environment or cluster.

A run spans several processes (hosts) when something asks for it:

- flags ``--coordinator_address HOST:PORT --num_processes N --process_id I``
  (``--local_device_ids 0,1`` optionally);
- JAX's own variables ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES``,
  ``JAX_PROCESS_ID`` (a flag wins over its variable);
- a cluster JAX detects by itself: a SLURM job step with more than one task (``srun``),
  an Open MPI job with more than one rank (``mpirun``), a Cloud TPU VM.

Then ``start`` calls ``jax.distributed.initialize`` with only the values that were given,
and JAX detects the rest from the cluster. Without any of these it does nothing: a
single-process run never touches the distributed runtime. It must run before anything
uses a JAX backend (``jax.devices()``, the first array), and before anything is written:
bad values raise a one-line ``UserError``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence

from mixer_vit.errors import UserError

log = logging.getLogger(__name__)

ENV_ADDRESS, ENV_COUNT, ENV_ID = "JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"
FIX = (
    "pass all three of --coordinator_address HOST:PORT, --num_processes N and --process_id I "
    f"(or set {ENV_ADDRESS}, {ENV_COUNT}, {ENV_ID})"
)


@dataclasses.dataclass(frozen=True)
class DistributedArgs:
    """What is passed to ``jax.distributed.initialize`` (None: left for JAX to detect).

    cluster: the launcher JAX will detect the missing values from ("slurm", "ompi",
    "tpu"), or None when every value was given.
    """

    coordinator_address: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    local_device_ids: tuple[int, ...] | None = None
    cluster: str | None = None

    def initialize_kwargs(self) -> dict:
        """Keyword arguments for ``jax.distributed.initialize``: only the given values."""
        given = {
            "coordinator_address": self.coordinator_address,
            "num_processes": self.num_processes,
            "process_id": self.process_id,
            "local_device_ids": list(self.local_device_ids) if self.local_device_ids else None,
        }
        return {k: v for k, v in given.items() if v is not None}


def _on_cloud_tpu_vm() -> bool:
    """True on a Cloud TPU VM (JAX decides this at import from the local TPU chips)."""
    try:
        from jax._src import cloud_tpu_init
    except ImportError:  # pragma: no cover - a JAX without the module
        return False
    return bool(getattr(cloud_tpu_init, "running_in_cloud_tpu_vm", False))


def _int_var(environ: Mapping[str, str], name: str) -> int:
    try:
        return int(environ.get(name, "0"))
    except ValueError:
        return 0


def detect_cluster(environ: Mapping[str, str] | None = None) -> str | None:
    """The multi-process launcher JAX can read the missing values from, or None.

    "slurm": inside ``srun`` with ``SLURM_NTASKS`` > 1 (the variables JAX's SLURM
    detection reads are all set); "ompi": ``mpirun`` of Open MPI with
    ``OMPI_COMM_WORLD_SIZE`` > 1 (JAX reads the coordinator from
    ``OMPI_MCA_orte_hnp_uri``); "tpu": a Cloud TPU VM (JAX asks the TPU metadata).
    """
    environ = os.environ if environ is None else environ
    slurm = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_PROCID", "SLURM_LOCALID")
    if all(k in environ for k in slurm) and _int_var(environ, "SLURM_NTASKS") > 1:
        return "slurm"
    if "OMPI_MCA_orte_hnp_uri" in environ and _int_var(environ, "OMPI_COMM_WORLD_SIZE") > 1:
        return "ompi"
    if _on_cloud_tpu_vm():
        return "tpu"
    return None


def _check_address(address: str, source: str) -> str:
    host, sep, port = address.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(
            f"{source} must be HOST:PORT with a port in 1..65535 (e.g. 10.0.0.1:1234), "
            f"got {address!r}"
        )
    return address.strip()


def _int_value(value: int | str | None, flag: str, env: str, environ) -> tuple[int | None, str]:
    """(value, where it came from): the flag, else the environment variable, else None."""
    source = f"--{flag}"
    if value is None and environ.get(env, "").strip():
        value, source = environ[env].strip(), env
    if value is None:
        return None, source
    try:
        return int(value), source
    except (TypeError, ValueError):
        raise UserError(f"{source} must be an integer, got {value!r}") from None


def _device_ids(ids: Sequence[int | str] | str | None) -> tuple[int, ...] | None:
    if ids is None or ids == "" or ids == []:
        return None
    items = ids.split(",") if isinstance(ids, str) else list(ids)
    try:
        parsed = tuple(int(str(i).strip()) for i in items)
    except ValueError:
        raise UserError(
            f"--local_device_ids must be comma-separated integers (e.g. 0,1), got {ids!r}"
        ) from None
    if any(i < 0 for i in parsed):
        raise UserError(f"--local_device_ids must be non-negative, got {ids!r}")
    return parsed


def resolve(
    coordinator_address: str | None = None,
    num_processes: int | str | None = None,
    process_id: int | str | None = None,
    local_device_ids: Sequence[int | str] | str | None = None,
    environ: Mapping[str, str] | None = None,
) -> DistributedArgs | None:
    """The arguments for ``jax.distributed.initialize``, or None for a single-process run.

    Flags first, then ``JAX_*`` variables; values still missing are left to JAX's cluster
    detection, which must then find a cluster. Raises ``UserError`` (one line) for a bad
    address, a bad process id or count, or an incomplete set with no cluster to fill it.
    """
    environ = os.environ if environ is None else environ
    address, address_source = coordinator_address, "--coordinator_address"
    if not address and environ.get(ENV_ADDRESS, "").strip():
        address, address_source = environ[ENV_ADDRESS], ENV_ADDRESS
    address = _check_address(address, address_source) if address else None
    count, count_source = _int_value(num_processes, "num_processes", ENV_COUNT, environ)
    pid, pid_source = _int_value(process_id, "process_id", ENV_ID, environ)
    devices = _device_ids(local_device_ids)
    if count is not None and count < 1:
        raise UserError(f"{count_source} must be at least 1, got {count}")
    if pid is not None and pid < 0:
        raise UserError(f"{pid_source} must be non-negative, got {pid}")
    if count is not None and pid is not None and pid >= count:
        raise UserError(
            f"{pid_source}={pid} must be below {count_source}={count} "
            f"(process ids are 0..{count - 1})"
        )
    given = address is not None or count is not None or pid is not None
    complete = address is not None and count is not None and pid is not None
    cluster = None if complete else detect_cluster(environ)
    if not given and cluster is None:
        if devices is not None:
            raise UserError(f"--local_device_ids needs a multi-process run; {FIX}")
        return None
    if not complete and cluster is None:
        missing = [
            name
            for name, value in (
                ("--coordinator_address", address),
                ("--num_processes", count),
                ("--process_id", pid),
            )
            if value is None
        ]
        raise UserError(
            f"multi-process run is missing {', '.join(missing)} and no SLURM, Open MPI or "
            f"Cloud TPU cluster was detected to supply it; {FIX}"
        )
    return DistributedArgs(address, count, pid, devices, cluster)


def initialize(args: DistributedArgs) -> None:
    """Joins the distributed runtime with ``args`` and logs the layout once (process 0).

    Other processes log at WARNING from here on, so a run's log reads as one process's.
    """
    import jax

    try:
        jax.distributed.initialize(**args.initialize_kwargs())
    except RuntimeError as e:  # e.g. a backend was already in use
        raise UserError(f"could not start the multi-process runtime: {e}") from None
    if jax.process_index() == 0:
        log.info(
            "process %d of %d, %d local devices, %d global devices (coordinator %s%s)",
            jax.process_index(),
            jax.process_count(),
            jax.local_device_count(),
            jax.device_count(),
            args.coordinator_address or "detected",
            f", detected from {args.cluster}" if args.cluster else "",
        )
    else:
        logging.getLogger("mixer_vit").setLevel(logging.WARNING)


def start(
    coordinator_address: str | None = None,
    num_processes: int | str | None = None,
    process_id: int | str | None = None,
    local_device_ids: Sequence[int | str] | str | None = None,
) -> DistributedArgs | None:
    """``resolve`` then ``initialize`` when the run spans several processes; returns what
    was passed (None: a single-process run, nothing done)."""
    args = resolve(coordinator_address, num_processes, process_id, local_device_ids)
    if args is not None:
        initialize(args)
    return args


def is_main_process() -> bool:
    """True on the process that writes metrics, reports and prints results (process 0)."""
    import jax

    return jax.process_index() == 0
