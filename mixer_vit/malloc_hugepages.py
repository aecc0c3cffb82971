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
restarts the current command once, with the tunable added to ``GLIBC_TUNABLES``, before
anything is imported or written. The restart runs the same interpreter with the same
interpreter flags and arguments (``sys.orig_argv``: ``python -X importtime -m
mixer_vit.cli ...`` stays that). It happens only when all of these hold:

* :data:`SWITCH_ENV` (``MIXER_VIT_HUGEPAGES``) is not ``0`` (``1`` forces the restart
  even where an accelerator may be used; unset or ``auto``: decide as below);
* the run is on CPU: ``JAX_PLATFORMS`` is unset and no GPU/TPU plugin of JAX is
  installed, or ``JAX_PLATFORMS`` names ``cpu`` first (decided from the environment and
  the installed packages, without starting a JAX backend). On an accelerator host the
  allocator matters little and a restart would only cost start-up time;
* glibc >= 2.35 on Linux, and ``glibc.malloc.hugetlb`` is not in ``GLIBC_TUNABLES``
  already (set by the user, either way, or by the restart itself: never a second one);
* the command line can be replayed (not a script read from standard input).
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
from collections.abc import Callable, Mapping, MutableMapping, Sequence

HUGETLB_TUNABLE_NAME = "glibc.malloc.hugetlb"
HUGETLB_TUNABLE = f"{HUGETLB_TUNABLE_NAME}=1"
MIN_GLIBC = (2, 35)
SWITCH_ENV = "MIXER_VIT_HUGEPAGES"
# Modules of JAX's accelerator plugins and runtimes: with one installed and
# JAX_PLATFORMS unset, JAX would pick the accelerator.
ACCELERATOR_MODULES = (
    "jax_cuda13_plugin",
    "jax_cuda12_plugin",
    "jax_rocm7_plugin",
    "jax_rocm60_plugin",
    "libtpu",
)


def _glibc_version() -> tuple[int, ...] | None:
    if not sys.platform.startswith("linux"):
        return None
    library, version = platform.libc_ver()
    if library != "glibc" or not version:
        return None
    return tuple(int(part) for part in version.split(".")[:2] if part.isdigit())


def accelerator_plugin_installed() -> bool:
    """Whether a JAX GPU/TPU plugin is importable (looked up, not imported)."""
    for name in ACCELERATOR_MODULES:
        try:
            if importlib.util.find_spec(name) is not None:
                return True
        except (ImportError, ValueError):
            continue
    return False


def runs_on_cpu(
    environ: Mapping[str, str], accelerator_installed: Callable[[], bool] | None = None
) -> bool:
    """Whether JAX will run this process on its CPU backend: ``JAX_PLATFORMS`` lists
    ``cpu`` first, or it is unset and ``accelerator_installed()`` is False."""
    platforms = [p.strip() for p in environ.get("JAX_PLATFORMS", "").split(",") if p.strip()]
    if platforms:
        return platforms[0].lower() == "cpu"
    if accelerator_installed is None:
        accelerator_installed = accelerator_plugin_installed
    return not accelerator_installed()


def tunables_with_hugepages(
    environ: Mapping[str, str], glibc: tuple[int, ...] | None
) -> str | None:
    """The ``GLIBC_TUNABLES`` value to restart with, or None when nothing should change
    (not glibc >= 2.35, or the hugetlb tunable already set either way)."""
    if glibc is None or glibc < MIN_GLIBC:
        return None
    current = environ.get("GLIBC_TUNABLES", "")
    if any(t.split("=", 1)[0] == HUGETLB_TUNABLE_NAME for t in current.split(":") if t):
        return None
    return ":".join(t for t in (current, HUGETLB_TUNABLE) if t)


def restart_command(orig_argv: Sequence[str], argv: Sequence[str]) -> list[str] | None:
    """The command line that runs this process again: ``sys.executable`` with the
    interpreter's original flags and arguments (``orig_argv[1:]``), or None when that is
    not this command (``argv``, i.e. ``sys.argv``, is not its tail, e.g. someone rewrote
    ``sys.argv``) or cannot be replayed (a script read from standard input)."""
    if len(orig_argv) < len(argv) or not argv:
        return None
    if list(orig_argv[len(orig_argv) - len(argv) + 1 :]) != list(argv[1:]):
        return None
    if argv[0] == "-" or not sys.executable:
        return None
    return [sys.executable, *orig_argv[1:]]


def hugepage_switch(environ: Mapping[str, str]) -> bool | None:
    """:data:`SWITCH_ENV`: True (``1``/``on``), False (``0``/``off``), None (unset/auto).
    Any other value counts as unset."""
    value = environ.get(SWITCH_ENV, "").strip().lower()
    return {"1": True, "on": True, "0": False, "off": False}.get(value)


def reexec_with_malloc_hugepages(
    environ: MutableMapping[str, str] | None = None,
    execve: Callable[..., None] = os.execve,
    glibc: tuple[int, ...] | None = None,
    orig_argv: Sequence[str] | None = None,
    argv: Sequence[str] | None = None,
    accelerator_installed: Callable[[], bool] | None = None,
) -> bool:
    """Restart this process with :data:`HUGETLB_TUNABLE` when the conditions of the
    module docstring hold; ``execve`` then never returns. Returns False when nothing was
    done. The arguments other than ``environ`` are for tests (defaults: the real ones)."""
    environ = os.environ if environ is None else environ
    switch = hugepage_switch(environ)
    if switch is False:
        return False
    if switch is None and not runs_on_cpu(environ, accelerator_installed):
        return False
    tunables = tunables_with_hugepages(environ, _glibc_version() if glibc is None else glibc)
    if tunables is None:
        return False
    command = restart_command(
        sys.orig_argv if orig_argv is None else orig_argv, sys.argv if argv is None else argv
    )
    if command is None:
        return False
    sys.stdout.flush()
    sys.stderr.flush()
    execve(command[0], command, {**environ, "GLIBC_TUNABLES": tunables})
    return True
