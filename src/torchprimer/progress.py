"""What the user sees while training: a live bar in a terminal, one line per epoch in
logs and CI, nothing with --quiet. The loop calls these four methods and nothing else."""

from __future__ import annotations

import sys
from typing import Any, Protocol, TextIO

from torchprimer.errors import UserError


class Progress(Protocol):
    def start(self, epochs: int, steps_per_epoch: int, first_epoch: int) -> None: ...
    def step(self) -> None: ...
    def epoch(self, record: dict[str, float]) -> None: ...
    def close(self) -> None: ...


def format_record(r: dict[str, float], epochs: int) -> str:
    return (
        f"epoch {int(r['epoch']):>{len(str(epochs))}}/{epochs}  "
        f"train loss {r['train_loss']:.4f} acc {r['train_acc']:.4f}  "
        f"val loss {r['val_loss']:.4f} acc {r['val_acc']:.4f}  {r['seconds']:.2f}s"
    )


class Silent:
    def start(self, epochs: int, steps_per_epoch: int, first_epoch: int) -> None:
        pass

    def step(self) -> None:
        pass

    def epoch(self, record: dict[str, float]) -> None:
        pass

    def close(self) -> None:
        pass


class Lines(Silent):
    """One plain line per epoch: short CI logs, readable in a file."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.epochs = 0

    def start(self, epochs: int, steps_per_epoch: int, first_epoch: int) -> None:
        self.epochs = epochs

    def epoch(self, record: dict[str, float]) -> None:
        print(format_record(record, self.epochs), file=self.stream, flush=True)


class Bar(Lines):
    """A rich progress bar over all steps, with each finished epoch printed above it."""

    def __init__(self, console: Any = None) -> None:  # a rich Console; tests pass one that records
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.console = console or Console()
        self.bar = Progress(
            TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
            TimeRemainingColumn(), console=self.console, transient=True,
        )
        self.task = None
        self.epochs = 0

    def start(self, epochs: int, steps_per_epoch: int, first_epoch: int) -> None:
        self.epochs = epochs
        self.bar.start()
        self.task = self.bar.add_task(
            "", total=epochs * steps_per_epoch, completed=first_epoch * steps_per_epoch
        )

    def step(self) -> None:
        self.bar.advance(self.task)

    def epoch(self, record: dict[str, float]) -> None:
        self.bar.console.print(format_record(record, self.epochs), highlight=False)  # "0.02s", not "0." coloured
        self.bar.update(self.task, description=f"val acc {record['val_acc']:.3f}")

    def close(self) -> None:
        self.bar.stop()


MODES = ("auto", "bar", "lines", "none")


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise UserError(f"progress={mode!r} is not one of {', '.join(MODES)}; 'none' prints nothing")


def make_progress(mode: str = "auto") -> Progress:
    """'auto': a bar on a terminal, plain lines otherwise; 'bar', 'lines' or 'none' to force."""
    check_mode(mode)
    if mode == "none":
        return Silent()
    if mode == "bar" or (mode == "auto" and sys.stdout.isatty()):
        return Bar()
    return Lines()
