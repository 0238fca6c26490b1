"""The `torchprimer` command: parses options, calls one function, prints.

Every command knows nothing of tensors; errors the user can fix (UserError, bad options)
become one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from torchprimer.errors import UserError

app = typer.Typer(
    name="torchprimer",
    help="The fundamentals of deep learning on PyTorch, as tested software.\n\n"
    "Start with `torchprimer doctor`, then `torchprimer train`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


@app.command(epilog="Examples:\n\n    torchprimer doctor\n\n    torchprimer doctor --json | python -m json.tool")
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Check the install (seed §2): versions, build, devices, and a real computation on each.

    Exit code 0 when every check passes, 1 when one fails.
    """
    from torchprimer.doctor import render, run_doctor

    report = run_doctor()
    if as_json:
        _print_json(report)
    else:
        render(report)
    raise typer.Exit(0 if report["ok"] else 1)


TRAIN_EPILOG = """Examples:

    torchprimer train                                  # the seed's recipe on digits

    torchprimer train --epochs 20 --hidden 256,128 --lr 3e-3

    torchprimer train --json --quiet > summary.json

    torchprimer train --resume runs/20261126-101500-digits-mlp --epochs 20
"""


@app.command(epilog=TRAIN_EPILOG)
def train(
    dataset: Annotated[str | None, typer.Option(help="Data set name (see `torchprimer data list`).")] = None,
    model: Annotated[str | None, typer.Option(help="neuron, linear, mlp or cnn.")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Passes over the training split. [default: 10]")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Samples per step. [default: 64]")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate, > 0. [default: 0.001]")] = None,
    hidden: Annotated[str | None, typer.Option(help="Hidden layer sizes, e.g. 128 or 256,128. [default: 128]")] = None,
    activation: Annotated[str | None, typer.Option(help="relu, tanh, gelu, ... [default: relu]")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for split, init and data order. [default: 0]")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:N or mps. [default: auto]")] = None,
    out: Annotated[Path, typer.Option(help="Folder for run folders.")] = Path("runs"),
    resume: Annotated[Path | None, typer.Option(help="Continue the run in this run folder.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON at the end.")] = False,
) -> None:
    """Train a classifier and write a run folder (seed §6).

    With no options: the seed's §6.2 recipe (MLP 128 ReLU, Adam lr 1e-3, 10 epochs,
    batch 64) on scikit-learn's bundled 8x8 digits. Prints the epoch-mean training
    loss (the seed prints only the last batch's), validation figures, and test accuracy.
    """
    from torchprimer.training.run import train as run_training

    options = {
        "dataset": dataset, "model": model, "epochs": epochs, "batch_size": batch_size, "lr": lr,
        "hidden": hidden, "activation": activation, "seed": seed, "device": device,
    }
    progress = "none" if (quiet or as_json) else "auto"
    result = run_training(out=out, progress=progress, resume=resume, **options)
    summary = result.summary()
    if as_json:
        _print_json(summary)
    elif not quiet:
        print(
            f"test accuracy {summary['test_accuracy']:.4f}  test loss {summary['test_loss']:.4f}  "
            f"({summary['epochs_run']} epochs, {summary['train_seconds']:.1f}s training, best epoch "
            f"{summary['best_epoch']})\nrun folder: {summary['run_dir']}"
        )


def _one_line(message: str) -> str:
    return " ".join(message.split())


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the command, turning user errors into one line and exit code 2."""
    from torchprimer.training.loop import TrainingDiverged

    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="torchprimer", standalone_mode=False)
    except UserError as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        sys.exit(2)
    except TrainingDiverged as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        sys.exit(1)
    except typer.TyperException as exc:  # click's usage errors: unknown option, bad value
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "torchprimer"
        print(f"error: {_one_line(exc.format_message())} (see '{where} --help')", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 2))
    except (KeyboardInterrupt, typer.Abort):
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
