"""The one exception type that means "the user asked for something we cannot do".

The CLI turns it into a single line on stderr and exit code 2, with no traceback;
the Python API lets it propagate so a notebook shows the same message.
"""


class UserError(ValueError):
    """Bad input: the message says what is wrong and what to do instead."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names where and what to try (exit 1)."""
