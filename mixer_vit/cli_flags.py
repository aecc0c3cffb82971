"""Command-line parsing shared by every ``mixer-vit`` command: absl flags defined per
command, ``-``/``_`` and ``--no_NAME`` spellings, ``--help``, and one-line messages for
unknown flags and config keys (cli.py dispatches; this file parses)."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence

from absl import flags


HELP_FLAGS = ("-h", "--help", "-help", "--helpfull", "--helpshort")


def parse_flags(argv: Sequence[str], define: Callable[[flags.FlagValues], None]) -> flags.FlagValues:
    fv = flags.FlagValues()
    try:
        define(fv)  # a config flag registers its --config.KEY overrides here
    except AttributeError as e:  # ml_collections: --config.KEY names no field
        raise UsageError(_unknown_config_key_message(str(e), argv)) from None
    if any(a in HELP_FLAGS for a in argv):
        # absl groups the flags under their defining module; keep the flags, not the
        # module names, and leave out absl's own --flagfile/--undefok.
        ours = fv.get_help().split("\nabsl.flags:")[0]
        raise HelpRequested("\n".join(line for line in ours.splitlines() if line[:1] == " "))
    argv = _absl_spellings(argv, fv)
    saved_argv = sys.argv
    # absl-style parsing of sys.argv by libraries; keep it this command's arguments.
    sys.argv = ["mixer-vit", *argv]
    try:
        fv(sys.argv)
    except flags.Error as e:
        raise UsageError(str(e)) from None
    except AttributeError as e:  # ml_collections: --config.KEY names no field
        raise UsageError(_unknown_config_key_message(str(e), argv)) from None
    finally:
        sys.argv = saved_argv
    return fv


class UsageError(Exception):
    """Bad command-line flags."""


class HelpRequested(Exception):
    """``--help`` after a command; the message is that command's flag list."""


def _absl_spellings(argv: Sequence[str], fv: flags.FlagValues) -> list[str]:
    """``--vs-timm`` -> ``--vs_timm`` and ``--no_flops`` / ``--no-flops`` -> ``--noflops``
    (absl's spelling of a false boolean). Values (also one given as the next argument),
    ``--config.KEY`` overrides and anything that is not a flag pass unchanged."""
    spelled, value_next = [], False
    for arg in argv:
        if value_next or not arg.startswith("--") or arg.startswith("--config."):
            spelled.append(arg)
            value_next = False
            continue
        name, equals, value = arg[2:].partition("=")
        name = name.replace("-", "_")
        positive = name[3:]
        negated = name.startswith("no_") and name not in fv and positive in fv
        if negated and isinstance(fv[positive], flags.BooleanFlag):
            name = "no" + positive
        spelled.append(f"--{name}{equals}{value}")
        takes_value = name in fv and not isinstance(fv[name], flags.BooleanFlag)
        value_next = takes_value and not equals
    return spelled


def _unknown_config_key_message(error: str, argv: Sequence[str]) -> str:
    """One line for ml_collections' "'KEY'\nDid you mean "K" instead of "KEY"?" error."""
    names = re.findall(r"\w+", error.split("\n")[0])
    name = names[0] if names else "?"
    flag = next(
        (
            a.split("=")[0]
            for a in argv
            if a.startswith("--config.") and re.search(rf"\.{name}(=|$)", a)
        ),
        f"--config...{name}",
    )
    suggestion = re.search(r'Did you mean "(\w+)"', error)
    hint = f" (did you mean {suggestion.group(1)}?)" if suggestion else ""
    return f"unknown config key {flag[2:]}{hint}; the config file lists every key"
