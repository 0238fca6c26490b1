"""How the workers of `torchprimer train --nproc N` say where a stopped run can go on, once.

Ctrl-C reaches every process: the launching command and each of its N workers. Each worker
printed its own line ("interrupted", and rank 0 its advice) and the launching command another,
interleaved. Now the launching command names a file in the environment; a stopped worker writes
rank 0's advice there (the other ranks have none to give: rank 0 alone keeps the run folder)
and exits without a word, and the launching command prints the advice, or "interrupted" when
the stop came before rank 0 could say more. No torch here: a worker stopped while it still
imports torch must be able to tell it is one.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import NoReturn

STOP_NOTE_ENV = "TORCHPRIMER_STOP_NOTE"  # set by `distributed.launch` for its workers


def leave_stop_note(advice: str) -> bool:
    """In a worker of `train --nproc`: hand `advice` to the launching command (rank 0's; the others'
    are dropped) and return True, so the caller exits silently; False elsewhere (one process, or
    processes torchrun started), where the caller prints it itself."""
    path = os.environ.get(STOP_NOTE_ENV)
    if not path or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if os.environ.get("RANK", "0") == "0":
        with contextlib.suppress(OSError):  # unwritable: the launching command says "interrupted"
            Path(path).write_text(advice + "\n", encoding="utf-8")
    return True


def read_stop_note(path: Path) -> str:
    """What the launching command prints after a stop: rank 0's advice, else "interrupted"."""
    try:
        return path.read_text(encoding="utf-8").strip() or "interrupted"
    except OSError:
        return "interrupted"


def exit_stopped(message: str = "interrupted") -> NoReturn:
    """End a stopped command with status 130: print `message`, or in a worker of `train --nproc` hand it
    to the launching command and say nothing (`leave_stop_note`).

    CPython remembers a KeyboardInterrupt that left an exec() of source text as "unhandled" even
    when it is caught further up, and then ends the process by SIGINT instead of with its exit status.
    A stop during `import torchvision` lands there (dataclasses build their methods that way): CI saw
    bench die by SIGINT after printing "interrupted". Running any source text clears that mark.
    """
    if not leave_stop_note(message):
        print(message, file=sys.stderr)
    exec("pass")
    sys.exit(130)
