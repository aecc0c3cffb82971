"""Huge pages for glibc malloc, so XLA:CPU's per-call buffers stop page-faulting.

XLA:CPU allocates an executable's temporary buffers with ``malloc`` on every call and
frees them afterwards. glibc serves blocks above its mmap threshold (32 MiB at most)
with a fresh ``mmap`` each time, so every training step faults its working set in again,
4 KiB at a time: ViT-S/16, batch 32, 224: 563k minor faults and ~1.2 s of system CPU
time per step on a 2-core machine (docs/benchmarks.md). glibc >= 2.35 has the tunable
``glibc.malloc.hugetlb=1``, with which malloc asks for transparent huge pages (the
``madvise`` THP mode most Linux distributions default to): 1.4k faults, 0.27 s system
time, step 6.5 -> 6.1 s.

Tunables are read when a process starts, so :func:`reexec_with_malloc_hugepages`
restarts the current command once, as ``python -m mixer_vit.cli ...`` with the tunable
added to ``GLIBC_TUNABLES``, before anything is imported or written. A
``glibc.malloc.hugetlb`` setting already present (``=0`` to opt out) is left alone, as
is any other platform or C library.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable, MutableMapping, Sequence

HUGETLB_TUNABLE_NAME = "glibc.malloc.hugetlb"
HUGETLB_TUNABLE = f"{HUGETLB_TUNABLE_NAME}=1"
MIN_GLIBC = (2, 35)


def _glibc_version() -> tuple[int, ...] | None:
    if not sys.platform.startswith("linux"):
        return None
    library, version = platform.libc_ver()
    if library != "glibc" or not version:
        return None
    return tuple(int(part) for part in version.split(".")[:2] if part.isdigit())


def tunables_with_hugepages(
    environ: MutableMapping[str, str], glibc: tuple[int, ...] | None
) -> str | None:
    """The ``GLIBC_TUNABLES`` value to restart with, or None when nothing should change
    (not glibc >= 2.35, or the hugetlb tunable already set either way)."""
    if glibc is None or glibc < MIN_GLIBC:
        return None
    current = environ.get("GLIBC_TUNABLES", "")
    if any(t.split("=", 1)[0] == HUGETLB_TUNABLE_NAME for t in current.split(":") if t):
        return None
    return ":".join(t for t in (current, HUGETLB_TUNABLE) if t)


def reexec_with_malloc_hugepages(
    argv: Sequence[str],
    environ: MutableMapping[str, str] | None = None,
    execve: Callable[..., None] = os.execve,
    glibc: tuple[int, ...] | None = None,
) -> bool:
    """Restart ``mixer-vit argv`` with :data:`HUGETLB_TUNABLE` when it would change
    something; never returns in that case. Returns False when nothing was done."""
    environ = os.environ if environ is None else environ
    tunables = tunables_with_hugepages(environ, _glibc_version() if glibc is None else glibc)
    if tunables is None:
        return False
    sys.stdout.flush()
    sys.stderr.flush()
    command = [sys.executable, "-m", "mixer_vit.cli", *argv]
    execve(sys.executable, command, {**environ, "GLIBC_TUNABLES": tunables})
    return True
