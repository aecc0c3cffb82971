"""The one exception type for mistakes a user can fix (bad config, bad workdir, ...).

The CLI prints ``error: <message>`` for these and exits with status 2, without a
traceback. Library code raises them with a one-line message that names the problem and
the fix, where the input is at fault. Any other exception, a plain ``ValueError``
included, is treated as a bug and keeps its traceback (docs/cli.md).
"""


class UserError(ValueError):
    """A problem in what the user asked for, with a one-line message saying how to fix it."""
