"""``mixer_vit.malloc_hugepages``: when the CLI restarts itself with huge pages for malloc."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mixer_vit.malloc_hugepages import (
    HUGETLB_TUNABLE,
    SWITCH_ENV,
    _glibc_version,
    reexec_with_malloc_hugepages,
    restart_command,
    runs_on_cpu,
    tunables_with_hugepages,
)

CLI_ARGV = ["/x/mixer_vit/cli.py", "train", "--workdir", "w"]
ORIG_ARGV = ["python3", "-X", "importtime", "-m", "mixer_vit.cli", "train", "--workdir", "w"]


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


@pytest.mark.parametrize(
    "platforms, accelerator, expected",
    [
        (None, False, True),  # JAX would pick its CPU backend
        (None, True, False),  # a GPU/TPU plugin is installed: JAX would pick it
        ("cpu", True, True),
        ("cuda", False, False),
        ("cuda,cpu", False, False),
        ("tpu", False, False),
        (" cpu , cuda", True, True),
        ("", True, False),  # empty counts as unset
    ],
)
def test_runs_on_cpu(platforms, accelerator, expected):
    environ = {} if platforms is None else {"JAX_PLATFORMS": platforms}
    assert runs_on_cpu(environ, lambda: accelerator) is expected


def test_restart_command_keeps_interpreter_flags():
    assert restart_command(ORIG_ARGV, CLI_ARGV) == [sys.executable, *ORIG_ARGV[1:]]
    # The console script: python /venv/bin/mixer-vit ARGS.
    script = ["/venv/bin/python", "/venv/bin/mixer-vit", "models"]
    assert restart_command(script, script[1:]) == [sys.executable, *script[1:]]
    # python -c CODE ARGS
    code = ["python", "-c", "import x", "models", "--noflops"]
    assert restart_command(code, ["-c", "models", "--noflops"]) == [sys.executable, *code[1:]]
    # sys.argv rewritten after start, or a script from standard input: not replayed.
    assert restart_command(ORIG_ARGV, ["cli.py", "eval"]) is None
    assert restart_command(["python", "-", "models"], ["-", "models"]) is None


def fake_execve(calls):
    return lambda *args: calls.append(args)


def test_reexec_runs_the_same_interpreter_command_once():
    calls = []
    environ = {"PATH": "/bin"}
    done = reexec_with_malloc_hugepages(
        environ,
        fake_execve(calls),
        glibc=(2, 36),
        orig_argv=ORIG_ARGV,
        argv=CLI_ARGV,
        accelerator_installed=lambda: False,
    )
    assert done and len(calls) == 1
    executable, argv, env = calls[0]
    assert executable == sys.executable
    assert argv == [sys.executable, *ORIG_ARGV[1:]]
    assert argv[1:4] == ["-X", "importtime", "-m"]
    assert env == {"PATH": "/bin", "GLIBC_TUNABLES": HUGETLB_TUNABLE}
    assert environ == {"PATH": "/bin"}  # the caller's mapping is not modified
    # The restarted process sees the tunable and does not restart again.
    assert not reexec_with_malloc_hugepages(
        env, fake_execve(calls), (2, 36), ORIG_ARGV, CLI_ARGV, lambda: False
    )
    assert len(calls) == 1


@pytest.mark.parametrize(
    "environ, accelerator, restarts",
    [
        ({}, False, True),
        ({}, True, False),  # GPU/TPU plugin installed, JAX_PLATFORMS unset: no restart
        ({"JAX_PLATFORMS": "cuda"}, False, False),
        ({"JAX_PLATFORMS": "cpu"}, True, True),
        ({SWITCH_ENV: "0"}, False, False),  # switched off
        ({SWITCH_ENV: "off", "JAX_PLATFORMS": "cpu"}, False, False),
        ({SWITCH_ENV: "1"}, True, True),  # forced, accelerator or not
        ({SWITCH_ENV: "1", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}, False, False),
        ({SWITCH_ENV: "auto", "JAX_PLATFORMS": "tpu"}, False, False),
    ],
)
def test_reexec_only_on_cpu_and_unless_switched_off(environ, accelerator, restarts):
    calls = []
    done = reexec_with_malloc_hugepages(
        dict(environ), fake_execve(calls), (2, 36), ORIG_ARGV, CLI_ARGV, lambda: accelerator
    )
    assert done is restarts and len(calls) == int(restarts)
    assert not reexec_with_malloc_hugepages(
        dict(environ), fake_execve(calls), (2, 34), ORIG_ARGV, CLI_ARGV, lambda: accelerator
    )


def run_recording_tunables(tmp_path, interpreter_flags, env_extra):
    """Runs ``python FLAGS -c <cli.main()> models ...`` with a sitecustomize on PYTHONPATH
    that records GLIBC_TUNABLES and whether ``-X restart_marker`` is set in every Python
    process started; returns (completed process, recorded lines)."""
    log = tmp_path / "started.log"
    (tmp_path / "sitecustomize.py").write_text(
        "import os, sys\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    tunables = os.environ.get('GLIBC_TUNABLES')\n"
        "    f.write(f\"{tunables!r} {'restart_marker' in sys._xoptions}\\n\")\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", SWITCH_ENV)}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")]).strip(
        os.pathsep
    )
    env.update(env_extra)
    code = "import sys; from mixer_vit import cli; sys.exit(cli.main())"
    out = subprocess.run(
        [sys.executable, *interpreter_flags, "-c", code, "models", "--filter=ti16$", "--noflops"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return out, log.read_text().splitlines()


def test_cli_process_restarts_once_keeping_interpreter_flags(tmp_path):
    """The real command line restarts once with the tunable, with the interpreter flag
    (-X restart_marker) kept, and the command still works."""
    out, started = run_recording_tunables(
        tmp_path, ["-X", "restart_marker"], {"JAX_PLATFORMS": "cpu"}
    )
    assert out.returncode == 0, out.stderr
    assert "vit_ti16" in out.stdout
    if tunables_with_hugepages({}, _glibc_version()) is None:
        assert started == ["None True"]  # no restart where glibc lacks the tunable
    else:
        assert started == ["None True", f"{HUGETLB_TUNABLE!r} True"]  # exactly one restart


def test_cli_process_does_not_restart_when_switched_off(tmp_path):
    out, started = run_recording_tunables(tmp_path, [], {SWITCH_ENV: "0"})
    assert out.returncode == 0, out.stderr
    assert started == ["None False"]
