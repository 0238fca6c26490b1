"""The `torchprimer` command: parses options, calls one function, prints.

Every command knows nothing of tensors; errors the user can fix (UserError, bad options)
become one line on stderr and exit code 2.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from torchprimer.errors import (
    TrainingDiverged,
    TrainingInterrupted,
    UserError,
    ask_to_stop,
    forget_stops,
    speak,
    spoken,
    stop_asked,
    stop_if_asked,
    usage_in_chinese,
)
from torchprimer.training.stop_note import exit_stopped  # light: a stop while torch imports still ends in one word

SEED: dict[str, int] = {"min": 0, "max": 2**63 - 1}  # bounds of every seed option: torch takes at most 64 bits
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]  # every --json alike
DEVICES = "auto, cpu, cuda, cuda:N or mps"  # what every --device takes (resolve_device); bench: cpu or cuda

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


def _examples(epilog: str) -> str:
    """A command's epilog with its indented example lines as one fenced code block. typer dedents an
    epilog (inspect.cleandoc) before rendering it as Markdown, so examples with no note under them
    lost their indentation and wrapped as prose, while examples above a note stayed a code block:
    fenced, every command shows its examples alike."""
    out: list[str] = []
    in_block = False
    for line in epilog.strip("\n").split("\n"):
        example = line.startswith("    ")
        if example and not in_block:
            out += ["```"]
        elif not example and line and in_block:
            if out[-1] == "":
                out.pop()
            out += ["```", ""]
        in_block = example or (in_block and not line)
        out.append(line[4:] if example else line)
    if in_block:
        out.append("```")
    return "\n".join(out)


def _print_json(obj: object) -> None:
    """Strict JSON, which has no Infinity or NaN (JavaScript's JSON.parse and jq reject Python's
    extension): such a float is written as the string "inf", "-inf" or "nan", which float() reads back."""
    from torchprimer.fileio import strict_json

    sys.stdout.write(json.dumps(strict_json(obj, as_text=True), indent=2, default=str, allow_nan=False) + "\n")


def _output_path(text: str | Path) -> Path:
    """The parser of every output path option (--out, --plot): an empty one (`--out ''`) is refused
    here, as Path('') would silently become '.', the current folder, and files would land there."""
    if isinstance(text, Path):  # a default value, already a path
        return text
    if not text.strip():
        raise typer.BadParameter("it is empty; give a file or folder name")
    return Path(text)


@app.command(epilog=_examples(
    "Examples:\n\n    torchprimer doctor\n\n    torchprimer doctor --json | python -m json.tool\n\n"
    "    torchprimer doctor --lang zh   # 中文 (the default when LANG starts with zh)"))
def doctor(
    lang: LangOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the install (seed §2): versions, build, devices, and a real computation on each.

    Exit code 0 when every check passes, 1 when one fails. The text is in English or Chinese
    (--lang); --json is the same in both.
    """
    from torchprimer.doctor import render, run_doctor

    language = _language(lang)
    report = run_doctor()
    if as_json:
        _print_json(report)
    else:
        render(report, language)
    raise typer.Exit(0 if report["ok"] else 1)


TRAIN_EPILOG = """Examples:

    torchprimer train                                  # the seed's recipe on digits

    torchprimer train --epochs 20 --hidden 256,128 --lr 3e-3

    torchprimer train --json --quiet > summary.json

    torchprimer train --resume runs/20261126-101500-digits-mlp --epochs 20

    torchprimer train --device cuda --no-cuda-graph    # launch each kernel itself (CUDA graphs are the default)

    torchprimer train --nproc 2                        # data-parallel (DDP), 2 processes

    torchrun --nproc_per_node=2 -m torchprimer train   # the same, started by torchrun
"""


# Options of train that lr-find takes too, None unless typed: a typed one that the run would not read
# (--noise for digits, --hidden for a cnn) is refused rather than ignored.
ActivationOpt = Annotated[str | None, typer.Option(help="relu, tanh, gelu, ... [default: relu]")]
TrainDataDirOpt = Annotated[str | None, typer.Option(help="Folder holding the data set's files.")]
TrainDownloadOpt = Annotated[bool | None, typer.Option("--download", help="Fetch the data set if missing.")]
TrainDataSeedOpt = Annotated[int | None, typer.Option(**SEED, help="Seed for generated data sets (mnist1d, toy sets).")]
TrainImageSizeOpt = Annotated[int | None, typer.Option(
    min=2, max=1024, help="Side of resized images (imagefolder). [default: 32]")]
TrainNoiseOpt = Annotated[float | None, typer.Option(help="Noise of the 2-D toy data sets.")]
TrainNSamplesOpt = Annotated[int | None, typer.Option(
    help="Size of a toy set (1000; at least 10 per class) or of mnist1d (5000; at least 20).")]


@app.command(epilog=_examples(TRAIN_EPILOG))
def train(
    ctx: typer.Context,
    dataset: Annotated[str | None, typer.Option(
        help="Data set name (see `torchprimer data list`). [default: digits]")] = None,
    model: Annotated[str | None, typer.Option(help="neuron, linear, mlp or cnn. [default: mlp]")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Passes over the training split. [default: 10]")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Samples per step. [default: 64]")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate, > 0. [default: 0.001]")] = None,
    hidden: Annotated[str | None, typer.Option(help="Hidden layer sizes, e.g. 128 or 256,128. [default: 128]")] = None,
    activation: ActivationOpt = None,
    seed: Annotated[int | None, typer.Option(**SEED, help="Seed for split, init and data order. [default: 0]")] = None,
    device: Annotated[str | None, typer.Option(help=f"{DEVICES}. [default: auto]")] = None,
    dropout: Annotated[float | None, typer.Option(help="Dropout after each hidden layer. [default: 0]")] = None,
    batchnorm: Annotated[bool | None, typer.Option("--batchnorm", help="Batch norm in hidden layers.")] = None,
    optimizer: Annotated[str | None, typer.Option(help="sgd, adam or adamw. [default: adam]")] = None,
    momentum: Annotated[float | None, typer.Option(help="SGD momentum. [default: 0.9]")] = None,
    nesterov: Annotated[bool | None, typer.Option("--nesterov", help="Nesterov momentum for SGD.")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="L2 / decoupled weight decay. [default: 0]")] = None,
    schedule: Annotated[str | None, typer.Option(help="none, step, cosine or onecycle. [default: none]")] = None,
    warmup: Annotated[float | None, typer.Option(help="Share of steps for linear LR warm-up. [default: 0]")] = None,
    clip: Annotated[float | None, typer.Option(help="Clip the gradient norm to this value.")] = None,
    label_smoothing: Annotated[float | None, typer.Option(help="Label smoothing in [0, 1). [default: 0]")] = None,
    early_stopping: Annotated[
        int | None, typer.Option(min=0, help="Stop after N epochs without a better val loss; restores the best. "
                                     "[default: 0, off]")
    ] = None,
    deterministic: Annotated[bool | None, typer.Option("--deterministic", help="Deterministic kernels only.")] = None,
    amp: Annotated[bool | None, typer.Option("--amp", help="Mixed precision (bfloat16/float16), CUDA only.")] = None,
    compile: Annotated[bool | None, typer.Option("--compile", help="torch.compile the model (CUDA only).")] = None,
    cuda_graph: Annotated[bool | None, typer.Option(
        "--cuda-graph/--no-cuda-graph", help="Replay the forward/backward step as a recorded CUDA graph. "
        "[default: on for CUDA, unless --compile, --backward manual or --nproc]")] = None,
    augment: Annotated[bool | None, typer.Option("--augment", help="Batched random crop/flip on images.")] = None,
    val_fraction: Annotated[float | None, typer.Option(help="Share of data for validation. [default: 0.1]")] = None,
    test_fraction: Annotated[
        float | None, typer.Option(help="Share for test, where the set has no official test split. [default: 0.1]")
    ] = None,
    data_dir: TrainDataDirOpt = None,
    download: TrainDownloadOpt = None,
    data_seed: TrainDataSeedOpt = None,
    image_size: TrainImageSizeOpt = None,
    noise: TrainNoiseOpt = None,
    n_samples: TrainNSamplesOpt = None,
    backward: Annotated[str | None, typer.Option(
        help="autograd, or manual: explicit chain-rule formulas (MLPs; see `torchprimer backprop`). "
        "[default: autograd]")] = None,
    tensorboard: Annotated[bool, typer.Option("--tensorboard", help=(
        "Also write TensorBoard event files (RUN_DIR/tensorboard/; a resumed run that has them goes on)."))] = False,
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU threads; 1 is fastest for small models on a busy machine. "
                                 "[default: 1 for MLPs under 25k parameters, else torch's]")
    ] = None,
    out: Annotated[Path | None, typer.Option(
        parser=_output_path, metavar="PATH", help="Folder for run folders. [default: runs]")] = None,
    resume: Annotated[Path | None, typer.Option(
        help="Continue the run in this run folder (in place); only --epochs, and --data-dir where the data "
             "moved, may change.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (the summary) at the end.")] = False,
    nproc: Annotated[int, typer.Option(
        min=1, help="Train data-parallel (DDP) in N processes, one device each; --batch-size stays global.")] = 1,
    master_port: Annotated[int | None, typer.Option(
        min=1, max=65535, help="Port the --nproc processes meet on. [default: a free one]")] = None,
) -> None:
    """Train a classifier and write a run folder (seed §6).

    With no options: the seed's §6.2 recipe (MLP 128 ReLU, Adam lr 1e-3, 10 epochs,
    batch 64) on scikit-learn's bundled 8x8 digits. Prints the epoch-mean training
    loss (the seed prints only the last batch's), validation figures, and test accuracy.
    """
    with _stop_said_once():  # one line on a stop, also from --nproc's processes
        from torchprimer.evaluate import interval_line, loss_name
        from torchprimer.training.run import train as run_training

        options = {
            "dataset": dataset, "model": model, "epochs": epochs, "batch_size": batch_size, "lr": lr,
            "hidden": hidden, "activation": activation, "seed": seed, "device": device, "dropout": dropout,
            "batchnorm": batchnorm, "optimizer": optimizer, "momentum": momentum, "nesterov": nesterov,
            "weight_decay": weight_decay, "schedule": schedule, "warmup": warmup, "clip": clip,
            "label_smoothing": label_smoothing, "early_stopping": early_stopping, "deterministic": deterministic,
            "amp": amp, "compile": compile, "cuda_graph": cuda_graph, "augment": augment, "val_fraction": val_fraction,
            "test_fraction": test_fraction, "data_dir": data_dir, "download": download, "data_seed": data_seed,
            "image_size": image_size, "noise": noise, "n_samples": n_samples, "backward": backward,
        }
        if nproc == 1:
            _refuse_unused(ctx, ["master_port"], "without --nproc 2 or more (it is where those processes meet)")
        # what was typed asks for something, defaults too: `--optimizer adam --momentum 0.9`; with --resume,
        # of the run's own config (`--momentum 0.9` for an Adam run was taken as "unchanged")
        from torchprimer.training.config import make_config, refuse_unused_options
        from torchprimer.training.run import read_run_config

        typed = {name for name in options if _on_command_line(ctx, name)}
        refuse_unused_options(make_config(**options) if resume is None else read_run_config(resume)["config"], typed)
        if nproc > 1:
            _launch_processes(ctx, nproc, master_port, options, resume)
        from torchprimer.training import distributed

        progress = "none" if (quiet or as_json) else "auto"
        result = run_training(out=out, progress=progress, resume=resume, tensorboard=tensorboard, threads=threads,
                              **options)
        if not distributed.is_main():  # under DDP rank 0 alone prints
            quiet, as_json = True, False
        distributed.teardown()
        summary = result.summary()
        if as_json:
            _print_json(summary)
        elif not quiet:
            print(
                f"test accuracy {summary['test_accuracy']:.4f}  {loss_name(result.config.label_smoothing)} "
                f"{summary['test_loss']:.4f}  "
                f"({summary['epochs_run']} epoch{'' if summary['epochs_run'] == 1 else 's'}, "
                f"{summary['train_seconds']:.1f}s training; lowest val loss at epoch "
                f"{summary['best_epoch']}, "
                # the test figures are of the final weights unless --early-stopping put the best ones back
                f"{'whose weights are kept' if result.config.early_stopping else 'tested on the final weights'})\n"
                f"{interval_line(summary['test_accuracy_ci95'], summary['test_samples'])}\n"
                f"run folder: {summary['run_dir']}"
            )
            if result.resumed_from == summary["epochs_run"]:  # the checkpoint held every epoch
                done = (f"it had stopped early at epoch {result.resumed_from}" if summary["stopped_early"] else
                        f"its checkpoint holds all {result.resumed_from} epochs; more with --epochs "
                        f"{result.resumed_from + 1} or more")
                print(f"nothing was left to train ({done}): the run's final files were checked and written again")
            if result.removed:
                print(f"removed {', '.join(result.removed)}: made from the weights before this --resume; "
                      "run evaluate or export again")


@contextlib.contextmanager
def _stop_said_once() -> Iterator[None]:
    """Around `train`'s work: a stopped run says where it can go on (typer would turn the stop into a
    silent exit 130). A stopped worker of `train --nproc` (Ctrl-C reaches them all) hands that advice
    to the launching command and exits 130 without a word, whenever the stop comes, even while torch
    is still being imported (stop_note.py): each process used to print its own line."""
    try:
        yield
    except KeyboardInterrupt as stopped:  # not typer.Exit, after which main would add its plain "interrupted"
        exit_stopped(stopped.advice() if isinstance(stopped, TrainingInterrupted) else "interrupted")


LangOpt = Annotated[str | None, typer.Option(help="en or zh, for the text and its error messages. "
                                                   "[default: zh when LANG starts with zh, else en]")]


def _language(lang: str | None) -> str:
    """--lang as given (en or zh), else zh where LANG starts with zh: every command that takes --lang alike."""
    import os

    from torchprimer.lessons import check_lang

    return speak(check_lang(lang, dict(os.environ)))  # its refusals from here on speak it too


def _interrupt(signum: int, frame: object) -> None:
    raise ask_to_stop(signal.Signals(signum).name)


@contextlib.contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """Within the block, SIGTERM (what `timeout`, `docker stop` and Slurm send) stops as Ctrl-C does, both
    are remembered (`stop_asked`), and neither is lost to a finalizer.

    Python runs a signal's handler at the next line of Python code, and that line may belong to a
    finalizer (a `__del__`, a weakref callback, a generator being closed). An exception cannot leave a
    finalizer: Python prints "Exception ignored" and the program runs on. `timeout` sends SIGTERM once,
    so a bench in CI ran on until it was killed. Such a lost stop is sent again to the main thread a moment
    later, from another thread: sent from the hook, its handler would run inside the hook, where an
    exception is lost too."""
    import threading

    previous_hook = sys.unraisablehook
    pending: list[threading.Timer] = []

    def send(kind: int) -> None:
        if hasattr(signal, "pthread_kill"):  # a real signal also cuts short a sleep or a blocking read
            signal.pthread_kill(threading.main_thread().ident or 0, kind)
        else:  # Windows
            import _thread

            _thread.interrupt_main(kind)

    def redeliver(unraisable: Any) -> None:
        if not issubclass(unraisable.exc_type, KeyboardInterrupt):
            previous_hook(unraisable)
            return
        lost = getattr(unraisable.exc_value, "args", ())
        kind = signal.SIGTERM if lost == ("SIGTERM",) else signal.SIGINT
        ask_to_stop(kind.name)  # Ctrl-C's own handler keeps no record: _run needs one if the command ends first
        timer = threading.Timer(0.01, send, args=(kind,))
        timer.daemon = True
        try:
            timer.start()
            pending.append(timer)
        except RuntimeError:  # no new threads while the interpreter shuts down: say what was lost
            previous_hook(unraisable)

    forget_stops()  # a stop belongs to the command it stopped (tests run several in one process)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    # Ctrl-C raises KeyboardInterrupt as before, now remembered too; not where it is ignored (nohup, `cmd &`)
    previous_int = signal.getsignal(signal.SIGINT)
    if previous_int is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupt)
    sys.unraisablehook = redeliver
    try:
        yield
    finally:
        for timer in pending:  # a stop the command outlived is _run's to report, not a signal at exit
            timer.cancel()
        sys.unraisablehook = previous_hook
        signal.signal(signal.SIGTERM, previous)
        if previous_int is signal.default_int_handler:
            signal.signal(signal.SIGINT, previous_int)
        forget_stops()


def _on_command_line(ctx: typer.Context, name: str) -> bool:
    """Whether option `name` was typed (not left at its default): to refuse options that would do nothing."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def _refuse_unused(ctx: typer.Context, names: list[str] | tuple[str, ...], why: str, why_zh: str | None = None) -> None:
    """One clear error when any of the options `names` (parameter names) was typed although it
    does nothing here, e.g. `_refuse_unused(ctx, ["momentum"], "with --optimizer adam (SGD's option)")`.
    A silently ignored option misleads: the user believes it shaped the result. The commands that
    speak Chinese give `why_zh` too (errors.refuse_unused)."""
    from torchprimer.errors import refuse_unused

    flags = {param.name: param.opts[0] for param in ctx.command.params}
    refuse_unused([flags[name] for name in names if _on_command_line(ctx, name)], why, why_zh)


def _launch_processes(
    ctx: typer.Context, nproc: int, master_port: int | None, options: dict[str, object], resume: Path | None,
) -> None:
    """`train --nproc N`: check the options here (one error line, not N), then run this same
    command without --nproc in N processes through torch's launcher, as torchrun would."""
    from torchprimer.training.config import make_config
    from torchprimer.training.distributed import STOPPED, check_batch_size, launch
    from torchprimer.training.run import load_splits, resume_data_moved, resume_plan

    # a bad --resume is one error line here, not one from every process
    cfg = make_config(**options) if resume is None else resume_plan(resume, options)[1]
    args: list[str] = []  # the options as typed, for the workers' own `torchprimer train`
    for param in ctx.command.params:
        name = param.name or ""
        if name in ("nproc", "master_port") or not _on_command_line(ctx, name):
            continue
        value = ctx.params[name]
        if getattr(param, "is_flag", False):
            args += [param.opts[0]] if value else []
        else:
            args += [param.opts[0], str(value)]
    # The batch must leave every process rows; checked here on the data's size, once, not in every worker.
    with resume_data_moved(cfg, resume, options):
        check_batch_size(len(load_splits(cfg, "cpu").y_train), cfg.batch_size, world=nproc)
    code, message = launch(cfg, nproc, args, port=master_port or 0)
    if code == STOPPED:  # Ctrl-C or SIGTERM: rank 0's advice, one line, as one process says it
        exit_stopped(message or "interrupted")
    if message:
        print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)



EVALUATE_EPILOG = """Examples:

    torchprimer evaluate runs/20261126-101500-digits-mlp

    torchprimer evaluate runs/20261126-101500-digits-mlp --json > evaluation.json

    torchprimer evaluate runs/20261126-101500-digits-mlp --top-losses 0   # no top-losses figure
"""


@app.command(epilog=_examples(EVALUATE_EPILOG))
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `torchprimer train`.")],
    top_losses: Annotated[int, typer.Option(
        min=0, help="Wrong samples to list and show in top_losses.png; 0: none, and no figure.")] = 16,
    device: Annotated[str, typer.Option(help=f"{DEVICES}.")] = "cpu",
    as_json: JsonOpt = False,
) -> None:
    """Evaluate a trained run on its test split (recomputed exactly as training made it).

    Prints test accuracy and loss, per-class precision/recall/F1 and the confusion matrix;
    writes confusion.png and, for image data, top_losses.png (the wrong test samples with
    the highest loss) into the run folder. A top_losses.png left by an earlier evaluation
    that this one does not redraw (--top-losses 0, or no wrong sample) is removed.
    """
    from torchprimer.evaluate import evaluate_run, format_report
    from torchprimer.runfolder import load_run

    result = evaluate_run(load_run(run_dir, device), top=top_losses)
    if as_json:
        _print_json(result)
    else:
        print(format_report(result))


PREDICT_EPILOG = """Examples:

    torchprimer predict runs/20261126-101500-digits-mlp digit.png photo.jpg

    torchprimer predict runs/20261126-101500-digits-mlp samples.npy rows.csv --top 1 --json

Images are padded to the training shape's aspect ratio with their edge colour (not
stretched; an imagefolder run's are stretched, as in its training), resized to the
training size and converted to its channels; transparent pixels become black (white
before --invert). Every change is noted beside the prediction. .npy arrays hold
one sample of the training shape or a stack (N, ...) of them; CSV files one sample per
row (a header row is skipped). Values are in the data set's raw scale: uint8 and image
pixels are divided by 255, floats are used as they are, then normalised as in training.
"""


@app.command(epilog=_examples(PREDICT_EPILOG))
def predict(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `torchprimer train`.")],
    files: Annotated[list[Path], typer.Argument(help="PNG/JPEG images, .npy arrays or .csv files.")],
    top: Annotated[int, typer.Option(min=1, help="How many classes to show per sample.")] = 3,
    invert: Annotated[bool, typer.Option("--invert", help="Invert images (dark ink on light paper).")] = False,
    device: Annotated[str, typer.Option(help=f"{DEVICES}.")] = "cpu",
    as_json: JsonOpt = False,
) -> None:
    """Classify new inputs with a trained run, normalised exactly as its training data was."""
    from torchprimer.predict import format_predictions, predict_files
    from torchprimer.runfolder import load_run

    result = predict_files(load_run(run_dir, device, with_data=False), files, top=top, invert=invert)
    if as_json:
        _print_json(result)
    else:
        print(format_predictions(result))


EXPORT_EPILOG = """Examples:

    torchprimer export runs/20261126-101500-digits-mlp --format onnx

    torchprimer export runs/20261126-101500-digits-mlp --format torchscript --out digits.pt

ONNX needs the optional extra: pip install 'torchprimer[onnx]'. TorchScript is deprecated
by PyTorch; prefer ONNX or safetensors for new uses.
"""


@app.command(epilog=_examples(EXPORT_EPILOG))
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `torchprimer train`.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="safetensors, torchscript or onnx.")],
    out: Annotated[str | None, typer.Option(  # a str: Path would drop the trailing slash of a new folder
        help="File, or folder (existing, or new with a trailing /), to write. "
             "[default: RUN_DIR/model.onnx, model.torchscript.pt or model.export.safetensors]"
    )] = None,
    as_json: JsonOpt = False,
) -> None:
    """Export a trained model, then check the exported file against PyTorch before reporting success.

    The file is loaded back (onnxruntime for ONNX) and its outputs compared with the
    PyTorch model's on a sample batch and on a single sample (max abs difference
    <= 1e-5 x max(1, the largest |output|)).
    Exit code 1, and no file, when the check fails.
    """
    from torchprimer.export import ExportCheckFailed, export_run, format_export
    from torchprimer.runfolder import load_run

    if out is not None and not out.strip():  # as _output_path refuses it for the options typed as paths
        raise UserError("--out is empty; give a file or folder name, or leave --out out to write into RUN_DIR")
    try:
        result = export_run(load_run(run_dir, "cpu", with_data=False), fmt.strip().lower(), out)
    except ExportCheckFailed as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        raise typer.Exit(1) from None
    if as_json:
        _print_json(result)
    else:
        print(format_export(result))


@app.command(epilog=_examples(
    "Examples:\n\n    torchprimer models\n\n    torchprimer models --dataset mnist1d --hidden 256,128"
    "\n\n    torchprimer models --dataset imagefolder:photos --image-size 64"))
def models(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option(help="Data set whose shape the models are built for.")] = "digits",
    hidden: Annotated[str, typer.Option(help="Hidden sizes for mlp.")] = "128",
    activation: Annotated[str, typer.Option(help="Activation for mlp and cnn.")] = "relu",
    image_size: ImageSizeOpt = 32,
    as_json: JsonOpt = False,
) -> None:
    """List the models with their parameter counts for a data set's shape."""
    from torchprimer.data import check_data_options
    from torchprimer.models import model_table

    if _on_command_line(ctx, "image_size"):
        check_data_options(dataset, {"image_size"})
    rows = model_table(dataset, hidden=hidden, activation=activation, image_size=image_size)
    if as_json:
        _print_json(rows)
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    # escaped: rich reads "[...]" as markup, so imagefolder:photos[bold] lost its "[bold]" from the title and
    # imagefolder:q[/b] ended in a MarkupError traceback
    table = Table(title=escape(f"models for {dataset} (input {rows[0]['input_shape']}, {rows[0]['classes']} classes)"))
    for col in ["model", "parameters", "description"]:
        table.add_column(col, justify="right" if col == "parameters" else "left")
    for r in rows:  # a model that does not fit says why under its description, not in the number column
        counted = r["parameters"] is not None
        table.add_row(r["model"], f"{r['parameters']:,}" if counted else "n/a",
                      escape(r["description"] if counted else f"{r['description']}\n{r['note'].removeprefix('n/a: ')}"))
    Console().print(table)


LR_FIND_EPILOG = """Examples:

    torchprimer lr-find                       # the default MLP on digits

    torchprimer lr-find --optimizer sgd --plot lr.png --json

    torchprimer lr-find --dataset mnist --data-dir ~/data --batch-size 512   # the data train would read
"""


@app.command("lr-find", epilog=_examples(LR_FIND_EPILOG))
def lr_find(
    ctx: typer.Context,
    dataset: Annotated[str | None, typer.Option(help="Data set name. [default: digits]")] = None,
    model: Annotated[str | None, typer.Option(help="neuron, linear, mlp or cnn. [default: mlp]")] = None,
    hidden: Annotated[str | None, typer.Option(help="Hidden sizes, e.g. 256,128. [default: 128]")] = None,
    activation: ActivationOpt = None,
    optimizer: Annotated[str | None, typer.Option(help="sgd, adam or adamw. [default: adam]")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Samples per step. [default: 64]")] = None,
    seed: Annotated[int | None, typer.Option(**SEED, help="Seed. [default: 0]")] = None,
    device: Annotated[str | None, typer.Option(help=f"{DEVICES}. [default: auto]")] = None,
    start: Annotated[float, typer.Option(help="First learning rate (1e-12 or more).")] = 1e-7,
    end: Annotated[float, typer.Option(help="Last learning rate (at most 1000).")] = 10.0,
    steps: Annotated[int, typer.Option(min=10, help="Steps of the test (at most 100,000).")] = 100,
    data_dir: TrainDataDirOpt = None,
    download: TrainDownloadOpt = None,
    data_seed: TrainDataSeedOpt = None,
    image_size: TrainImageSizeOpt = None,
    noise: TrainNoiseOpt = None,
    n_samples: TrainNSamplesOpt = None,
    plot: Annotated[Path, typer.Option(parser=_output_path, metavar="PATH",
                                       help="Where to write the loss-vs-lr PNG (a .png name).")] = Path("lr_find.png"),
    as_json: JsonOpt = False,
) -> None:
    """Learning-rate range test: train briefly with a growing learning rate, suggest one.

    The suggestion is where the smoothed loss (an exponential moving average of the step losses,
    weight 0.05 on each new one) falls fastest per decade of learning rate. When it never falls 5%
    below its first value no rate is suggested (null in --json), and the message says which way
    to move the range.
    """
    from torchprimer.fileio import check_output_file
    from torchprimer.training.config import make_config, refuse_unused_options
    from torchprimer.training.lr_find import lr_range_test
    from torchprimer.training.lr_find import plot as plot_lr

    check_output_file(plot, "--plot", (".png",), "lr_find.png")
    # the model and data options of train, so that the test runs on what a run of train would
    options = {"dataset": dataset, "model": model, "hidden": hidden, "activation": activation, "optimizer": optimizer,
               "batch_size": batch_size, "seed": seed, "device": device, "data_dir": data_dir, "download": download,
               "data_seed": data_seed, "image_size": image_size, "noise": noise, "n_samples": n_samples}
    cfg = make_config(**options)
    refuse_unused_options(cfg, {name for name in options if _on_command_line(ctx, name)})
    result = lr_range_test(cfg, start=start, end=end, steps=steps)
    plot_lr(result, plot)
    if as_json:
        _print_json({"suggestion": result.suggestion, "no_suggestion": result.no_suggestion,
                     "min_loss_lr": result.min_loss_lr, "plot": str(plot), "lrs": result.lrs,
                     "losses": result.losses})
    elif result.suggestion is None:
        print(f"no learning rate can be suggested: {result.no_suggestion}\nplot: {plot}")
    else:
        print(f"suggested learning rate {result.suggestion:.2e} (steepest fall of the loss); "
              f"loss is lowest at {result.min_loss_lr:.2e} — stay below that\nplot: {plot}")


data_app = typer.Typer(
    name="data", no_args_is_help=True, rich_markup_mode="markdown",
    help="Data sets (seed §4): what is registered, statistics from the data itself, pictures and "
    "linear algebra.\n\nSee `torchprimer data list` for the names.",
)
app.add_typer(data_app, name="data")

DataDirOpt = Annotated[Path | None, typer.Option(
    "--data-dir", help="Folder with the files in torchvision's layout (DIR/MNIST/raw/, DIR/cifar-10-batches-py/). "
    "[default: datasets/ in the cache folder]")]
DownloadOpt = Annotated[bool, typer.Option(
    "--download", help="Fetch mnist, fashion-mnist, kmnist or cifar10 through torchvision (needs the internet).")]
DataSeedOpt = Annotated[int | None, typer.Option(
    "--data-seed", **SEED, help="Seed of a generated set: mnist1d (42 = the published set) or a toy set (default 0).")]
ImageSizeOpt = Annotated[int, typer.Option(
    "--image-size", min=2, max=1024, help="Side in pixels imagefolder images are resized to.")]
NoiseOpt = Annotated[float | None, typer.Option("--noise", help="Noise of a toy set (moons 0.2, circles 0.1, ...).")]
NSamplesOpt = Annotated[int | None, typer.Option("--n-samples", help="Size of a toy set (1000) or of mnist1d (5000).")]
SplitSeedOpt = Annotated[int, typer.Option(
    "--seed", **SEED, help="Split seed, as `train --seed` (train/val/test counts).")]
ValFractionOpt = Annotated[float, typer.Option(
    "--val-fraction", help="Share for validation, as `train --val-fraction`.")]
TestFractionOpt = Annotated[float, typer.Option(
    "--test-fraction", help="Share for test where the set has no official test split, as `train --test-fraction`.")]
DATA_EPILOG = """Examples:

    torchprimer data {cmd} digits{extra}

    torchprimer data {cmd} mnist1d

    torchprimer data {cmd} mnist --data-dir ~/data            # ~/data/MNIST/raw/*-ubyte[.gz]

    torchprimer data {cmd} cifar10 --download

    torchprimer data {cmd} imagefolder:photos --image-size 64

    torchprimer data {cmd} moons --noise 0.3 --n-samples 500

    torchprimer data {cmd} digits --val-fraction 0.2 --test-fraction 0.2   # as train splits with them
"""


def _load_data(ctx: typer.Context, name: str, data_dir: Path | None, download: bool, data_seed: int | None,
               image_size: int, noise: float | None, n_samples: int | None):
    """`data stats`/`data inspect`'s set, after refusing the data options typed that it does not read and
    split shares that `train` would refuse."""
    from torchprimer.data import LoadOptions, check_data_options, load
    from torchprimer.data.registry import ships_test_split
    from torchprimer.data.splits import check_fractions

    splitting = {"val_fraction", "test_fraction"}
    check_data_options(name, {option for option in ctx.params if _on_command_line(ctx, option)} - splitting)
    if ships_test_split(name):
        _refuse_unused(ctx, ["test_fraction"], f"for {name} (it ships its own test split)")
    check_fractions(ctx.params["val_fraction"], ctx.params["test_fraction"])
    options = LoadOptions(data_dir=data_dir, download=download, data_seed=data_seed, image_size=image_size,
                          noise=noise, n_samples=n_samples)
    return load(name, options)


@data_app.command("list", epilog=_examples(
    "Examples:\n\n    torchprimer data list\n\n    torchprimer data list --json"))
def data_list(
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every registered data set: whether it is here now, its size and where it comes from."""
    from torchprimer.data import LoadOptions, sources
    from torchprimer.data.cache import check_data_dir

    options = LoadOptions(data_dir=data_dir)
    check_data_dir(options, "the data sets' folders (MNIST/raw/, cifar-10-batches-py/)",
                   "leave --data-dir out to look in the default folder")
    rows = [
        {"name": s.name + (":PATH" if s.takes_path else ""),
         "available": "needs PATH" if s.takes_path else ("yes" if s.available(options) else "no (--download)"),
         "size": s.size, "source": s.description}
        for s in sources().values()
    ]
    if as_json:
        _print_json(rows)
        return
    w = [max(len(r[k]) for r in rows) for k in ("name", "available", "size")]
    print(f"{'name':<{w[0]}}  {'here':<{w[1]}}  {'size (train/test)':<{w[2]}}  source")
    for r in rows:
        print(f"{r['name']:<{w[0]}}  {r['available']:<{w[1]}}  {r['size']:<{w[2]}}  {r['source']}")


@data_app.command("stats", epilog=_examples(DATA_EPILOG.format(cmd="stats", extra=" --json")))
def data_stats(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Data set name (see `torchprimer data list`).")],
    data_dir: DataDirOpt = None,
    download: DownloadOpt = False,
    data_seed: DataSeedOpt = None,
    image_size: ImageSizeOpt = 32,
    noise: NoiseOpt = None,
    n_samples: NSamplesOpt = None,
    seed: SplitSeedOpt = 0,
    val_fraction: ValFractionOpt = 0.1,
    test_fraction: TestFractionOpt = 0.1,
    as_json: JsonOpt = False,
) -> None:
    """Samples per split, input shape, classes with counts, per-channel mean/std and min/max
    of the training split; for RGB sets (cifar10) the seed's ImageNet constants beside the data's own."""
    from torchprimer.data.stats import dataset_stats, format_stats

    dataset = _load_data(ctx, name, data_dir, download, data_seed, image_size, noise, n_samples)
    stats = dataset_stats(dataset, val_fraction=val_fraction, test_fraction=test_fraction, split_seed=seed)
    if as_json:
        _print_json(stats)
    else:
        print(format_stats(stats))


@data_app.command("inspect", epilog=_examples(DATA_EPILOG.format(cmd="inspect", extra=" --out inspect/digits")))
def data_inspect(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Data set name (see `torchprimer data list`).")],
    out: Annotated[Path | None, typer.Option(
        parser=_output_path, metavar="PATH", help="Folder for the PNGs and summary. [default: inspect/NAME]")] = None,
    data_dir: DataDirOpt = None,
    download: DownloadOpt = False,
    data_seed: DataSeedOpt = None,
    image_size: ImageSizeOpt = 32,
    noise: NoiseOpt = None,
    n_samples: NSamplesOpt = None,
    seed: SplitSeedOpt = 0,
    val_fraction: ValFractionOpt = 0.1,
    test_fraction: TestFractionOpt = 0.1,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (the summary).")] = False,
) -> None:
    """Pictures and linear algebra of a data set (seed §4.2 on real data): samples per class,
    class counts, a PCA scatter (torch.linalg.svd), the covariance eigenvalue spectrum
    (torch.linalg.eigvalsh) before and after standardisation with condition numbers, and the
    covariance by torch.einsum checked against torch.cov."""
    from torchprimer.data import file_slug
    from torchprimer.data.inspection import INSPECT_FILES, inspect_dataset
    from torchprimer.fileio import check_output_folder

    folder = out if out is not None else Path("inspect") / file_slug(name)
    check_output_folder(folder, INSPECT_FILES, flag="--out")  # before the data and the analysis, not after
    dataset = _load_data(ctx, name, data_dir, download, data_seed, image_size, noise, n_samples)
    summary = inspect_dataset(dataset, folder, val_fraction=val_fraction, test_fraction=test_fraction, split_seed=seed)
    if as_json:
        _print_json(summary)
    else:
        print(summary["text"])
        print(f"wrote {', '.join(Path(f).name for f in summary['files'])} to {folder}")


TOUR_EPILOG = """Examples:

    torchprimer tour                  # list the lessons, one per section of the seed

    torchprimer tour 7.2              # the seed's backprop example: its 4.0 is really -2.0

    torchprimer tour --all            # every lesson; exit code 1 if any check fails

    torchprimer tour 1 --lang zh      # 中文 (the default when LANG starts with zh)

    torchprimer tour 4.2 --json
"""


@app.command(epilog=_examples(TOUR_EPILOG))
def tour(
    lesson: Annotated[str | None, typer.Argument(help="Section of the seed, e.g. 4.2; none lists them.")] = None,
    run_all: Annotated[bool, typer.Option("--all", help="Run every lesson.")] = False,
    lang: LangOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every Python snippet of the seed, run and checked (seed §1–§7), in English or Chinese.

    A lesson shows the seed's code as the seed wrote it, runs it (its output or its error),
    shows the corrected code and runs that, then its checks: PASS or FAIL, with the values.
    Exit code 1 when a check fails.
    """
    import time

    from torchprimer import lessons

    language = _language(lang)
    if lesson is not None and run_all:
        raise UserError("give a lesson number or --all, not both", zh="请给出课程编号或 --all，不要两者都给")
    if lesson is None and not run_all:
        if as_json:
            _print_json({"lang": language, "lessons": lessons.listing(language)})
        else:
            sys.stdout.write(lessons.render_listing(language))
        return
    modules = list(lessons.discover().values()) if run_all else [lessons.find(lesson or "")]
    started = time.perf_counter()
    results = []
    for module in modules:
        result = lessons.run_lesson(module)
        results.append(result)
        if not as_json:
            print(lessons.render(result, language), flush=True)
    ok = all(r.ok for r in results)
    if as_json:
        _print_json({"lang": language, "lessons": [lessons.as_json(r, language) for r in results], "ok": ok})
    elif run_all:
        sys.stdout.write(lessons.render_total(results, language, time.perf_counter() - started))
    raise typer.Exit(0 if ok else 1)


COMPARE_EPILOG = """Examples:

    torchprimer compare                           # digits: a fixed rule, classic ML, deep nets

    torchprimer compare --dataset mnist1d --epochs 40

    torchprimer compare --methods logreg,svc,mlp --no-plot --json

    torchprimer compare --dataset npz:tiny.npz --val-fraction 0.2 --test-fraction 0.3

    torchprimer compare --methods logreg,svc,mlp --lang zh   # 中文 (the default when LANG starts with zh)
"""


@app.command(epilog=_examples(COMPARE_EPILOG))
def compare(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option(help="Data set name (see `torchprimer data list`).")] = "digits",
    methods: Annotated[str | None, typer.Option(
        help="Comma-separated: templates (a rule drawn by hand; digits and mnist only), nearest-mean, knn, "
        "logreg, svc, forest, mlp, cnn. "
        "[default: templates (where it applies),nearest-mean,logreg,svc,forest,mlp,cnn]")] = None,
    epochs: Annotated[int, typer.Option(min=1, help="Epochs for the MLP and the CNN.")] = 20,
    seed: Annotated[int, typer.Option(**SEED, help="Seed for the split and the training.")] = 0,
    device: Annotated[str, typer.Option(help=f"Device for the deep nets: {DEVICES}.")] = "cpu",
    test_fraction: Annotated[float, typer.Option(
        help="Share held out for testing where the data set has no official test split.")] = 0.5,
    val_fraction: Annotated[float, typer.Option(
        help="Share for validation (the deep nets keep their best epoch by it).")] = 0.1,
    plot: Annotated[Path | None, typer.Option(
        parser=_output_path, metavar="PATH",
        help="Bar chart PNG (a .png name). [default: runs/compare-DATASET.png]")] = None,
    no_plot: Annotated[bool, typer.Option("--no-plot", help="Write no bar chart.")] = False,
    data_dir: DataDirOpt = None,
    download: DownloadOpt = False,
    lang: LangOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The same data solved by a fixed rule, classic ML and deep learning, side by side (seed §1).

    The fixed rule (digits and mnist) is digit templates drawn by hand: AI that learns nothing from
    data. Every method trains on the same split and is scored on the same test samples: test
    accuracy, training seconds and parameter count, with published figures beside them as
    references. Exit code 1 when the expected ordering (e.g. CNN ahead on MNIST-1D) fails.
    The text is in English or Chinese (--lang); --json is the same in both.
    """

    from torchprimer.compare import DEEP_METHODS, message, parse_methods, render_table
    from torchprimer.compare import compare as run_compare
    from torchprimer.compare import plot as plot_compare
    from torchprimer.data import LoadOptions, check_data_options, file_slug
    from torchprimer.data.registry import ships_test_split
    from torchprimer.fileio import check_output_file

    # Every option that would do nothing, and the chart's path, are refused before any method runs.
    language = _language(lang)  # the text's language; --json is the same in both
    chosen = parse_methods(methods, dataset)
    if not any(name in DEEP_METHODS for name in chosen):
        _refuse_unused(ctx, ["epochs", "device"], f"with --methods {','.join(chosen)} (only "
                       f"{' and '.join(DEEP_METHODS)} train for epochs on a device)",
                       f"在使用 --methods {','.join(chosen)} 时不起作用"
                       f"（只有 {' 和 '.join(DEEP_METHODS)} 会在设备上按轮数训练）")
    check_data_options(dataset, [name for name in ("data_dir", "download") if _on_command_line(ctx, name)])
    if ships_test_split(dataset):
        _refuse_unused(ctx, ["test_fraction"], f"for {dataset} (it ships its own test split)",
                       f"对 {dataset} 不起作用（它自带测试集）")
    default_chart = f"compare-{file_slug(dataset)}.png"
    chart = plot if plot is not None else Path("runs") / default_chart
    if no_plot:
        _refuse_unused(ctx, ["plot"], "with --no-plot", "在使用 --no-plot 时不起作用")
    else:
        check_output_file(chart, "--plot", (".png",), default_chart)

    def progress(name: str) -> None:
        if not as_json:
            print(message("running", language, method=name), file=sys.stderr, flush=True)

    result = run_compare(dataset, methods=chosen, epochs=epochs, seed=seed, device=device,
                         val_fraction=val_fraction, test_fraction=test_fraction, on_method=progress,
                         options=LoadOptions(data_dir=data_dir, download=download))
    if not no_plot:
        result["plot"] = str(plot_compare(result, chart))
    if as_json:
        _print_json(result)
    else:
        sys.stdout.write(render_table(result, language))
        if "plot" in result:
            print("\n" + message("chart", language, path=result["plot"]))
    raise typer.Exit(0 if result["ok"] else 1)


ACTIVATIONS_EPILOG = """Examples:

    torchprimer activations                 # the table, computed from torch

    torchprimer activations --lang zh --plot activations.png

    torchprimer activations --names sigmoid,tanh,relu --json

    torchprimer activations --train         # same deep MLP per activation

    torchprimer activations --train --names sigmoid,relu --depth 12

    torchprimer activations --train --lang zh   # 中文 (the default when LANG starts with zh)
"""


@app.command(epilog=_examples(ACTIVATIONS_EPILOG))
def activations(
    ctx: typer.Context,
    names: Annotated[str | None, typer.Option(
        help="Comma-separated activations. [default: all; with --train: sigmoid,tanh,relu,leaky_relu,gelu]")] = None,
    plot: Annotated[Path | None, typer.Option(
        parser=_output_path, metavar="PATH",
        help="Write a PNG of each function and its derivative here (a .png name; not with --train).")] = None,
    lang: Annotated[str | None, typer.Option(
        help="Language of the text, the table's or --train's report: en or zh (--json is the same in both). "
             "[default: zh when LANG starts with zh, else en]")]
    = None,
    no_cost: Annotated[bool, typer.Option(
        "--no-cost", help="Skip timing forward+backward (faster; not with --train).")] = False,
    train: Annotated[bool, typer.Option("--train", help="Train the same deep MLP once per activation.")] = False,
    depth: Annotated[int, typer.Option(min=1, help="--train: hidden layers.")] = 8,
    width: Annotated[int, typer.Option(min=1, help="--train: units per hidden layer.")] = 64,
    epochs: Annotated[int, typer.Option(min=1, help="--train: epochs per activation.")] = 20,
    lr: Annotated[float, typer.Option(help="--train: learning rate.")] = 1e-3,
    optimizer: Annotated[str, typer.Option(help="--train: sgd, adam or adamw.")] = "adam",
    init: Annotated[str, typer.Option(help="--train: torch (PyTorch's default), kaiming or xavier.")] = "torch",
    dataset: Annotated[str, typer.Option(help="--train: data set (see `torchprimer data list`).")] = "digits",
    seed: Annotated[int, typer.Option(**SEED, help="--train: seed for split, init and data order.")] = 0,
    device: Annotated[str, typer.Option(help=f"--train: {DEVICES}.")] = "cpu",
    out: Annotated[Path | None, typer.Option(
        parser=_output_path, metavar="PATH",
        help="--train: folder for the PNGs and JSON. [default: runs/activations-DATASET-TIME]")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Activation functions compared (seed §7.1): a table computed from torch, plots, a training race.

    Every column but the formula and the cost (a float32 timing) is computed on a dense
    float64 grid from torch's own functions and autograd's derivatives. With --train, the same deep MLP (same data, seed
    and initialisation) is trained once per activation, and the per-layer gradient norms
    show why deep sigmoid networks stop learning. The text is in English or Chinese (--lang); --json is the
    same in both.
    """
    from torchprimer import activations as act
    from torchprimer.fileio import check_output_file, check_output_folder

    language = _language(lang)  # the text's language, and its refusals'; --json is the same in both
    if train:
        from datetime import datetime

        _refuse_unused(ctx, ["plot", "no_cost"], "with --train (these options shape the table; the race "
                       "writes its own pictures into --out)",
                       "在使用 --train 时不起作用（这些选项作用于表格；训练比赛把它自己的图写入 --out）")
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        folder = check_output_folder(out or Path("runs") / f"activations-{dataset.split(':')[0]}-{stamp}",
                                     act.TRAIN_FILES, flag="--out")
        result = act.compare_training(names, depth=depth, width=width, epochs=epochs, lr=lr, optimizer=optimizer,
                                      seed=seed, dataset=dataset, init=init, device=device, out=folder)
        if as_json:
            _print_json(result)
        else:
            print(act.render_training(result, language))
        return
    _refuse_unused(ctx, ["depth", "width", "epochs", "lr", "optimizer", "init", "dataset", "seed", "device", "out"],
                   "without --train (only the training race of --train reads these options)",
                   "不加 --train 时不起作用（只有 --train 的训练比赛读取这些选项）")
    lang = language
    if plot is not None:
        check_output_file(plot, "--plot", (".png",), "activations.png")
    rows = act.activation_table(names, cost=not no_cost)
    written = str(act.plot_functions(names, plot, lang=lang)) if plot is not None else None
    if as_json:
        _print_json({"rows": rows, "plot": written})
    else:
        print(act.render_table(rows, lang))
        if written:
            print(f"\n图像：{written}" if lang == "zh" else f"\nplot: {written}")


BACKPROP_EPILOG = """Examples:

    torchprimer backprop                    # the seed's example: dloss/dw = -2.0

    torchprimer backprop --x 1.5 --w -0.3 --activation tanh --y 0.5

    torchprimer backprop --loss ce --y 1 --json   # w·x + b is the logit; ce applies the sigmoid

    torchprimer backprop --lang zh          # 中文 (the default when LANG starts with zh)
"""


@app.command(epilog=_examples(BACKPROP_EPILOG))
def backprop(
    x: Annotated[float, typer.Option(help="Input.")] = 2.0,
    y: Annotated[float | None, typer.Option(
        help="Target: 3.0 by default (the seed's); with --loss ce a probability in [0, 1], 1 by default.")] = None,
    w: Annotated[float, typer.Option(help="Weight.")] = 1.0,
    b: Annotated[float, typer.Option(help="Bias.")] = 0.5,
    activation: Annotated[str | None, typer.Option(help="Apply a = f(wx + b), e.g. sigmoid, tanh, relu.")] = None,
    loss: Annotated[str, typer.Option(help="mse: (out - y)^2; ce: binary cross-entropy with out as logit.")] = "mse",
    lang: LangOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The chain rule step by step (seed §7.2): forward values, local derivatives, products, autograd beside.

    Exit code 1 if the hand-computed gradients and autograd's disagree.
    """
    from torchprimer.autodiff import scalar

    language = _language(lang)  # tour 7.2 in Chinese sends its readers here

    target = y if y is not None else (1.0 if loss == "ce" else 3.0)
    result = scalar.worked_example(x=x, y=target, w=w, b=b, activation=activation, loss=loss)
    if as_json:
        _print_json(result)
    else:
        print(scalar.render(result, lang=language))
    raise typer.Exit(0 if result["match"] else 1)


SHAPE_OPTIONS = "--hidden shapes an mlp only, --activation an mlp or a cnn"  # gradcheck's and graph's refusals
SHAPE_OPTIONS_ZH = "--hidden 只用于 mlp，--activation 用于 mlp 或 cnn"

GRADCHECK_EPILOG = """Examples:

    torchprimer gradcheck                   # MLP 32 relu on 8 digits samples

    torchprimer gradcheck --hidden 64,32 --activation gelu --loss mse

    torchprimer gradcheck --model cnn --batch 4    # autograd vs finite diff

    torchprimer gradcheck --model neuron --dataset moons   # binary cross-entropy

    torchprimer gradcheck --module mypackage.layers:MyLayer --json

    torchprimer gradcheck --lang zh         # 中文 (the default when LANG starts with zh)
"""


@app.command(epilog=_examples(GRADCHECK_EPILOG))
def gradcheck(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="neuron, linear, mlp or cnn.")] = "mlp",
    hidden: Annotated[str, typer.Option(help="Hidden layer sizes of --model mlp, e.g. 32 or 64,32.")] = "32",
    activation: Annotated[str, typer.Option(help="Activation of --model mlp or cnn.")] = "relu",
    dataset: Annotated[str, typer.Option(help="Data set whose first training samples form the batch.")] = "digits",
    batch: Annotated[int, typer.Option(min=1, help="Samples in the batch.")] = 8,
    loss: Annotated[str, typer.Option(
        help="ce (softmax cross-entropy) or mse (against one-hot); the neuron always uses binary cross-entropy, "
        "and a --module whose output is not (N, classes) scores is checked on a random projection of it.")]
    = "ce",
    module: Annotated[str | None, typer.Option(
        help="Check your own nn.Module instead: package.module:Name, called with no arguments.")] = None,
    entries: Annotated[int, typer.Option(min=1, help="Most entries per tensor checked by finite differences.")] = 256,
    seed: Annotated[int, typer.Option(**SEED, help="Seed for the model's initial weights.")] = 0,
    lang: LangOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check gradients three ways in float64: manual backprop, autograd, central finite differences.

    Prints the max absolute and relative error per parameter tensor. Exit code 1 when any
    error is above tolerance.
    """
    import torch

    from torchprimer.autodiff import check

    language = _language(lang)
    if module is not None:
        _refuse_unused(ctx, ["model", "hidden", "activation"], "with --module (your module builds itself)",
                       "在使用 --module 时不起作用（你的模块自己构建网络）")
    else:
        _refuse_unused(ctx, check.unused_shape_options(model), f"with --model {model} ({SHAPE_OPTIONS})",
                       f"在使用 --model {model} 时不起作用（{SHAPE_OPTIONS_ZH}）")
        if model == "neuron":
            _refuse_unused(ctx, ["loss"], "with --model neuron (it is checked on binary cross-entropy, as it trains)",
                           "在使用 --model neuron 时不起作用（它按训练时所用的二元交叉熵来检查）")
    torch.manual_seed(seed)
    if module is not None:
        net, what, shown = check.load_module(module), module, module
        check.require_parameters(net)  # before loading any data
        _, x, y = check.sample_batch(dataset, batch)
    else:
        net, x, y = check.sample_batch(dataset, batch, model, hidden=hidden, activation=activation,
                                       for_gradcheck=True)
        what, shown = check.describe(model, hidden, activation), check.describe(model, hidden, activation, language)
    report = check.gradcheck(net, x, y, loss=loss, max_coords=entries)
    if report["loss"] not in check.LOSSES:  # --module's output decided the scalar checked; a typed --loss was not it
        binary = report["loss"] == check.BINARY_LOSS
        why = ("its one sigmoid output is checked on binary cross-entropy, as it trains" if binary else
               "its output is not (N, classes) scores, so the gradient checked is that of a fixed random projection "
               "of the output, not of a loss")
        why_zh = ("它唯一的 sigmoid 输出按训练时所用的二元交叉熵来检查" if binary else
                  "它的输出不是 (N, classes) 形状的分数，所以检查的是输出的一个固定随机投影的梯度，"
                  "而不是某个损失的梯度")
        _refuse_unused(ctx, ["loss"], f"with --module {module} ({why})",
                       f"在使用 --module {module} 时不起作用（{why_zh}）")
    if as_json:
        _print_json({"model": what, "dataset": dataset, **report})
    else:
        print(check.render(report, check.title(shown, len(x), dataset, report["loss"], language), language))
    raise typer.Exit(0 if report["ok"] else 1)


GRAPH_EPILOG = """Examples:

    torchprimer graph                       # the seed's (wx + b - y)^2

    torchprimer graph --out graph.dot       # .png/.svg need Graphviz

    torchprimer graph --model neuron --dataset moons   # binary cross-entropy, as training uses

    torchprimer graph --model mlp --hidden 16,16 --activation tanh --out mlp.png

    torchprimer graph --lang zh             # 中文 (the default when LANG starts with zh)
"""


@app.command(epilog=_examples(GRAPH_EPILOG))
def graph(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option(
        help="A model's loss graph instead of the seed's example: neuron, linear, mlp or cnn.")] = None,
    hidden: Annotated[str | None, typer.Option(help="Hidden layer sizes for --model mlp. [default: 16]")] = None,
    activation: Annotated[str | None, typer.Option(
        help="Activation for --model mlp or cnn. [default: relu]")] = None,
    dataset: Annotated[str | None, typer.Option(
        help="Data set that shapes --model's input. [default: digits]")] = None,
    out: Annotated[Path | None, typer.Option(
        parser=_output_path, metavar="PATH",
        help="Write the graph here, and only here: .dot (or .gv) as text, .png/.svg drawn by Graphviz. "
        "Without Graphviz a .png/.svg is not written: the DOT text goes to NAME.dot if no such file exists.")] = None,
    lang: LangOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object: nodes and edges.")] = False,
) -> None:
    """Draw the autograd graph by walking grad_fn.next_functions from the loss (seed §7.2).

    Each node is a backward function; leaves (AccumulateGrad) are the tensors that get a
    .grad. loss.backward() runs the chain rule over exactly this graph. A --model's loss is
    the one its training uses: cross-entropy, or for the neuron binary cross-entropy.
    """
    from torchprimer.autodiff import graph as tpgraph
    from torchprimer.fileio import check_output_file

    language = _language(lang)
    if out is not None:
        check_output_file(out, "--out", tpgraph.OUT_SUFFIXES, "graph.dot")
    if model is None:
        given = [f"--{name}" for name, value in (("hidden", hidden), ("activation", activation),
                                                  ("dataset", dataset)) if value is not None]
        if given:
            verb, pronoun = ("shapes", "it") if len(given) == 1 else ("shape", "them")
            raise UserError(f"{' and '.join(given)} only {verb} the graph of a --model: add one, e.g. --model mlp, "
                            f"or leave {pronoun} out to draw the seed's example",
                            zh=f"{' 和 '.join(given)} 只作用于 --model 的计算图：请加上一个，例如 --model mlp，"
                               f"或者去掉{'它' if len(given) == 1 else '它们'}来画原文的例子")
        loss, names = tpgraph.seed_example_graph()
    else:
        from torchprimer.autodiff.check import sample_batch, unused_shape_options

        _refuse_unused(ctx, unused_shape_options(model), f"with --model {model} ({SHAPE_OPTIONS})",
                       f"在使用 --model {model} 时不起作用（{SHAPE_OPTIONS_ZH}）")
        for flag, value in (("--hidden", hidden), ("--activation", activation), ("--dataset", dataset)):
            if value is not None and not value.strip():  # "" had meant the default, silently
                raise UserError(f"{flag} is empty; give a value or leave {flag} out for its default",
                                zh=f"{flag} 为空；请给出一个值，或去掉 {flag} 以使用默认值")
        net, x, y = sample_batch(dataset or "digits", 4, model, hidden=hidden or "16",
                                 activation=activation or "relu")
        loss, names = tpgraph.model_graph(net, x, y)
    walked = tpgraph.walk(loss, names)
    files = [str(p) for p in tpgraph.write_graph(walked, out, language)] if out is not None else []
    if as_json:
        _print_json({**walked, "files": files})
    else:
        print(tpgraph.text_tree(walked, language))
        print("\n" + tpgraph.legend(language))
        if files:
            print(tpgraph.wrote(files, language))


BENCH_EPILOG = """Examples:

    torchprimer bench                         # batch 64, 1 epoch, 3 repeats

    torchprimer bench --batch-size 512 --json

    torchprimer bench --threads 1 --repeats 5 # every part on one core

    torchprimer bench --data-dir ~/data       # real files in ~/data/MNIST/raw

    torchprimer bench --parts torchprimer,floor --epochs 3

    torchprimer bench --batch-size 512 --parts torchprimer,floor,breakdown   # where the epoch goes beyond the floor

    torchprimer bench --target 0.97 --dataset digits    # time to 97% test accuracy, default vs fast recipe

    torchprimer bench --target 0.55 --dataset mnist1d --json

    torchprimer bench --device cuda           # adds --no-cuda-graph and the conv net (AMP, channels_last)

    torchprimer bench --device cuda --parts conv --conv-batch 1024
"""


@app.command(epilog=_examples(BENCH_EPILOG))
def bench(
    ctx: typer.Context,
    batch_size: Annotated[int, typer.Option(min=1, help="Samples per step, for every part but conv.")] = 64,
    epochs: Annotated[int, typer.Option(min=1, help="Epochs per repeat (seed, torchprimer, eager).")] = 1,
    repeats: Annotated[int, typer.Option(min=1, help="Runs of each part, the minimum and median reported (conv "
                                         "runs once); with --target: seeds per recipe.")] = 3,
    model: Annotated[str, typer.Option(help="mlp (the seed's 784-128-10) or linear.")] = "mlp",
    hidden: Annotated[str, typer.Option(help="Hidden layer sizes for --model mlp (linear has none).")] = "128",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "cpu",
    data_dir: Annotated[Path | None, typer.Option(
        help="Folder holding MNIST/raw/ with real IDX files (gzipped ones are unpacked beside them, as "
             "torchvision reads them).")] = None,
    samples: Annotated[int, typer.Option(help="Training images to generate (at least 50); not with --data-dir, "
                                         "whose files set them.")] = 60_000,
    threads: Annotated[int | None, typer.Option(min=1, help="Intra-op threads for every part (with --target, every "
                                                "run), at most 1024. [default: torch's]")] = None,
    parts: Annotated[str, typer.Option(help="Which of seed,torchprimer,floor,eager,breakdown,conv to time (eager: "
                                         "torchprimer with --no-cuda-graph; breakdown: torchprimer's CPU epoch built "
                                         "up from the floor piece by piece; conv: the GPU section; eager and conv "
                                         "are added by default on cuda).")] = "seed,torchprimer,floor",
    target: Annotated[float | None, typer.Option(help="Time to this test accuracy in (0, 1] instead, e.g. 0.97: "
                                                 "default vs fast recipe on --dataset, over --repeats seeds; with "
                                                 "--dataset, --repeats, --device, --threads, --max-epochs and --json "
                                                 "only (the other options are refused).")] = None,
    dataset: Annotated[str | None, typer.Option(help="digits or mnist1d, with --target. [default: digits]")] = None,
    max_epochs: Annotated[int, typer.Option(min=1, help="With --target: the most epochs any recipe runs.")] = 30,
    conv_images: Annotated[int, typer.Option(min=1, help="Synthetic 3x32x32 images for the conv part.")] = 50_000,
    conv_batch: Annotated[int, typer.Option(min=1, help="Images per step for the conv part.")] = 256,
    as_json: JsonOpt = False,
) -> None:
    """Time the seed's §6.2 loop, torchprimer's training and the compute floor, in one process.

    Same data, model (784-128-10 MLP), Adam lr 1e-3, batch size and epochs for all three.
    The seed's loop is fed as the seed implies (torchvision MNIST, ToTensor + Normalize,
    DataLoader with shuffle); torchprimer's epochs count training steps only (its validation
    pass and data loading are shown apart); the floor is the forward and backward matrix
    multiplications alone. Without --data-dir it writes MNIST-size IDX files to a temporary
    folder and removes them. On a shared machine, compare minima and use --repeats.
    An option that would change nothing (--conv-batch without the conv part, the MNIST
    options with --target, --max-epochs without it) is refused rather than ignored.
    """
    from torchprimer.bench import (
        BenchOptions,
        check_device,
        render,
        render_tta,
        run_bench,
        settle_parts,
        time_to_accuracy,
        unused_options,
    )
    from torchprimer.models import parse_hidden

    log = None if as_json else lambda line: print(line, file=sys.stderr, flush=True)
    if target is not None:
        _refuse_unused(ctx, ["batch_size", "epochs", "samples", "parts", "conv_batch", "conv_images", "model",
                             "hidden", "data_dir"],
                       "with --target (time to accuracy trains its own recipes on --dataset)")
        # time_to_accuracy checks every option and the device before its first progress line
        found = time_to_accuracy(dataset or "digits", target, max_epochs=max_epochs, repeats=repeats, device=device,
                                 threads=threads, log=log)
        if as_json:
            _print_json(found)
        else:
            print(render_tta(found))
        return
    if dataset is not None:
        raise UserError(f"--dataset {dataset} goes with --target (time to accuracy), e.g. --target 0.97")
    _refuse_unused(ctx, ["max_epochs"], "without --target (it bounds a time-to-accuracy run)")
    if data_dir is not None:
        _refuse_unused(ctx, ["samples"], "with --data-dir (its files set the samples)")
    if model == "linear":
        _refuse_unused(ctx, ["hidden"], "with --model linear (it has no hidden layer)")
    chosen = settle_parts(tuple(p.strip() for p in parts.split(",") if p.strip()), check_device(device))
    for name, users in unused_options(chosen).items():
        verb = "uses" if len(users) == 1 else "use"
        _refuse_unused(ctx, [name], f"with --parts {','.join(chosen)} (only {', '.join(users)} {verb} it)")

    opts = BenchOptions(
        batch_size=batch_size, epochs=epochs, repeats=repeats, model=model, hidden=parse_hidden(hidden),
        device=device, data_dir=str(data_dir) if data_dir is not None else None, n_train=samples,
        n_test=max(1, samples // 6), threads=threads, conv_images=conv_images, conv_batch=conv_batch, parts=chosen,
    )
    report = run_bench(opts, log=log)
    if as_json:
        _print_json(report)
    else:
        print(render(report))


UI_EPILOG = """Examples:

    torchprimer ui                            # opens http://127.0.0.1:8765/ in your browser

    torchprimer ui --port 9000 --no-browser   # then open the printed address yourself

    torchprimer ui --out my-runs              # "save run" writes run folders here

    torchprimer ui --host 0.0.0.0 --allow-remote   # reachable from other machines (prints a warning)
"""


@app.command(epilog=_examples(UI_EPILOG))
def ui(
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8765,
    host: Annotated[str, typer.Option(help="Address to bind; anything but loopback needs --allow-remote.")]
    = "127.0.0.1",
    out: Annotated[Path, typer.Option(parser=_output_path, metavar="PATH",
                                      help="Folder where the page's 'save run' writes run folders.")] = Path("runs"),
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open a browser tab.")] = False,
    allow_remote: Annotated[bool, typer.Option("--allow-remote", help="Allow a --host other than loopback.")]
    = False,
) -> None:
    """The playground: build, train and watch networks in a local web page, on real PyTorch.

    Toy 2-D sets (moons, circles, spirals, xor, blobs) show the decision boundary and every
    hidden unit's output as it learns; image and signal sets show the confusion matrix and
    test predictions. "Export code" gives the equivalent stand-alone script; "save run"
    writes a run folder that `torchprimer evaluate` reads. Needs: pip install 'torchprimer[ui]'.
    """
    try:
        from torchprimer.ui.server import serve
    except ImportError as exc:
        raise UserError(f"the playground needs FastAPI and uvicorn ({exc.name} is missing): "
                        "pip install 'torchprimer[ui]'") from None
    serve(host, port, out, open_browser=not no_browser, allow_remote=allow_remote)


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _command_path(command: Any, argv: list[str]) -> str:
    """'torchprimer data stats' from the words of argv that name commands: click's parser errors (an option
    missing its value) carry no context, and their advice should still name the subcommand's --help."""
    words = ["torchprimer"]
    for word in argv:
        commands = getattr(command, "commands", None)
        if not commands or word not in commands:
            break
        command = commands[word]
        words.append(word)
    return " ".join(words)


def _warning_line(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  line: str | None = None) -> str:
    """torchprimer's own warnings as one line, `warning: ...`, as its errors are: Python's form adds the
    file and the source line that raised it, which tell a user of the command nothing. Other libraries'
    warnings keep that form, where the file says whose warning it is."""
    if Path(filename).resolve().is_relative_to(Path(__file__).resolve().parent):
        return f"warning: {_one_line(str(message))}\n"
    return _python_warning(message, category, filename, lineno, line)


_python_warning = warnings.formatwarning


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the command, turning user errors into one line and exit code 2."""
    warnings.formatwarning = _warning_line
    # SIGTERM stops a command as Ctrl-C does: train writes its status and says how to go on, bench removes
    # its temporary data, instead of dying without a word.
    with sigterm_as_ctrl_c():
        try:  # typer reads every command's annotations here (a quarter second): a stop is one word here too
            command = typer.main.get_command(app)
        except KeyboardInterrupt:
            exit_stopped()
        _run(command, argv)


def _run(command: Any, argv: list[str] | None) -> None:
    speak("en")  # until the command chooses its language (_language); main may run again in one process
    try:
        code = command.main(args=argv, prog_name="torchprimer", standalone_mode=False)
        stop_if_asked()  # a stop the command finished in spite of (lost in its last moments) still stops it
    except UserError as exc:
        _refuse(exc)
    except TrainingDiverged as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        sys.exit(1)
    except typer.TyperException as exc:  # click's usage errors: unknown option, bad value
        ctx = getattr(exc, "ctx", None)
        words = sys.argv[1:] if argv is None else argv
        where = ctx.command_path if ctx is not None else _command_path(command, words)
        message = _one_line(exc.format_message())
        chinese = usage_in_chinese(message) if message and _parser_language(where, words) == "zh" else None
        if chinese:
            print(f"error: {chinese}；请看 '{where} --help'", file=sys.stderr)
        elif message:  # empty after a bare `torchprimer` or `torchprimer data`: the help above says it all
            print(f"error: {message} (see '{where} --help')", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 2))
    except Exception as exc:  # the machine's refusals (os_refusal), or under DDP a peer that died or hung: one line
        if stop_asked():  # Ctrl-C inside an import left numpy half made: a RecursionError, not the stop, came up
            exit_stopped()
        from torchprimer.fileio import os_refusal

        refusal = os_refusal(exc) if isinstance(exc, OSError) else None  # a path of 5,000 characters, no permission
        if refusal is not None:
            _refuse(refusal)
        from torchprimer.training.distributed import failure_message

        message = failure_message(exc)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)
    except (KeyboardInterrupt, typer.Abort):
        exit_stopped()
    if code == 130:  # Ctrl-C, which typer turns into a silent exit 130
        exit_stopped()
    sys.exit(code if isinstance(code, int) else 0)


def _refuse(exc: UserError) -> NoReturn:
    """Bad input: one line on stderr, in the language the command chose, and exit code 2."""
    print(f"error: {_one_line(exc.in_language(spoken()))}", file=sys.stderr)
    sys.exit(2)


SPEAKING = ("tour", "compare", "activations", "backprop", "gradcheck", "graph")  # the commands with --lang


def _parser_language(where: str, words: list[str]) -> str:
    """The language a command would have chosen, read off the words as typed: its option parser refuses
    before the command runs and resolves --lang. A --lang that is neither en nor zh counts as not given."""
    import os

    from torchprimer.lessons.runner import LANGS, default_lang

    if [*where.split(), ""][1] not in SPEAKING:  # "torchprimer compare" -> compare; a bare "torchprimer" too
        return "en"
    for i, word in enumerate(words):
        value = words[i + 1] if word == "--lang" and i + 1 < len(words) else word.partition("--lang=")[2]
        if value in LANGS:
            return value
    return default_lang(dict(os.environ))


