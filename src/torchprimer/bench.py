"""`torchprimer bench`: the seed's loop, torchprimer's loop and the compute floor, in one process.

Three measurements on the same MNIST-format files, model, optimiser and batch size:

- seed: the §6.2 loop exactly as written, fed the way the seed implies (torchvision's
  MNIST with ToTensor + Normalize per sample, a DataLoader with shuffle=True);
- torchprimer: `torchprimer.train`, timed per epoch over its training steps only (its
  validation pass and its data loading are timed and shown apart, never hidden);
- floor: the matrix multiplications one training step cannot avoid (forward and backward
  GEMMs of every linear layer) timed alone, scaled to an epoch's samples.

Times are wall-clock; each part is repeated and the minimum and median are reported,
because on a shared machine the minimum is the figure least disturbed by other work.
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

SEED_MEAN, SEED_STD = (0.1307,), (0.3081,)  # the normalisation the seed's MNIST readers use
MODELS = ("mlp", "linear")
PARTS = ("seed", "torchprimer", "floor")
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
    extra: dict[str, Any] = field(default_factory=dict)


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
    if opts.threads is not None and opts.threads < 1:
        raise UserError(f"--threads {opts.threads} must be at least 1")
    if opts.data_dir is None and (opts.n_train < 20 or opts.n_test < 1):
        raise UserError(f"--samples {opts.n_train} is too few to split; use at least 20")
    unknown = [p for p in opts.parts if p not in PARTS]
    if unknown or not opts.parts:
        raise UserError(f"unknown bench part(s) {unknown or '(none)'}; choose from {', '.join(PARTS)}")
    if opts.data_dir is not None:
        raw = Path(opts.data_dir).expanduser() / "MNIST" / "raw"
        needed = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
        if not all((raw / f).is_file() or (raw / f"{f}.gz").is_file() for f in needed):
            raise UserError(
                f"--data-dir {opts.data_dir}: no MNIST IDX files in {raw}; pass the folder that holds MNIST/raw/ "
                f"(torchvision's layout), or leave --data-dir out to time MNIST-size generated files"
            )


@contextlib.contextmanager
def mnist_files(opts: BenchOptions) -> Iterator[Path]:
    """The data root (holding MNIST/raw/): the user's, or generated files in a temporary folder
    that is removed on exit, so the bench leaves nothing behind."""
    from torchprimer.data.synthetic import write_mnist

    with tempfile.TemporaryDirectory(prefix="torchprimer-bench-") as tmp:
        if opts.data_dir is not None:
            root = Path(opts.data_dir).expanduser()
        else:
            root = Path(tmp) / "data"
            write_mnist(root, n_train=opts.n_train, n_test=opts.n_test, seed=opts.seed)
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
    """Check the user's MNIST files with torchprimer's own loader checks (header, length),
    unpacking .gz files beside them as torchvision's download does, since torchvision's
    MNIST (the seed's reader) reads only uncompressed files."""
    from torchprimer.data.mnist import locate
    from torchprimer.data.registry import LoadOptions

    locate("mnist", LoadOptions(data_dir=root))


def layer_sizes(opts: BenchOptions) -> list[int]:
    """Widths from input to output: 784-128-10 for the seed's MLP."""
    widths = [IMAGE_SIDE * IMAGE_SIDE]
    if opts.model == "mlp":
        widths += list(opts.hidden)
    return [*widths, CLASSES]


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


def time_torchprimer(root: Path, opts: BenchOptions, log: Callable[[str], None]) -> dict[str, Any]:
    """`torchprimer.train` with the seed's recipe, in memory (no run folder), once per repeat."""
    from torchprimer.training.run import train

    epochs: list[float] = []
    rest: list[float] = []
    setups: list[float] = []
    samples, accuracy, threads = 0, 0.0, 0
    for repeat in range(opts.repeats):
        log(f"torchprimer: repeat {repeat + 1}/{opts.repeats}")
        timer = EpochTimer()
        started = time.perf_counter()
        result = train(
            dataset="mnist", data_dir=str(root), model=opts.model, hidden=tuple(opts.hidden), epochs=opts.epochs,
            batch_size=opts.batch_size, lr=1e-3, optimizer="adam", device=opts.device, seed=opts.seed + repeat,
            save=False, progress=timer,
        )
        total = time.perf_counter() - started
        setups.append(total - sum(timer.train) - sum(timer.rest))
        epochs += timer.train
        rest += timer.rest
        assert result.data is not None
        samples, accuracy, threads = len(result.data.y_train), float(result.test["accuracy"]), timer.threads
    return {"samples": samples, "epoch_seconds": epochs, "validation_seconds": rest,
            "setup_seconds": min(setups), "test_accuracy": accuracy, "threads": threads}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def floor_step_seconds(opts: BenchOptions, device: torch.device, steps: int, *, rounds: int = 5) -> float:
    """The fastest time of one step's GEMMs at this batch size, over `rounds` runs of `steps`
    steps (an epoch's worth, so the floor is timed over as long a stretch as an epoch is).

    Per linear layer: the forward x·Wᵀ, the weight gradient gᵀ·x and, except for the first
    layer (its input needs no gradient), the input gradient g·W, in nn.Linear's layouts,
    written into preallocated outputs. Bias adds, activations, the loss and the optimiser
    are left out: this is the compute an epoch cannot avoid, not an achievable speed."""
    widths = layer_sizes(opts)
    b = opts.batch_size
    g = torch.Generator(device="cpu").manual_seed(0)
    work = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
        x = torch.randn(b, fan_in, generator=g).to(device)
        w = torch.randn(fan_out, fan_in, generator=g).to(device)
        grad = torch.randn(b, fan_out, generator=g).to(device)
        y, dw, dx = torch.empty(b, fan_out, device=device), torch.empty_like(w), torch.empty_like(x)
        work.append((x, w, grad, y, dw, dx if i else None))

    def one_step() -> None:
        for x, w, grad, y, dw, dx in work:
            torch.mm(x, w.t(), out=y)
            torch.mm(grad.t(), x, out=dw)
            if dx is not None:
                torch.mm(grad, w, out=dx)

    for _ in range(min(steps, 20)):
        one_step()
    _sync(device)
    best = math.inf
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(steps):
            one_step()
        _sync(device)
        best = min(best, (time.perf_counter() - started) / steps)
    return best


def adam_step_seconds(opts: BenchOptions, device: torch.device, steps: int, *, rounds: int = 5) -> float:
    """The fastest time of one Adam update of the model's parameters alone (the fused kernel
    torchprimer uses, gradients already in place). Not part of the floor; shown beside it
    because at small batches this memory-bound update costs as much as the GEMMs."""
    from torchprimer.training.config import make_config
    from torchprimer.training.loop import make_optimizer

    model = seed_model(opts).to(device)
    for param in model.parameters():
        param.grad = torch.full_like(param, 1e-3)
    optimizer = make_optimizer(model, make_config(lr=1e-3, optimizer="adam"))
    for _ in range(min(steps, 20)):
        optimizer.step()
    _sync(device)
    best = math.inf
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(steps):
            optimizer.step()
        _sync(device)
        best = min(best, (time.perf_counter() - started) / steps)
    return best


def time_floor(opts: BenchOptions, device: torch.device, samples: int, threads: int) -> dict[str, Any]:
    """The floor at `threads` (what torchprimer trained with, used for the ratio) and, for
    reference, at every core torch may use, over as many steps as `samples` make."""
    steps = math.ceil(samples / opts.batch_size)
    saved = torch.get_num_threads()
    out: dict[str, Any] = {"samples": samples}
    try:
        for key, count in (("", threads), ("_all_cores", os.cpu_count() or saved)):
            if key and (device.type != "cpu" or count == threads):
                continue
            torch.set_num_threads(count)
            per_step = floor_step_seconds(opts, device, steps)
            per_sample = per_step / opts.batch_size
            out.update({f"threads{key}": count, f"step_seconds{key}": per_step,
                        f"seconds_min{key}": per_sample * samples, f"samples_per_s{key}": 1 / per_sample})
            if not key:
                adam = adam_step_seconds(opts, device, steps)
                out.update({"adam_step_seconds": adam, "adam_seconds": adam * samples / opts.batch_size})
    finally:
        torch.set_num_threads(saved)
    return out


def summarise(samples: int, seconds: list[float]) -> dict[str, Any]:
    """Per-epoch seconds (min, median) and samples per second at the fastest and median epoch."""
    best, median = min(seconds), statistics.median(seconds)
    return {
        "samples": samples, "epoch_seconds": [round(s, 4) for s in seconds],
        "seconds_min": best, "seconds_median": median,
        "samples_per_s": samples / best, "samples_per_s_median": samples / median,
    }


def run_bench(
    opts: BenchOptions | None = None, *, log: Callable[[str], None] | None = None, **options: Any
) -> dict[str, Any]:
    """Measure the parts in `opts.parts` and return one JSON-ready dict (TIMED says what is timed).

    `log` receives a line as each part starts (the CLI prints them to stderr).
    """
    from torchprimer.training.config import resolve_device

    opts = opts or BenchOptions(**options)
    opts.hidden = tuple(int(h) for h in opts.hidden)
    opts.parts = tuple(opts.parts)
    check_options(opts)
    device = resolve_device(opts.device)
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"bench times cpu or cuda, not {device.type}; use --device cpu or --device cuda")
    saved_threads = torch.get_num_threads()
    if opts.threads is not None:
        torch.set_num_threads(opts.threads)
    try:
        return _measure(opts, device, log or (lambda line: None))
    finally:
        torch.set_num_threads(saved_threads)


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
    with mnist_files(opts) as root:
        if opts.data_dir is not None:
            check_files(root)
        if "seed" in opts.parts:
            seed = time_seed(root, opts, device, log)
            report["seed"] = {**summarise(seed["samples"], seed["epoch_seconds"]), "threads": seed["threads"],
                              "setup_seconds": seed["setup_seconds"], "last_line": seed["last_line"]}
        if "torchprimer" in opts.parts:
            tp = time_torchprimer(root, opts, log)
            report["torchprimer"] = {
                **summarise(tp["samples"], tp["epoch_seconds"]), "threads": tp["threads"],
                "setup_seconds": tp["setup_seconds"], "validation_seconds_min": min(tp["validation_seconds"]),
                "test_accuracy": tp["test_accuracy"],
            }
    if "floor" in opts.parts:
        log("floor: the GEMMs alone")
        timed = report.get("torchprimer") or report.get("seed") or {}
        samples = timed.get("samples", round(opts.n_train * 0.9))
        report["floor"] = time_floor(opts, device, samples, timed.get("threads") or torch.get_num_threads())
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
    names = {"seed": "seed (§6.2 loop)", "torchprimer": "torchprimer", "floor": "floor (GEMMs only)"}
    for key, label in names.items():
        part = report.get(key)
        if part is None:
            continue
        median = f"{part['seconds_median']:9.3f}" if "seconds_median" in part else f"{'-':>9}"
        lines.append(f"{label:20}{part['threads']:>8}{part['samples']:>9,}{part['seconds_min']:13.3f}{median}"
                     f"{part['samples_per_s']:11,.0f}")
        if "adam_seconds" in part:
            lines.append(f"{'  Adam update alone':20}{part['threads']:>8}{part['samples']:>9,}"
                         f"{part['adam_seconds']:13.3f}{'-':>9}{part['samples'] / part['adam_seconds']:11,.0f}")
        if "threads_all_cores" in part:
            lines.append(f"{'  at all cores':20}{part['threads_all_cores']:>8}{part['samples']:>9,}"
                         f"{part['seconds_min_all_cores']:13.3f}{'-':>9}{part['samples_per_s_all_cores']:11,.0f}")
    r = report["ratios"]
    lines.append("")
    if "torchprimer_vs_seed_speedup" in r:
        lines.append(f"torchprimer / seed:  {r['torchprimer_vs_seed_speedup']:.1f}x the samples per second "
                     f"(medians: {r['torchprimer_vs_seed_speedup_median']:.1f}x)")
    if "torchprimer_vs_floor_time" in r:
        lines.append(f"torchprimer / floor: {r['torchprimer_vs_floor_time']:.2f}x the floor's time per sample "
                     f"(medians: {r['torchprimer_vs_floor_time_median']:.2f}x)")
    if "torchprimer_vs_floor_and_adam_time" in r:
        lines.append(f"torchprimer / (floor + Adam update): {r['torchprimer_vs_floor_and_adam_time']:.2f}x")
    if "seed_vs_floor_time" in r:
        lines.append(f"seed / floor:        {r['seed_vs_floor_time']:.1f}x the floor's time per sample")
    tp = report.get("torchprimer")
    if tp:
        lines.append(f"not in s/epoch: torchprimer's data loading {tp['setup_seconds']:.2f} s per run, its validation "
                     f"pass {tp['validation_seconds_min']:.3f} s per epoch; test accuracy {tp['test_accuracy']:.4f}")
    lines.append("timed: seed = DataLoader + steps; torchprimer = training steps only; floor = GEMMs alone "
                 "(--json says more)")
    lines.append(f"bench wall time {report['wall_seconds']:.1f} s")
    return "\n".join(lines)
