"""Loading a run's config file: ``--config path.py`` or ``--config path.py:ARG``.

A config file is Python defining ``get_config(arg=None)`` that returns an
``ml_collections.ConfigDict`` (ml_collections' convention, e.g.
``experiments/configs/digits.py``). Everything after the first ``:`` is passed to
``get_config`` as its one argument.

What the user can fix is a one-line ``UserError``: a path that is not a file, a syntax
error (with file, line and the offending text), no ``get_config``, or a ``get_config``
that returns something else than a ``ConfigDict``; a ``UserError`` raised by the file
itself passes through. Any other exception raised while the file runs is not caught: its
traceback points at the line of the config that raised it.
"""

from __future__ import annotations

import importlib.util
import os

import ml_collections

from mixer_vit.errors import UserError

EXAMPLE = "e.g. --config experiments/configs/digits.py"


def split_config_spec(spec: str) -> tuple[str, str | None]:
    """``"path.py:arg"`` -> ``("path.py", "arg")``; ``"path.py"`` -> ``("path.py", None)``."""
    path, colon, arg = spec.partition(":")
    return path, (arg if colon else None)


def check_config_source(path: str) -> None:
    """Raises ``UserError`` unless ``path`` is a readable file of valid Python."""
    if not path:
        raise UserError(f"--config is empty; {EXAMPLE}")
    if os.path.isdir(path):
        raise UserError(f"--config {path} is a directory; give a config file, {EXAMPLE}")
    if not os.path.isfile(path):
        raise UserError(f"--config {path}: no such file; {EXAMPLE}")
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError as e:
        raise UserError(f"--config {path} cannot be read ({e.strerror})") from None
    try:
        compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as e:
        text = (e.text or "").strip()
        where = f" line {e.lineno}" if e.lineno else ""
        shown = f": {text!r}" if text else ""
        raise UserError(
            f"config file {path}{where}: {e.msg}{shown}; fix the file's Python syntax"
        ) from None
    except ValueError as e:  # source with null bytes
        raise UserError(f"config file {path} is not Python source ({e})") from None


def load_config_file(spec: str) -> ml_collections.ConfigDict:
    """The ``ConfigDict`` that ``get_config`` of the file in ``spec`` returns (unlocked)."""
    path, arg = split_config_spec(spec)
    check_config_source(path)
    name = os.path.splitext(os.path.basename(path))[0].replace("-", "_") + "_config"
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    get_config = getattr(module, "get_config", None)
    if not callable(get_config):
        raise UserError(
            f"config file {path} defines no get_config(); it must define "
            "get_config(arg=None) returning an ml_collections.ConfigDict"
        )
    config = get_config() if arg is None else get_config(arg)
    if not isinstance(config, ml_collections.ConfigDict):
        raise UserError(
            f"get_config() of {path} returned {type(config).__name__}, not an "
            "ml_collections.ConfigDict; return the config (is a `return` missing?)"
        )
    return config
