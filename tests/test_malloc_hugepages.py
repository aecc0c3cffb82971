"""``mixer_vit.malloc_hugepages``: when the CLI restarts itself with huge pages for malloc."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mixer_vit.malloc_hugepages import (
    HUGETLB_TUNABLE,
    _glibc_version,
    reexec_with_malloc_hugepages,
    tunables_with_hugepages,
)


@pytest.mark.parametrize(
    "current, glibc, expected",
    [
        (None, (2, 36), HUGETLB_TUNABLE),
        ("glibc.malloc.arena_max=2", (2, 36), f"glibc.malloc.arena_max=2:{HUGETLB_TUNABLE}"),
        ("glibc.malloc.hugetlb=0", (2, 36), None),  # the user's choice (opt-out) wins
        ("glibc.malloc.hugetlb=1", (2, 36), None),  # already restarted: no loop
        (None, (2, 34), None),  # glibc without the tunable
        (None, None, None),  # not glibc (musl, macOS, Windows)
    ],
)
def test_tunables_with_hugepages(current, glibc, expected):
    environ = {} if current is None else {"GLIBC_TUNABLES": current}
    assert tunables_with_hugepages(environ, glibc) == expected


def test_reexec_runs_the_same_command_through_python_m():
    calls = []
    environ = {"PATH": "/bin"}
    done = reexec_with_malloc_hugepages(
        ["train", "--workdir", "w"], environ, lambda *a: calls.append(a), glibc=(2, 36)
    )
    assert done and len(calls) == 1
    executable, argv, env = calls[0]
    assert executable == sys.executable
    assert argv == [sys.executable, "-m", "mixer_vit.cli", "train", "--workdir", "w"]
    assert env == {"PATH": "/bin", "GLIBC_TUNABLES": HUGETLB_TUNABLE}
    assert environ == {"PATH": "/bin"}  # the caller's mapping is not modified
    assert not reexec_with_malloc_hugepages([], {}, lambda *a: calls.append(a), glibc=(2, 34))
    assert len(calls) == 1


def test_cli_process_restarts_with_the_tunable(tmp_path):
    """The real command line restarts once with the tunable and the command still works.
    A sitecustomize on PYTHONPATH records GLIBC_TUNABLES in every Python process started."""
    log = tmp_path / "tunables.log"
    (tmp_path / "sitecustomize.py").write_text(
        "import os\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(repr(os.environ.get('GLIBC_TUNABLES')) + '\\n')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")]).strip(
        os.pathsep
    )
    code = "import sys; from mixer_vit import cli; sys.exit(cli.main())"
    out = subprocess.run(
        [sys.executable, "-c", code, "models", "--filter", "vit_ti16$", "--noflops"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "vit_ti16" in out.stdout
    started = log.read_text().split()
    if tunables_with_hugepages({}, _glibc_version()) is None:
        assert started == ["None"]  # no restart where glibc lacks the tunable
    else:
        assert started == ["None", repr(HUGETLB_TUNABLE)]  # exactly one restart
