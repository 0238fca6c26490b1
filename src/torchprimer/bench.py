"""`torchprimer bench`: the seed's loop, torchprimer's loop and the compute floor, in one process.

Three measurements on the same MNIST-format files, model, optimiser and batch size:

- seed: the §6.2 loop exactly as written, fed the way the seed implies (torchvision's
  MNIST with ToTensor + Normalize per sample, a DataLoader with shuffle=True);
- torchprimer: `torchprimer.train`, timed per epoch over its training steps only (its
  validation pass and its data loading are timed and shown apart, never hidden);
- floor: the matrix multiplications one training step cannot avoid (forward and backward
  GEMMs of every linear layer) timed alone, scaled to an epoch's samples.

On CUDA two more by default: `eager` is torchprimer with `--no-cuda-graph` (each step launched
kernel by kernel, where torchprimer's default replays its forward and backward as one CUDA graph)
and `conv` is the GPU section (a CIFAR-sized conv net, AMP, channels_last). On the CPU,
`breakdown` builds torchprimer's CPU epoch up from the floor one piece at a time (each step's own
batch, the other kernels, Adam, the loop), to show where the time beyond the floor goes.

Times are wall-clock; each part is repeated and the minimum and median are reported,
because on a shared machine the minimum is the figure least disturbed by other work. A round
of the floor also runs after each of torchprimer's repeats, so both are sampled over the same
minutes rather than one after the other.
With no --data-dir the files are MNIST-size IDX files written to a temporary folder
(speed does not depend on pixel values) and removed afterwards.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import math
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from torchprimer.errors import UserError
from torchprimer.models import TRAINING_BYTES_PER_PARAMETER, ModelSpec, parameter_count, physical_memory
from torchprimer.training.run import check_threads

SEED_MEAN, SEED_STD = (0.1307,), (0.3081,)  # the normalisation the seed's MNIST readers use
MODELS = ("mlp", "linear")
PARTS = ("seed", "torchprimer", "floor")
MIN_SAMPLES = 50  # generated training images: 5 a class, so that each class lends one to validation
# eager: torchprimer with --no-cuda-graph and conv: the GPU section, both added by default on CUDA;
# breakdown: where torchprimer's CPU epoch goes beyond the floor
ALL_PARTS = (*PARTS, "eager", "breakdown", "conv")
CUDA_PARTS = (*PARTS, "eager", "conv")
IMAGE_SIDE = 28
CLASSES = 10
TIMED = (
    "seed: each epoch's loop over its DataLoader (per-sample ToTensor+Normalize, collation, shuffling) "
    "and its steps, as the seed runs them; torchprimer: each epoch's training steps (shuffle, batches, "
    "forward, backward, optimiser, metrics, divergence check); its validation pass and data loading are "
    "shown apart and not in s/epoch; floor: forward+backward GEMMs of every linear layer alone, per sample "
    "x the epoch's samples. Ratios use samples per second, since torchprimer trains on its training split "
    "(the rest of the training files is validation)."
)


@dataclass
class BenchOptions:
    """What to measure; the defaults are the seed's recipe on MNIST-size data, one epoch."""

    batch_size: int = 64
    epochs: int = 1
    repeats: int = 3
    model: str = "mlp"
    hidden: tuple[int, ...] = (128,)
    device: str = "cpu"
    data_dir: str | None = None
    n_train: int = 60_000
    n_test: int = 10_000
    threads: int | None = None
    parts: tuple[str, ...] = PARTS
    seed: int = 0
    conv_images: int = 50_000
    conv_batch: int = 256
    extra: dict[str, Any] = field(default_factory=dict)


def check_device(name: str) -> torch.device:
    """The device the bench runs on, resolved (auto) and checked: the bench times cpu or cuda."""
    from torchprimer.training.config import resolve_device

    device = resolve_device(name)
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"bench times cpu or cuda, not {device.type}; use --device cpu or --device cuda")
    return device


def check_options(opts: BenchOptions) -> None:
    """Raise UserError naming the first bad option, before any file is written."""
    for name in ("batch_size", "epochs", "repeats"):
        value = getattr(opts, name)
        if not isinstance(value, int) or value < 1:
            raise UserError(f"--{name.replace('_', '-')} {value} must be a whole number of at least 1")
    if opts.model not in MODELS:
        raise UserError(f"bench --model {opts.model!r} is not one it can time; use one of {', '.join(MODELS)}")
    if not opts.hidden or any(h < 1 for h in opts.hidden):
        raise UserError(f"--hidden {opts.hidden} needs layer sizes of at least 1, e.g. 128")
    check_threads(opts.threads)
    # train's split keeps a tenth of each class for validation, rounded: up to 4 rows a class (the
    # generated labels cycle through 10 classes) leave it empty, an error only after the seed's loop ran
    if opts.data_dir is None and (opts.n_train < MIN_SAMPLES or opts.n_test < 1):
        raise UserError(f"--samples {opts.n_train} is too few to split; use at least {MIN_SAMPLES}")
    check_parts(opts.parts)
    if opts.conv_images < 1 or opts.conv_batch < 1:
        raise UserError(f"--conv-images {opts.conv_images} and --conv-batch {opts.conv_batch} must be at least 1")
    if opts.data_dir is not None:
        from torchprimer.data.mnist import FILES, missing_files

        raw = Path(opts.data_dir).expanduser() / "MNIST" / "raw"
        missing = missing_files(raw)  # the test files too: torchprimer's part tests on them
        if missing:
            what = "no MNIST IDX files" if len(missing) == 2 * len(FILES) else f"no {', '.join(missing)}"
            raise UserError(
                f"--data-dir {opts.data_dir}: {what} in {raw}; pass the folder that holds MNIST/raw/ with its four "
                f"files (torchvision's layout), or leave --data-dir out to time MNIST-size generated files"
            )


def check_parts(parts: tuple[str, ...]) -> None:
    """Every name in `parts` one the bench knows, and at least one: a typo would time nothing."""
    unknown = [p for p in parts if p not in ALL_PARTS]
    if unknown or not parts:
        raise UserError(f"unknown bench part(s) {unknown or '(none)'}; choose from {', '.join(ALL_PARTS)}")


def settle_parts(parts: tuple[str, ...], device: torch.device) -> tuple[str, ...]:
    """The parts a run times: those asked for, checked; on CUDA eager and conv join the default three."""
    check_parts(parts)
    return CUDA_PARTS if device.type == "cuda" and tuple(parts) == PARTS else tuple(parts)


# The parts each option shapes (--threads and --device shape every part). An option typed although
# no part asked for uses it would change nothing, so the CLI refuses it instead of ignoring it.
MNIST_PARTS = frozenset({"seed", "torchprimer", "eager", "breakdown"})  # the parts that read MNIST files
OPTION_PARTS: dict[str, frozenset[str]] = {
    "batch_size": MNIST_PARTS | {"floor"}, "model": MNIST_PARTS | {"floor"}, "hidden": MNIST_PARTS | {"floor"},
    "samples": MNIST_PARTS | {"floor"},  # the floor alone is scaled to the epoch of --samples
    "data_dir": MNIST_PARTS,
    "epochs": frozenset({"seed", "torchprimer", "eager"}),  # breakdown times one epoch a round, the floor one epoch
    "repeats": MNIST_PARTS,  # the floor has its own rounds, conv runs once
    "conv_images": frozenset({"conv"}), "conv_batch": frozenset({"conv"}),
}


def unused_options(parts: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Options (parameter names) that none of `parts` uses, each with the parts that would use it."""
    return {name: tuple(p for p in ALL_PARTS if p in users)
            for name, users in OPTION_PARTS.items() if not users & set(parts)}


# Lower bounds of what the parts allocate, in bytes: a size far past the machine's memory would
# otherwise fail deep inside numpy or torch as a traceback, after minutes of other parts.
SAMPLE_BYTES = 5 * IMAGE_SIDE * IMAGE_SIDE  # a generated image in its file (uint8) and in torchprimer (float32)
CONV_IMAGE_BYTES = 3 * 32 * 32 + 8  # a resident uint8 image and its int64 label
CONV_ACTIVATION_BYTES = 2 * 150_000  # one image's activations in the conv net, at two bytes (AMP) a value


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def check_memory(opts: BenchOptions, device: torch.device) -> None:
    """Refuse sizes whose data alone cannot fit in this machine's memory (or the GPU's, for conv)."""
    memory = physical_memory()
    parts = set(opts.parts)
    if memory is not None and opts.data_dir is None and parts & MNIST_PARTS:
        need = SAMPLE_BYTES * (opts.n_train + opts.n_test)
        if need > memory:
            raise UserError(f"--samples {opts.n_train:,} needs at least {_gib(need)} of memory for the generated "
                            f"images, more than this machine's {_gib(memory)}; use fewer, e.g. 60000 (MNIST's size)")
    if memory is not None and parts & OPTION_PARTS["batch_size"]:
        widths = layer_sizes(opts)
        spec = ModelSpec(name=opts.model, hidden=tuple(opts.hidden))
        params = parameter_count(spec, (1, IMAGE_SIDE, IMAGE_SIDE), CLASSES)
        # the training state, as build_model counts it; one batch's inputs, outputs and their gradients per layer
        need = TRAINING_BYTES_PER_PARAMETER * params + 8 * opts.batch_size * sum(widths)
        if need > memory:
            raise UserError(f"--batch-size {opts.batch_size:,} with layers {'-'.join(map(str, widths))} needs at "
                            f"least {_gib(need)} of memory, more than this machine's {_gib(memory)}; "
                            "use a smaller --batch-size or --hidden")
    if "conv" in parts:
        batch = min(opts.conv_batch, opts.conv_images)
        host = CONV_IMAGE_BYTES * opts.conv_images + (CONV_ACTIVATION_BYTES * batch if device.type == "cpu" else 0)
        checks = [("this machine's", host, memory)]
        if device.type == "cuda" and torch.cuda.is_available():
            gpu = torch.cuda.get_device_properties(device).total_memory
            checks.append(("the GPU's", CONV_IMAGE_BYTES * opts.conv_images + CONV_ACTIVATION_BYTES * batch, gpu))
        for where, need, have in checks:
            if have is not None and need > have:
                raise UserError(f"--conv-images {opts.conv_images:,} with --conv-batch {opts.conv_batch:,} needs at "
                                f"least {_gib(need)} of memory, more than {where} {_gib(have)}; "
                                "use fewer --conv-images or a smaller --conv-batch")


def _no_room(where: str | Path, exc: OSError) -> str:
    return (f"cannot write the bench's generated MNIST files in {where}: {exc.strerror or exc}; free some "
            "space there, set TMPDIR to a folder with room, or pass --data-dir with MNIST files")


@contextlib.contextmanager
def _temporary_folder() -> Iterator[str]:
    """A temporary folder removed on exit, with a missing or unwritable TMPDIR as one line."""
    try:
        folder = tempfile.TemporaryDirectory(prefix="torchprimer-bench-")
    except OSError as exc:
        # not gettempdir() here: where no temporary folder is usable it raises again, the error it reports
        raise UserError(_no_room(exc.filename or "a temporary folder", exc)) from None
    with folder as tmp:
        yield tmp


@contextlib.contextmanager
def mnist_files(opts: BenchOptions) -> Iterator[Path]:
    """The data root (holding MNIST/raw/): the user's, or generated files in a temporary folder
    that is removed on exit, so the bench leaves nothing behind."""
    from torchprimer.data.synthetic import write_mnist

    with _temporary_folder() as tmp:
        if opts.data_dir is not None:
            root = Path(opts.data_dir).expanduser()
        else:
            root = Path(tmp) / "data"
            try:
                write_mnist(root, n_train=opts.n_train, n_test=opts.n_test, seed=opts.seed)
            except OSError as exc:  # a full or read-only /tmp: the partial files go with the folder
                raise UserError(_no_room(tmp, exc)) from None
        # torchprimer's loaders may cache parsed tensors; keep that cache inside the temporary folder.
        saved = os.environ.get("TORCHPRIMER_CACHE")
        os.environ["TORCHPRIMER_CACHE"] = str(Path(tmp) / "cache")
        try:
            yield root
        finally:
            if saved is None:
                os.environ.pop("TORCHPRIMER_CACHE", None)
            else:
                os.environ["TORCHPRIMER_CACHE"] = saved


def check_files(root: Path) -> None:
    """Check the user's MNIST files with torchprimer's own loader (headers, lengths, counts that agree,
    labels 0-9), unpacking .gz files beside them as torchvision's download does, since torchvision's
    MNIST (the seed's reader) reads only uncompressed files. A damaged file is then one line before
    any part runs, not a traceback from inside the seed's DataLoader."""
    from torchprimer.data.mnist import REFETCH, read_checked
    from torchprimer.data.registry import LoadOptions
    from torchprimer.data.splits import split_indices

    try:
        dataset = read_checked("mnist", LoadOptions(data_dir=root))
    except UserError as exc:  # the loader's advice names train's --download, which bench lacks
        refetch = f"delete it, then download it again (`torchprimer data stats mnist --download --data-dir {root}`)"
        raise UserError(str(exc).replace(REFETCH, refetch)) from None
    if any(len(part) == 0 for part in split_indices(dataset)[:2]):  # as torchprimer's part will split it
        raise UserError(f"--data-dir {root}: {len(dataset.y):,} training images are too few for train's "
                        "validation split; pass a folder with MNIST's own files (60,000)")


def layer_sizes(opts: BenchOptions) -> list[int]:
    """Widths from input to output: 784-128-10 for the seed's MLP."""
    widths = [IMAGE_SIDE * IMAGE_SIDE]
    if opts.model == "mlp":
        widths += list(opts.hidden)
    return [*widths, CLASSES]


def model_hidden(opts: BenchOptions) -> tuple[int, ...] | None:
    """--hidden as torchprimer's config takes it: None for the linear model, which refuses hidden sizes."""
    return tuple(opts.hidden) if opts.model == "mlp" else None


def seed_model(opts: BenchOptions) -> nn.Module:
    """The seed's §6.2 model: nn.Sequential(Linear(784, 128), ReLU(), Linear(128, 10)) by default."""
    widths = layer_sizes(opts)
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
        if i:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(fan_in, fan_out))
    return nn.Sequential(*layers)


def time_seed(root: Path, opts: BenchOptions, device: torch.device, log: Callable[[str], None]) -> dict[str, Any]:
    """The seed's loop as written (its print goes to a buffer); one list of epoch times per repeat.

    On CUDA the only change is moving each batch to the device, which the seed leaves out.
    """
    import torchvision
    from torchvision import transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(SEED_MEAN, SEED_STD)])
    started = time.perf_counter()
    train_set = torchvision.datasets.MNIST(str(root), train=True, transform=transform, download=False)
    setup = time.perf_counter() - started
    epochs: list[float] = []
    printed = io.StringIO()
    for repeat in range(opts.repeats):
        log(f"seed loop: repeat {repeat + 1}/{opts.repeats}")
        torch.manual_seed(opts.seed + repeat)
        train_loader = torch.utils.data.DataLoader(train_set, batch_size=opts.batch_size, shuffle=True)
        model = seed_model(opts).to(device)
        criterion = nn.CrossEntropyLoss()
        optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
        for epoch in range(opts.epochs):
            started = time.perf_counter()
            for inputs, labels in train_loader:
                if device.type != "cpu":
                    inputs, labels = inputs.to(device), labels.to(device)
                optimizer.zero_grad()
                outputs = model(inputs.view(-1, 784))
                loss = criterion(outputs, labels)
                loss.backward()
                optimizer.step()
            with contextlib.redirect_stdout(printed):
                print(f'Epoch {epoch+1}, Loss: {loss.item():.4f}')  # the seed's line; .item() also syncs CUDA
            epochs.append(time.perf_counter() - started)
    return {"samples": len(train_set), "epoch_seconds": epochs, "setup_seconds": setup,
            "threads": torch.get_num_threads(),
            "last_line": printed.getvalue().strip().splitlines()[-1]}


class EpochTimer:
    """A Progress for `fit` that timestamps each epoch's training steps.

    fit calls step() after every training step and epoch() after the validation pass, so
    the training time of an epoch is from its start to its last step() and the rest of the
    epoch (validation, bookkeeping) is what lies between the last step() and epoch().
    """

    def __init__(self) -> None:
        self.mark = self.last = 0.0
        self.train: list[float] = []
        self.rest: list[float] = []
        self.threads = 0  # the intra-op threads the steps ran with (fit may choose them)

    def start(self, epochs: int, steps_per_epoch: int, first_epoch: int) -> None:
        self.mark = self.last = time.perf_counter()

    def step(self) -> None:
        self.last = time.perf_counter()
        if not self.threads:
            self.threads = torch.get_num_threads()

    def epoch(self, record: dict[str, float]) -> None:
        now = time.perf_counter()
        self.train.append(self.last - self.mark)
        self.rest.append(now - self.last)
        self.mark = now

    def close(self) -> None:
        pass


def time_torchprimer(
    root: Path, opts: BenchOptions, log: Callable[[str], None], *,
    after_repeat: Callable[[int, int], None] | None = None, cuda_graph: bool | None = None,
) -> dict[str, Any]:
    """`torchprimer.train` with the seed's recipe, in memory (no run folder), once per repeat;
    `after_repeat(samples, threads)` runs after each (the bench times a round of the floor there).
    `cuda_graph` is train's option of that name (None: its default)."""
    from torchprimer.training.run import train

    name = "torchprimer --no-cuda-graph" if cuda_graph is False else "torchprimer"
    epochs: list[float] = []
    rest: list[float] = []
    setups: list[float] = []
    samples, accuracy, threads = 0, 0.0, 0
    for repeat in range(opts.repeats):
        log(f"{name}: repeat {repeat + 1}/{opts.repeats}")
        timer = EpochTimer()
        started = time.perf_counter()
        result = train(
            dataset="mnist", data_dir=str(root), model=opts.model, hidden=model_hidden(opts), epochs=opts.epochs,
            batch_size=opts.batch_size, lr=1e-3, optimizer="adam", device=opts.device, seed=opts.seed + repeat,
            cuda_graph=cuda_graph, save=False, progress=timer, threads=opts.threads,  # None: train's own choice
        )
        total = time.perf_counter() - started
        setups.append(total - sum(timer.train) - sum(timer.rest))
        epochs += timer.train
        rest += timer.rest
        assert result.data is not None
        samples, accuracy, threads = len(result.data.y_train), float(result.test["accuracy"]), timer.threads
        if after_repeat is not None:
            after_repeat(samples, threads)
    return {"samples": samples, "epoch_seconds": epochs, "validation_seconds": rest,
            "setup_seconds": min(setups), "setup_runs": len(setups), "test_accuracy": accuracy, "threads": threads}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


GemmOperands = list[tuple[torch.Tensor, ...]]


def gemm_operands(opts: BenchOptions, device: torch.device) -> GemmOperands:
    """Per linear layer (input x, weight w, output gradient g, and buffers for the forward output,
    the weight gradient and, except for the first layer, the input gradient), in nn.Linear's layouts."""
    b = opts.batch_size
    g = torch.Generator(device="cpu").manual_seed(0)
    work = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(layer_sizes(opts))):
        x = torch.randn(b, fan_in, generator=g).to(device)
        w = torch.randn(fan_out, fan_in, generator=g).to(device)
        grad = torch.randn(b, fan_out, generator=g).to(device)
        y, dw, dx = torch.empty(b, fan_out, device=device), torch.empty_like(w), torch.empty_like(x)
        work.append((x, w, grad, y, dw, dx if i else None))
    return work


def gemm_step(work: GemmOperands, first_input: torch.Tensor | None = None) -> None:
    """One step's matrix products: per layer the forward x·Wᵀ, the weight gradient gᵀ·x and, except
    for the first layer (its input needs no gradient), the input gradient g·W, written into the
    buffers. `first_input` replaces the first layer's x (a batch of real rows, possibly shorter)."""
    for i, (x, w, grad, y, dw, dx) in enumerate(work):
        if i == 0 and first_input is not None:
            x, grad, y = first_input, grad[: len(first_input)], y[: len(first_input)]
        torch.mm(x, w.t(), out=y)
        torch.mm(grad.t(), x, out=dw)
        if dx is not None:
            torch.mm(grad, w, out=dx)


def fastest_per_call(call: Callable[[int], object], calls: int, device: torch.device, *, rounds: int = 5) -> float:
    """Seconds per call of `call(i)`: the fastest of `rounds` runs of `calls` calls (i = 0 .. calls-1),
    after a warm-up of up to 20 calls; on CUDA each run ends with a synchronisation. bench/kernels.py
    times each kernel of the step with it too."""
    for i in range(min(calls, 20)):
        call(i)
    _sync(device)
    best = math.inf
    for _ in range(rounds):
        started = time.perf_counter()
        for i in range(calls):
            call(i)
        _sync(device)
        best = min(best, (time.perf_counter() - started) / calls)
    return best


def floor_step_seconds(opts: BenchOptions, device: torch.device, steps: int, *, rounds: int = 5) -> float:
    """The fastest time of one step's GEMMs (`gemm_step`) at this batch size, over `rounds` runs of
    `steps` steps (an epoch's worth, so the floor is timed over as long a stretch as an epoch is).

    The same operands serve every step, so they stay in the cache. Bias adds, activations, the
    loss and the optimiser are left out: this is the compute an epoch cannot avoid, not an
    achievable speed."""
    work = gemm_operands(opts, device)
    return fastest_per_call(lambda i: gemm_step(work), steps, device, rounds=rounds)


def adam_step_seconds(opts: BenchOptions, device: torch.device, steps: int, *, rounds: int = 5) -> float:
    """The fastest time of one Adam update of the model's parameters alone (the fused kernel
    torchprimer uses, gradients already in place). Not part of the floor; shown beside it
    because at small batches this update (a square root and two divisions per parameter)
    costs as much as the GEMMs."""
    from torchprimer.training.config import make_config
    from torchprimer.training.loop import make_optimizer

    model = seed_model(opts).to(device)
    for param in model.parameters():
        param.grad = torch.full_like(param, 1e-3)
    optimizer = make_optimizer(model, make_config(lr=1e-3, optimizer="adam"))
    return fastest_per_call(lambda i: optimizer.step(), steps, device, rounds=rounds)


@contextlib.contextmanager
def thread_count(count: int) -> Iterator[None]:
    """torch's intra-op threads set to `count` for a block, then put back."""
    saved = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def time_floor(
    opts: BenchOptions, device: torch.device, samples: int, threads: int, *, earlier: list[float] | None = None,
) -> dict[str, Any]:
    """The floor at `threads` (what torchprimer trained with, used for the ratio) and, for
    reference, at every core torch may use, over as many steps as `samples` make. `earlier`:
    per-step times of floor rounds already run between torchprimer's repeats, so that the
    floor is sampled over the same minutes as torchprimer, not only after it; the fastest counts."""
    steps = math.ceil(samples / opts.batch_size)
    out: dict[str, Any] = {"samples": samples, "rounds_between_repeats": len(earlier or [])}
    for key, count in (("", threads), ("_all_cores", os.cpu_count() or threads)):
        if key and (device.type != "cpu" or count == threads):
            continue
        with thread_count(count):
            per_step = floor_step_seconds(opts, device, steps)
            if not key:
                per_step = min([per_step, *(earlier or [])])
            per_sample = per_step / opts.batch_size
            out.update({f"threads{key}": count, f"step_seconds{key}": per_step,
                        f"seconds_min{key}": per_sample * samples, f"samples_per_s{key}": 1 / per_sample})
            if not key:
                adam = adam_step_seconds(opts, device, steps)
                out.update({"adam_step_seconds": adam, "adam_seconds": adam * steps})  # one update a step
    return out


def summarise(samples: int, seconds: list[float]) -> dict[str, Any]:
    """Per-epoch seconds (min, median) and samples per second at the fastest and median epoch."""
    best, median = min(seconds), statistics.median(seconds)
    return {
        "samples": samples, "epoch_seconds": [round(s, 4) for s in seconds],
        "seconds_min": best, "seconds_median": median,
        "samples_per_s": samples / best, "samples_per_s_median": samples / median,
    }


def heeding_stops(log: Callable[[str], None] | None) -> Callable[[str], None]:
    """`log` (None: print nothing) that first raises a stop asked for and lost on the way (errors.stop_if_asked):
    every part logs a line as each repeat or round starts, so a stopped bench goes no further than that."""
    from torchprimer.errors import stop_if_asked

    def logged(line: str) -> None:
        stop_if_asked()
        if log is not None:
            log(line)

    return logged


def run_bench(
    opts: BenchOptions | None = None, *, log: Callable[[str], None] | None = None, **options: Any
) -> dict[str, Any]:
    """Measure the parts in `opts.parts` and return one JSON-ready dict (TIMED says what is timed).

    `log` receives a line as each part starts (the CLI prints them to stderr).
    """
    opts = opts or BenchOptions(**options)
    opts.hidden = tuple(int(h) for h in opts.hidden)
    opts.parts = tuple(opts.parts)
    check_options(opts)
    device = check_device(opts.device)
    opts.parts = settle_parts(opts.parts, device)
    if device.type != "cpu" and "breakdown" in opts.parts:
        raise UserError("--parts breakdown times torchprimer's CPU step; use --device cpu, or leave breakdown out")
    if device.type != "cuda" and "eager" in opts.parts:
        raise UserError("--parts eager times training on CUDA with --no-cuda-graph; use --device cuda, "
                        "or leave eager out")
    check_memory(opts, device)
    with out_of_memory_as_user_error(), (
            thread_count(opts.threads) if opts.threads is not None else contextlib.nullcontext()):
        return _measure(opts, device, heeding_stops(log))


@contextlib.contextmanager
def out_of_memory_as_user_error() -> Iterator[None]:
    """An allocation that fails (sizes check_memory's lower bounds let through) as one clear line,
    not numpy's or torch's traceback."""
    try:
        yield
    except (MemoryError, RuntimeError) as exc:  # torch's CPU allocator raises a RuntimeError, CUDA its own kind
        if not isinstance(exc, (MemoryError, torch.cuda.OutOfMemoryError)) and "can't allocate memory" not in str(exc):
            raise
        raise UserError(f"the bench ran out of memory ({_first_line(exc)}); use a smaller --samples, "
                        "--batch-size, --hidden, --conv-images or --conv-batch") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _measure(opts: BenchOptions, device: torch.device, log: Callable[[str], None]) -> dict[str, Any]:
    widths = layer_sizes(opts)
    report: dict[str, Any] = {
        "config": {
            "batch_size": opts.batch_size, "epochs": opts.epochs, "repeats": opts.repeats, "model": opts.model,
            "layers": "-".join(map(str, widths)), "optimizer": "adam", "lr": 1e-3,
            "data": str(opts.data_dir) if opts.data_dir else f"generated MNIST-format IDX files, {opts.n_train} train",
        },
        "environment": {
            "device": "cpu" if device.type == "cpu" else f"{device} ({torch.cuda.get_device_name(device)})",
            "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
            "python": platform.python_version(), "machine": platform.machine(),
        },
        "timed": TIMED,
    }
    started = time.perf_counter()
    floor_rounds: list[float] = []  # floor rounds timed between torchprimer's repeats

    def floor_round(samples: int, threads: int) -> None:
        with thread_count(threads):
            floor_rounds.append(floor_step_seconds(opts, device, math.ceil(samples / opts.batch_size), rounds=1))

    needs_files = {"seed", "torchprimer", "eager", "breakdown"} & set(opts.parts)
    with mnist_files(opts) if needs_files else contextlib.nullcontext() as root:
        if opts.data_dir is not None and root is not None:
            check_files(root)
        if "seed" in opts.parts:
            seed = time_seed(root, opts, device, log)
            report["seed"] = {**summarise(seed["samples"], seed["epoch_seconds"]), "threads": seed["threads"],
                              "setup_seconds": seed["setup_seconds"], "last_line": seed["last_line"]}
        for part, key in (("torchprimer", "torchprimer"), ("eager", "torchprimer_eager")):
            if part not in opts.parts:
                continue
            tp = time_torchprimer(root, opts, log, after_repeat=floor_round if "floor" in opts.parts else None,
                                  cuda_graph=False if part == "eager" else None)
            report[key] = {
                **summarise(tp["samples"], tp["epoch_seconds"]), "threads": tp["threads"],
                "setup_seconds": tp["setup_seconds"], "setup_runs": tp["setup_runs"],
                "validation_seconds_min": min(tp["validation_seconds"]),
                "test_accuracy": tp["test_accuracy"],
            }
        if "breakdown" in opts.parts:
            report["breakdown"] = time_breakdown(root, opts, log)
    if "floor" in opts.parts:
        log("floor: the GEMMs alone")
        timed = report.get("torchprimer") or report.get("torchprimer_eager") or report.get("seed") or {}
        samples = timed.get("samples", round(opts.n_train * 0.9))
        report["floor"] = time_floor(opts, device, samples, timed.get("threads") or torch.get_num_threads(),
                                     earlier=floor_rounds)
    if "conv" in opts.parts:
        report["conv"] = conv_section(opts.conv_images, device=str(device), batch_size=opts.conv_batch, log=log)
    report["ratios"] = ratios(report)
    report["wall_seconds"] = time.perf_counter() - started
    return report


def ratios(report: dict[str, Any]) -> dict[str, float]:
    """torchprimer/seed as a speed-up in samples per second, torchprimer/floor as a time ratio."""
    out: dict[str, float] = {}
    tp, seed, floor = report.get("torchprimer"), report.get("seed"), report.get("floor")
    if tp and seed:
        out["torchprimer_vs_seed_speedup"] = tp["samples_per_s"] / seed["samples_per_s"]
        out["torchprimer_vs_seed_speedup_median"] = tp["samples_per_s_median"] / seed["samples_per_s_median"]
    if tp and floor:
        out["torchprimer_vs_floor_time"] = floor["samples_per_s"] / tp["samples_per_s"]
        out["torchprimer_vs_floor_time_median"] = floor["samples_per_s"] / tp["samples_per_s_median"]
        if "adam_seconds" in floor:
            per_sample = (floor["seconds_min"] + floor["adam_seconds"]) / floor["samples"]
            out["torchprimer_vs_floor_and_adam_time"] = 1 / (per_sample * tp["samples_per_s"])
    if seed and floor:
        out["seed_vs_floor_time"] = floor["samples_per_s"] / seed["samples_per_s"]
    eager = report.get("torchprimer_eager")
    if eager and tp:
        out["torchprimer_vs_eager_speedup"] = tp["samples_per_s"] / eager["samples_per_s"]
    if eager and seed:
        out["eager_vs_seed_speedup"] = eager["samples_per_s"] / seed["samples_per_s"]
    if eager and floor:
        out["eager_vs_floor_time"] = floor["samples_per_s"] / eager["samples_per_s"]
    return out


def render(report: dict[str, Any]) -> str:
    """The report as a few plain lines (no colours), easy to paste into a README."""
    c, env = report["config"], report["environment"]
    lines = [
        f"torchprimer bench: {c['model']} {c['layers']}, Adam lr {c['lr']:g}, batch {c['batch_size']}, "
        f"{c['epochs']} epoch(s) x {c['repeats']} repeat(s)",
        f"data: {c['data']}; device {env['device']}, {env['cpu_count']} CPUs, torch {env['torch']}",
        "",
        f"{'':20}{'threads':>8}{'samples':>9}{'s/epoch min':>13}{'median':>9}{'samples/s':>11}",
    ]
    if not any(k in report for k in (*PARTS, "torchprimer_eager")):
        alone = [k for k in ("breakdown", "conv") if k in report]
        sections = [render_breakdown(report[k]) if k == "breakdown" else render_conv(report[k]) for k in alone]
        return "\n\n".join([f"torchprimer bench: the {' and '.join(alone)} part(s) alone; device {env['device']}, "
                             f"{env['cpu_count']} CPUs, torch {env['torch']}", *sections,
                             f"bench wall time {report['wall_seconds']:.1f} s"])
    names = {"seed": "seed (§6.2 loop)", "torchprimer": "torchprimer", "torchprimer_eager": "  --no-cuda-graph",
             "floor": "floor (GEMMs only)"}

    def row(label: str, threads: int, samples: int, seconds: float, median: float | None = None) -> str:
        shown = f"{median:9.3f}" if median is not None else f"{'-':>9}"
        return f"{label:20}{threads:>8}{samples:>9,}{seconds:13.3f}{shown}{samples / seconds:11,.0f}"

    for key, label in names.items():
        part = report.get(key)
        if part is None:
            continue
        lines.append(row(label, part["threads"], part["samples"], part["seconds_min"], part.get("seconds_median")))
        if "adam_seconds" in part:
            lines.append(row("  Adam update alone", part["threads"], part["samples"], part["adam_seconds"]))
        if "threads_all_cores" in part:
            lines.append(row("  at all cores", part["threads_all_cores"], part["samples"],
                             part["seconds_min_all_cores"]))
    r = report["ratios"]
    lines.append("")
    if "torchprimer_vs_seed_speedup" in r:
        lines.append(f"torchprimer / seed:  {r['torchprimer_vs_seed_speedup']:.1f}x the samples per second "
                     f"(medians: {r['torchprimer_vs_seed_speedup_median']:.1f}x)")
    if "torchprimer_vs_floor_time" in r:
        lines.append(f"torchprimer / floor: {r['torchprimer_vs_floor_time']:.2f}x the floor's time per sample "
                     f"(torchprimer's median: {r['torchprimer_vs_floor_time_median']:.2f}x)")
    if "torchprimer_vs_floor_and_adam_time" in r:
        lines.append(f"torchprimer / (floor + Adam update): {r['torchprimer_vs_floor_and_adam_time']:.2f}x")
    if "seed_vs_floor_time" in r:
        lines.append(f"seed / floor:        {r['seed_vs_floor_time']:.1f}x the floor's time per sample")
    for key, label in (("torchprimer_vs_eager_speedup", "torchprimer / --no-cuda-graph: {:.2f}x the samples/s"),
                       ("eager_vs_seed_speedup", "--no-cuda-graph / seed:  {:.1f}x the samples per second"),
                       ("eager_vs_floor_time", "--no-cuda-graph / floor: {:.2f}x the floor's time per sample")):
        if key in r:
            lines.append(label.format(r[key]))
    tp = report.get("torchprimer")
    if tp:
        # the fastest run's; the first run also imports torchprimer's data and training code
        loading = "s per run" if tp.get("setup_runs", 2) > 1 else "s in its one run, imports included"
        lines.append(f"not in s/epoch: torchprimer's data loading {tp['setup_seconds']:.2f} {loading}, its validation "
                     f"pass {tp['validation_seconds_min']:.3f} s per epoch; test accuracy {tp['test_accuracy']:.4f}")
    lines.append("timed: seed = DataLoader + steps; torchprimer = training steps only; floor = GEMMs alone "
                 "(--json says more)")
    if "breakdown" in report:
        lines += ["", render_breakdown(report["breakdown"])]
    if "conv" in report:
        lines += ["", render_conv(report["conv"])]
    elif env["device"] == "cpu":
        lines.append("GPU section (conv net, AMP, channels_last): --device cuda; its figures need a CUDA GPU")
    lines.append(f"bench wall time {report['wall_seconds']:.1f} s")
    return "\n".join(lines)


# --- where the epoch goes (`torchprimer bench --parts breakdown`) ------------------------------------------------

BREAKDOWN = (
    ("floor", "matrix products alone, one batch reused (floor)"),
    ("batches", "+ each step's own shuffled batch"),
    ("kernels", "+ bias, ReLU, loss and their gradients"),
    ("adam", "+ Adam's update"),
    ("loop", "+ the loop: train_epoch, timed here"),
)


def time_breakdown(root: Path, opts: BenchOptions, log: Callable[[str], None]) -> dict[str, Any]:
    """torchprimer's CPU epoch built up from the floor one piece at a time, to show where the time
    beyond the floor goes. Five stages on the same data, model and batches:

    floor: `gemm_step` on one reused batch; batches: the same products, the first layer on each
    step's own batch gathered from the shuffled training split; kernels: the whole forward and
    backward pass (`fast_mlp.ReluMLPStep`, what `train` runs for this model); adam: that plus
    the optimiser's update; loop: `loop.train_epoch` itself (learning rate, metrics, checks).

    Each stage runs one epoch per round and the stages alternate round by round, so all of them
    meet the machine in the same state; the minimum over rounds is reported.
    """
    from torchprimer.data.batches import device_batches
    from torchprimer.models import objective_for
    from torchprimer.progress import Silent
    from torchprimer.training import loop
    from torchprimer.training.config import make_config
    from torchprimer.training.fast_mlp import fast_step_for
    from torchprimer.training.run import auto_threads, build

    cfg = make_config(dataset="mnist", data_dir=str(root), model=opts.model, hidden=model_hidden(opts), epochs=1,
                      batch_size=opts.batch_size, lr=1e-3, optimizer="adam", device=opts.device, seed=opts.seed)
    device, splits, model = build(cfg)
    objective = objective_for(model)
    optimizer = loop.make_optimizer(model, cfg)
    fast = fast_step_for(model, objective, autograd=True, amp=False)
    if fast is None:  # check_options and run_bench leave only CPU MLPs, which the fast step covers
        raise UserError("--parts breakdown times torchprimer's fast CPU step, which this model does not use")
    _, update = loop.step_calls(optimizer)
    x, y = splits.x_train, splits.y_train
    steps = math.ceil(len(y) / opts.batch_size)
    work = gemm_operands(opts, device)

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return device_batches(x, y, opts.batch_size, seed=opts.seed, epoch=0)

    def floor() -> None:
        for _ in range(steps):
            gemm_step(work)

    def gathered() -> None:
        for xb, _ in batches():
            gemm_step(work, xb.flatten(1))

    def kernels() -> None:
        for xb, yb in batches():
            fast(xb, yb)

    def adam() -> None:
        for xb, yb in batches():
            fast(xb, yb)
            update()

    def whole() -> None:
        loop.train_epoch(model, optimizer, splits, objective, cfg, 0, Silent())

    stages = dict(zip([key for key, _ in BREAKDOWN], (floor, gathered, kernels, adam, whole), strict=True))
    rounds = max(3, opts.repeats)
    seconds: dict[str, list[float]] = {key: [] for key in stages}
    with thread_count(opts.threads or auto_threads(model, device) or torch.get_num_threads()):  # as train chooses
        threads = torch.get_num_threads()
        for run in stages.values():  # warm-up: first touches, allocator, thread pool
            run()
        for i in range(rounds):
            log(f"breakdown: round {i + 1}/{rounds}")
            for key, run in stages.items():
                started = time.perf_counter()
                run()
                seconds[key].append(time.perf_counter() - started)
    rows, previous = [], None
    floor_min = min(seconds["floor"])
    for key, label in BREAKDOWN:
        best = min(seconds[key])
        if key == "kernels" and opts.model != "mlp":  # softmax regression: one layer, no ReLU
            label = label.replace(", ReLU,", ",")
        rows.append({"stage": key, "label": label, "seconds_min": best,
                     "seconds_median": statistics.median(seconds[key]), "step_us": best / steps * 1e6,
                     "added_step_us": None if previous is None else (best - previous) / steps * 1e6,
                     "vs_floor": best / floor_min})
        previous = best
    return {"samples": len(y), "steps": steps, "batch_size": opts.batch_size, "threads": threads, "rounds": rounds,
            "stages": rows}


def render_breakdown(section: dict[str, Any]) -> str:
    lines = [f"where torchprimer's epoch goes: batch {section['batch_size']}, {section['steps']} steps, "
             f"{section['threads']} thread(s), min of {section['rounds']} alternating rounds",
             f"{'':48}{'s/epoch':>9}{'us/step':>9}{'added':>8}{'x floor':>9}"]
    for row in section["stages"]:
        added = "" if row["added_step_us"] is None else f"{row['added_step_us']:+.0f}"
        lines.append(f"{row['label']:48}{row['seconds_min']:9.3f}{row['step_us']:9.0f}{added:>8}{row['vs_floor']:9.2f}")
    lines.append("each line adds one piece to the one above it; an 'added' within a few percent of the step "
                 "is inside this machine's noise; the last line is timed here, apart from the torchprimer row")
    return "\n".join(lines)


# --- time to accuracy (`torchprimer bench --target 0.97 --dataset digits`) -------------------------------------

TTA_DATASETS = ("digits", "mnist1d")
# The seed's recipe (torchprimer's default) and the fast recipe torchprimer recommends for these small datasets,
# chosen on validation accuracy alone by bench/recipes.py from a grid of 27 (docs/performance.md shows its table;
# the test split this bench reports never took part in the choice). The fast recipe plans its own, shorter run:
# one-cycle anneals over the epochs it is given, so its length is part of the recipe.
RECIPES: dict[str, dict[str, Any]] = {
    "default": {"batch_size": 64, "lr": 1e-3, "schedule": "none", "epochs": None},
    "fast": {"batch_size": 128, "lr": 3e-2, "schedule": "onecycle", "epochs": 15},
}
TTA_TIMED = (
    "seconds: wall time of torchprimer's training epochs (steps and its validation pass) until the end of the "
    "first epoch whose test accuracy reaches the target; the test evaluation after each epoch is the bench's "
    "measurement, timed apart and not counted; data loading is not counted. Test accuracy is on the dataset's "
    "test split, after every epoch. Each recipe runs its planned epochs (at most --max-epochs) to the end, so its "
    "final accuracy is reported too. Before any timed run each recipe trains one untimed epoch, so one-time costs "
    "(CUDA's context and kernels, lazy imports) do not fall on whichever run comes first."
)


class _TestWatch:
    """A Progress for `fit` that evaluates the test split after each epoch and timestamps it."""

    def __init__(self, model: nn.Module, splits: Any, objective: Any) -> None:
        self.model, self.splits, self.objective = model, splits, objective
        self.started = 0.0
        self.eval_seconds = 0.0
        self.epochs: list[dict[str, float]] = []

    def start(self, epochs: int, steps_per_epoch: int, first_epoch: int) -> None:
        self.started = time.perf_counter()

    def step(self) -> None:
        pass

    def epoch(self, record: dict[str, float]) -> None:
        from torchprimer.training.loop import evaluate

        before = time.perf_counter()
        test = evaluate(self.model, self.splits.x_test, self.splits.y_test, self.objective)
        after = time.perf_counter()
        self.epochs.append({"epoch": int(record["epoch"]), "seconds": before - self.started - self.eval_seconds,
                            "test_acc": test["accuracy"], "val_acc": record["val_acc"]})
        self.eval_seconds += after - before

    def close(self) -> None:
        pass


def check_tta(dataset: str, target: float, max_epochs: int, repeats: int, device: str = "cpu",
              threads: int | None = None) -> torch.device:
    """Every option of a time-to-accuracy run checked, and its device resolved, before any run starts
    (a bad --device used to surface only after the first progress line)."""
    if dataset not in TTA_DATASETS:
        raise UserError(f"--dataset {dataset!r}: time to accuracy runs on {', '.join(TTA_DATASETS)}")
    if not 0 < target <= 1:  # also false for nan
        raise UserError(f"--target {target} is a test accuracy: use a value in (0, 1], e.g. 0.97")
    if max_epochs < 1 or repeats < 1:
        raise UserError(f"--max-epochs {max_epochs} and --repeats {repeats} must be at least 1")
    check_threads(threads)
    return check_device(device)


def run_recipe(dataset: str, target: float, recipe: dict[str, Any], max_epochs: int, seed: int,
               device: str = "cpu", **overrides: Any) -> dict[str, Any]:
    """One run of `recipe` with torchprimer's training loop (what `torchprimer.train` runs, without a run
    folder), the test accuracy after every epoch, and when `target` was first reached."""
    from torchprimer.models import objective_for
    from torchprimer.training.config import make_config
    from torchprimer.training.loop import fit
    from torchprimer.training.run import build

    epochs = min(max_epochs, recipe.get("epochs") or max_epochs)
    options = {k: v for k, v in recipe.items() if k != "epochs"}
    cfg = make_config(dataset=dataset, epochs=epochs, seed=seed, device=device, **options, **overrides)
    _, splits, model = build(cfg)
    objective = objective_for(model, cfg.label_smoothing)
    watch = _TestWatch(model, splits, objective)
    fit(model, splits, cfg, objective, watch)
    hit = next((e for e in watch.epochs if e["test_acc"] >= target), None)
    return {"seed": seed, "epochs_planned": epochs, "reached": hit is not None,
            "epochs_to_target": hit["epoch"] if hit else None, "seconds_to_target": hit["seconds"] if hit else None,
            "final_test_accuracy": watch.epochs[-1]["test_acc"], "seconds_total": watch.epochs[-1]["seconds"],
            "test_accuracy_per_epoch": [round(e["test_acc"], 4) for e in watch.epochs],
            "test_samples": len(splits.y_test)}


def time_to_accuracy(dataset: str = "digits", target: float = 0.97, *, max_epochs: int = 30, repeats: int = 3,
                     seed: int = 0, device: str = "cpu", threads: int | None = None,
                     recipes: dict[str, dict[str, Any]] | None = None, log: Callable[[str], None] | None = None,
                     **overrides: Any) -> dict[str, Any]:
    """Epochs and seconds until `target` test accuracy, for each recipe, over `repeats` seeds (median of
    the runs that reached it), after a one-epoch warm-up of each; JSON-ready. `threads` sets torch's CPU
    threads for the runs (None: torch's), put back afterwards. `overrides` go to every run's config
    (tests use n_samples)."""
    device = str(check_tta(dataset, target, max_epochs, repeats, device, threads))
    log = heeding_stops(log)
    recipes = recipes or RECIPES
    started = time.perf_counter()
    saved_threads = torch.get_num_threads()
    out: dict[str, Any] = {"dataset": dataset, "target": target, "max_epochs": max_epochs, "repeats": repeats,
                           "device": device, "threads": threads or saved_threads, "torch": torch.__version__,
                           "cpu_count": os.cpu_count(), "timed": TTA_TIMED, "recipes": {}}
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        for recipe in recipes.values():  # one untimed epoch each: one-time costs (CUDA's context and
            run_recipe(dataset, target, recipe, 1, seed, device, **overrides)  # kernels, lazy imports) land here
        for name, recipe in recipes.items():
            runs = []
            for r in range(repeats):
                log(f"{name}: seed {seed + r} ({r + 1}/{repeats})")
                runs.append(run_recipe(dataset, target, recipe, max_epochs, seed + r, device, **overrides))
            hits = [run for run in runs if run["reached"]]
            out["recipes"][name] = {
                "recipe": {k: v for k, v in recipe.items() if k != "epochs"},
                "epochs_planned": runs[0]["epochs_planned"],
                "reached": len(hits), "runs": runs,
                "epochs_to_target_median": statistics.median(h["epochs_to_target"] for h in hits) if hits else None,
                "seconds_to_target_median": statistics.median(h["seconds_to_target"] for h in hits) if hits else None,
                "final_test_accuracy_mean": statistics.fmean(run["final_test_accuracy"] for run in runs),
                "seconds_total_median": statistics.median(run["seconds_total"] for run in runs),
            }
    finally:
        torch.set_num_threads(saved_threads)
    got = out["recipes"]
    if "default" in got and "fast" in got:
        d, f = got["default"], got["fast"]
        out["fast_not_worse"] = f["final_test_accuracy_mean"] >= d["final_test_accuracy_mean"]
        if d["seconds_to_target_median"] and f["seconds_to_target_median"]:
            out["speedup_to_target"] = d["seconds_to_target_median"] / f["seconds_to_target_median"]
    out["wall_seconds"] = time.perf_counter() - started
    return out


def render_tta(report: dict[str, Any]) -> str:
    first = next(iter(report["recipes"].values()))
    lines = [
        f"torchprimer bench: time to {report['target']:.2%} test accuracy on {report['dataset']}, "
        f"mlp, at most {report['max_epochs']} epochs, {report['repeats']} seed(s)",
        f"device {report['device']}, {report['threads']} thread(s) of {report['cpu_count']} CPUs, "
        f"torch {report['torch']}; "
        f"test accuracy after every epoch ({first['runs'][0]['test_samples']} test samples)",
        "",
        f"{'recipe':9}{'batch':>6}{'lr':>7}{'schedule':>10}{'epochs':>7}{'reached':>9}"
        f"{'epochs to':>10}{'s to':>8}{'final acc':>10}{'s total':>9}",
    ]
    for name, r in report["recipes"].items():
        rec = r["recipe"]
        to_e = f"{r['epochs_to_target_median']:g}" if r["epochs_to_target_median"] is not None else "-"
        to_s = f"{r['seconds_to_target_median']:.3f}" if r["seconds_to_target_median"] is not None else "-"
        lines.append(f"{name:9}{rec['batch_size']:>6}{rec['lr']:>7g}{rec['schedule']:>10}{r['epochs_planned']:>7}"
                     f"{str(r['reached']) + '/' + str(len(r['runs'])):>9}{to_e:>10}{to_s:>8}"
                     f"{r['final_test_accuracy_mean']:10.4f}{r['seconds_total_median']:9.3f}")
    lines.append("")
    if "speedup_to_target" in report:  # default's seconds / fast's: above 1 the fast recipe is quicker
        speedup = report["speedup_to_target"]
        if speedup >= 1:
            lines.append(f"fast / default: {speedup:.1f}x less time to the target (medians)")
        else:  # "0.4x less time" would read as a saving; say how much longer it took
            lines.append(f"fast / default: {1 / speedup:.1f}x more time to the target (medians)")
    if "fast_not_worse" in report:
        lines.append(f"fast recipe's final accuracy not worse than the default's: {report['fast_not_worse']}")
    lines.append("epochs to / s to: medians over the seeds that reached the target; final acc: mean over all seeds")
    lines.append("timed: training epochs (steps + validation pass) until the first epoch at the target; "
                 "test evaluations and data loading not counted (--json says more)")
    lines.append(f"bench wall time {report['wall_seconds']:.1f} s")
    return "\n".join(lines)


# --- GPU section: a CIFAR-10-sized conv net in images per second --------------------------------------------------

CONV_NOTE = ("conv figures need a CUDA GPU: on the CPU the conv net runs only to prove the code works "
             "(AMP and channels_last are GPU techniques)")


def conv_net() -> nn.Module:
    """A small CIFAR-10 conv net: three 3x3 conv blocks (32, 64, 128 channels) with batch norm, then a linear."""
    def block(c_in: int, c_out: int) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(*block(3, 32), *block(32, 64), *block(64, 128), nn.Flatten(), nn.Linear(128 * 4 * 4, CLASSES))


def conv_images_per_second(n_images: int = 50_000, *, device: str = "cuda", amp: bool = False,
                           channels_last: bool = False, batch_size: int = 256, seed: int = 0) -> dict[str, Any]:
    """One training epoch of `conv_net` over synthetic uint8 CIFAR-size images resident on `device`
    (normalised per batch), after a few warm-up steps; SGD with momentum, cross-entropy.
    AMP is bfloat16 autocast where the GPU supports it, else float16 with a gradient scaler."""
    dev = torch.device(device)
    if amp and dev.type != "cuda":
        raise UserError("AMP in the conv bench needs a CUDA device")
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n_images, 3, 32, 32), dtype=torch.uint8, generator=g).to(dev)
    labels = torch.randint(0, CLASSES, (n_images,), generator=g).to(dev)
    torch.manual_seed(seed)
    model = conv_net().to(dev)
    memory = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    bf16 = amp and torch.cuda.is_bf16_supported()
    dtype = torch.bfloat16 if bf16 else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp and not bf16)
    criterion = nn.CrossEntropyLoss()

    def step(lo: int) -> None:
        x = images[lo:lo + batch_size].float().div_(255).sub_(0.5).contiguous(memory_format=memory)
        with torch.autocast(dev.type, dtype=dtype, enabled=amp):
            loss = criterion(model(x), labels[lo:lo + batch_size])
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    starts = range(0, n_images, batch_size)
    # cuDNN picks each convolution's fastest algorithm for each new shape (per memory format and dtype,
    # so every variant gets its own best) during the warm-up steps: the full batches' and the smaller
    # last one's, whose search would otherwise land inside the timed epoch. Put back afterwards.
    saved_benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = dev.type == "cuda"
    try:
        for lo in sorted({*starts[:3], starts[-1]}):
            step(lo)
        _sync(dev)
        started = time.perf_counter()
        for lo in starts:
            step(lo)
        _sync(dev)
        seconds = time.perf_counter() - started
    finally:
        torch.backends.cudnn.benchmark = saved_benchmark
    return {"amp": amp, "amp_dtype": str(dtype).removeprefix("torch.") if amp else None,
            "channels_last": channels_last, "images": n_images, "batch_size": batch_size,
            "seconds": seconds, "images_per_s": n_images / seconds}


def conv_section(n_images: int = 50_000, *, device: str = "cuda", batch_size: int = 256,
                 log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The conv net with and without AMP and channels_last. On a CUDA device all four variants; on the
    CPU (tests, or no GPU) fp32 alone, with CONV_NOTE saying the figures need a GPU."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError("the conv section asks for CUDA, but torch sees no CUDA device; figures need a GPU")
    variants = [(False, False), (False, True), (True, False), (True, True)] if dev.type == "cuda" else [(False, False)]
    log = heeding_stops(log)
    rows = []
    for amp, cl in variants:
        log(f"conv net: amp={amp} channels_last={cl}")
        rows.append(conv_images_per_second(n_images, device=device, amp=amp, channels_last=cl, batch_size=batch_size))
    out: dict[str, Any] = {"device": str(dev), "model": "conv 32-64-128 + BN + linear, 3x32x32 input",
                           "variants": rows}
    if dev.type != "cuda":
        out["note"] = CONV_NOTE
    else:
        out["gpu"] = torch.cuda.get_device_name(dev)
    return out


def render_conv(section: dict[str, Any]) -> str:
    lines = [f"conv net ({section['model']}) on {section.get('gpu', section['device'])}, "
             f"{section['variants'][0]['images']:,} synthetic images, batch {section['variants'][0]['batch_size']}",
             f"{'amp':>10}{'channels_last':>15}{'s/epoch':>10}{'images/s':>12}"]
    for row in section["variants"]:
        lines.append(f"{row['amp_dtype'] or 'off':>10}{row['channels_last']!s:>15}{row['seconds']:10.3f}"
                     f"{row['images_per_s']:12,.0f}")
    if "note" in section:
        lines.append(section["note"])
    return "\n".join(lines)
