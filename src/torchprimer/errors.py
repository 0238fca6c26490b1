"""The one exception type that means "the user asked for something we cannot do".

The CLI turns it into a single line on stderr and exit code 2, with no traceback;
the Python API lets it propagate so a notebook shows the same message.
"""


class UserError(ValueError):
    """Bad input: the message says what is wrong and what to do instead."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names where and what to try (exit 1)."""


def brief(exc: BaseException, limit: int = 100) -> str:
    """A library exception's first line, short enough to sit in parentheses in a one-line error:
    cut at a word with an ellipsis, and named by its type when its text alone says nothing
    (a bare number or key, as pickle and dict lookups give)."""
    text = (str(exc).strip().splitlines() or [""])[0].strip()
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0].rstrip(",.;:") + "…"
    if sum(c.isalpha() for c in text) < 4:
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text
