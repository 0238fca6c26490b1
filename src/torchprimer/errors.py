"""The one exception type that means "the user asked for something we cannot do".

The CLI turns it into a single line on stderr and exit code 2, with no traceback;
the Python API lets it propagate so a notebook shows the same message.
"""

from __future__ import annotations

import shlex
from pathlib import Path


class UserError(ValueError):
    """Bad input: the message says what is wrong and what to do instead.

    `zh` is the same message in Chinese, given where the error is raised by a command that speaks
    Chinese (tour, compare, activations, backprop, gradcheck, graph): a learner reading a lesson in
    Chinese should not meet its refusals in English. `str(exc)` stays English, as the Python API's is.
    """

    def __init__(self, message: str, *, zh: str | None = None) -> None:
        super().__init__(message)
        self.zh = zh

    def in_language(self, lang: str) -> str:
        """The message in `lang` ("en" or "zh"); English where no Chinese was given."""
        return self.zh if lang == "zh" and self.zh else str(self)


_SPOKEN: list[str] = []  # the language the running command chose for its text (--lang, else the locale)


def speak(lang: str) -> str:
    """Remember `lang` as the language of the running command's text, so that its refusals are
    printed in it too (`spoken`); returns `lang`."""
    _SPOKEN[:] = [lang]
    return lang


def spoken() -> str:
    """The language the running command chose ("en" before one chose)."""
    return _SPOKEN[-1] if _SPOKEN else "en"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names where and what to try (exit 1)."""


def refuse_unused(flags: list[str], why: str, why_zh: str | None = None) -> None:
    """Raise one UserError when options that would do nothing were given (`flags` as typed,
    e.g. ["--momentum"]): a silently ignored option misleads, as the user believes it shaped the
    result. `why` completes "--momentum does nothing ...", e.g. "with --optimizer adam"; `why_zh`,
    for the commands that speak Chinese, is the whole predicate, e.g. "在使用 --optimizer adam 时不起作用"."""
    if flags:
        verb, pronoun = ("does", "it") if len(flags) == 1 else ("do", "them")
        zh = f"{'、'.join(flags)} {why_zh}；请去掉{'它' if len(flags) == 1 else '它们'}" if why_zh else None
        raise UserError(f"{', '.join(flags)} {verb} nothing {why}; leave {pronoun} out", zh=zh)


def check_whole(what: str, value: object, least: int, example: int) -> int:
    """`value` as an int when it is a whole number (a NumPy one too) of at least `least`, else one UserError
    naming `what` ("evaluate_run's top"): from Python a top of -1 sliced from the end, "3" was a TypeError."""
    import numbers

    if not (isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= least):
        raise UserError(f"{what} {value!r} must be a whole number of at least {least}, e.g. {example}",
                        zh=f"{what} {value!r} 必须是不小于 {least} 的整数，例如 {example}")
    return int(value)


def clip(text: str, limit: int) -> str:
    """`text` on one line (runs of whitespace made one space), cut at a word with an ellipsis when
    longer than `limit`, so that a quoted library message never ends mid-word."""
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0].rstrip(",.;:") + "…"
    return text


def brief(exc: BaseException, limit: int = 100) -> str:
    """A library exception's first line, short enough to sit in parentheses in a one-line error:
    cut at a word with an ellipsis, and named by its type when its text alone says nothing
    (a bare number or key, as pickle and dict lookups give)."""
    text = clip((str(exc).strip().splitlines() or [""])[0], limit)
    if sum(c.isalpha() for c in text) < 4:
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text


_ASKED: list[str] = []  # the stops (signal names) the CLI's handler raised as KeyboardInterrupt, in order


def ask_to_stop(name: str) -> KeyboardInterrupt:
    """The KeyboardInterrupt for a stop the CLI was sent (e.g. "SIGTERM"), remembered for `stop_if_asked`."""
    _ASKED.append(name)
    return KeyboardInterrupt(name)


def forget_stops() -> None:
    _ASKED.clear()


def stop_asked() -> bool:
    """Whether the running command was sent a stop: an error that follows one is its doing (a library
    interrupted while it imports can fail later in another way), and is reported as the stop."""
    return bool(_ASKED)


def stop_if_asked() -> None:
    """Raise the stop again if one was asked for, for long loops to call between pieces of work (the bench
    between repeats). Library code can swallow a KeyboardInterrupt (C code that clears every error, a
    finalizer) and `timeout` sends SIGTERM once: in CI a stopped bench ran on until it was killed."""
    if _ASKED:
        raise KeyboardInterrupt(_ASKED[-1])


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training, with what the learner needs to go on: the run folder (None when
    nothing is saved) and the epochs finished, whose last checkpoint is complete."""

    def __init__(self, run_dir: Path | None, epochs_done: int) -> None:
        super().__init__()
        self.run_dir, self.epochs_done = run_dir, epochs_done

    def advice(self) -> str:
        if self.run_dir is None:
            return "interrupted"
        if self.epochs_done and (self.run_dir / "checkpoint.pt").is_file():
            return (f"interrupted after epoch {self.epochs_done}, whose checkpoint is complete; go on with "
                    f"{resume_command(self.run_dir)}")
        return f"interrupted before the first checkpoint; {self.run_dir} has nothing to resume: train again"


def resume_command(run_dir: str | Path) -> str:
    """`torchprimer train --resume RUN_DIR` as a message suggests it: the path quoted for the shell
    (a run folder under "My runs/" was cut at the space when the advice was pasted), and the whole
    set off in single quotes as the messages set off commands, or in double quotes once the path's
    own quoting holds a single quote."""
    command = f"torchprimer train --resume {shlex.quote(str(run_dir))}"
    return f'"{command}"' if "'" in command else f"'{command}'"


# The option parser's refusals (click's, with pydantic's words for a bad value), for the commands that speak
# Chinese: they come before the command runs, so they cannot carry a zh= of their own. A detail not listed here
# stays in English inside the Chinese sentence; the option, the value and the advice to read --help are kept.
_USAGE_ZH: list[tuple[str, str]] = [
    (r"No such option: (\S+) \(Possible options: (.+)\)", r"没有 \1 这个选项（可用的相近选项：\2）"),
    (r"No such option: (\S+) Did you mean (\S+)\?", r"没有 \1 这个选项（你是不是想用 \2？）"),
    (r"No such option: (\S+)", r"没有 \1 这个选项"),
    (r"Got unexpected extra arguments? ?(?:\(s\))? \((.*)\)", r"多出了参数（\1）"),
    (r"Option (\S+) requires an argument\.?", r"选项 \1 需要一个值"),
    (r"Option (\S+) requires (\d+) arguments\.?", r"选项 \1 需要 \2 个值"),
    (r"Missing argument (\S+?)\.?", r"缺少参数 \1"),
    (r"Missing option (\S+?)\.?", r"缺少选项 \1"),
    (r"Invalid value for (.+?): (.*)", r"\1 的值无效：\2"),
]
_DETAIL_ZH: list[tuple[str, str]] = [
    (r"Input should be a valid integer, unable to parse string as an integer", "应为整数，无法把这个字符串解析为整数"),
    (r"Input should be a valid integer, got a number with a fractional part", "应为整数，得到的却是带小数部分的数"),
    (r"Input should be a valid number, unable to parse string as a number", "应为数字，无法把这个字符串解析为数字"),
    (r"Input should be a valid boolean, unable to interpret input", "应为布尔值，无法解读这个输入"),
    (r"Input should be a finite number", "应为有限的数"),
    (r"Input should be greater than or equal to (\S+)", r"应大于或等于 \1"),
    (r"Input should be less than or equal to (\S+)", r"应小于或等于 \1"),
    (r"Input should be greater than (\S+)", r"应大于 \1"),
    (r"Input should be less than (\S+)", r"应小于 \1"),
    (r"Value (.+) is not a valid (\S+?)\.?", r"值 \1 不是有效的 \2"),
]


def usage_in_chinese(message: str) -> str | None:
    """An option parser's one-line refusal in Chinese, or None where its wording is not one listed here."""
    import re

    for pattern, replacement in _USAGE_ZH:
        match = re.fullmatch(pattern, message)
        if match:
            said = match.expand(replacement)
            for detail, chinese in _DETAIL_ZH:  # the detail after "的值无效：", in pydantic's or typer's words
                said = re.sub(f"(?<=：){detail}$", chinese, said)
            return said
    return None
