"""Durations in steps, epochs or percent of training, as written in configs.

``"500"`` or ``500`` -> 500 steps; ``"5ep"`` -> 5 epochs; ``"10%"`` -> 10% of training.
"""

from __future__ import annotations

import re

from mixer_vit.errors import UserError

_PATTERN = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)\s*(st|steps?|ep|epochs?|%)?\s*$")


def duration_steps(
    value: str | int | float, steps_per_epoch: int, total_steps: int, what: str = "duration"
) -> int:
    """The number of steps ``value`` stands for (rounded to the nearest step).

    Args:
      value: a number of steps, or a string with a unit: ``st``/``steps``, ``ep``/``epochs``
        or ``%`` (of ``total_steps``).
      what: the config key, named in the error message.
    Raises:
      UserError: for anything else, naming ``what`` and the accepted forms.
    """
    if isinstance(value, bool):
        raise UserError(f"{what}={value!r} is not a duration")
    if isinstance(value, (int, float)):
        number, unit = float(value), None
    else:
        match = _PATTERN.match(str(value).lower())
        if not match:
            raise UserError(
                f"{what}={value!r} is not a duration; write steps ('500'), epochs ('5ep') "
                f"or percent of training ('10%')"
            )
        number, unit = float(match.group(1)), match.group(2)
    if number < 0:
        raise UserError(f"{what}={value!r} must not be negative")
    if unit in (None, "st", "step", "steps"):
        steps = number
    elif unit in ("ep", "epoch", "epochs"):
        steps = number * steps_per_epoch
    else:
        steps = number / 100.0 * total_steps
    return int(round(steps))
