"""Data-parallel training on torch.distributed: the same loop on N processes, one device each.

`torchrun --nproc_per_node=N -m torchprimer train ...` (or `torchprimer train --nproc N`,
which calls torch's own launcher) starts N copies of the command. Each reads its rank from
the environment torchrun sets, joins one process group (NCCL on CUDA, Gloo on the CPU) and
trains a DistributedDataParallel replica; with one process every helper here is a no-op,
so the single-process path is the plain loop, bit for bit.

How the work is split, and why the result equals one process's:

* Data. Every process holds the whole (small, in-memory) data set on its device and
  computes the same epoch permutation, a pure function of (seed, epoch) — the
  tensor-resident equivalent of `DistributedSampler.set_epoch`. Global batch b is the b-th
  slice of `batch_size` rows of that order, exactly as in one process; process r takes the
  r-th of `world` contiguous, nearly equal chunks of it. Nothing is padded or dropped.
* Gradients. DDP averages gradients over processes, which is right only when every process
  holds the same number of rows. An uneven batch (the last one, or `batch_size` not a
  multiple of the processes) would weight the rows of a small chunk more. So each process
  multiplies its mean loss by `world * local / global`: the average over processes then
  equals the mean over the global batch, i.e. one process's gradient. A chunk must not be
  empty (a mean over no rows is undefined), so every batch must hold at least one row per
  process; `check_batch_size` says so before anything is written.
* Metrics. Loss sums, correct counts and row counts are summed over processes, so every
  process — and rank 0, which prints and writes — sees the numbers of the whole data.
  Evaluation is split the same way.
* Equality with one process holds up to the order of floating-point summation: the
  gradient of a batch is a sum of per-process partial sums instead of one sum, which
  changes the last bits; after 10 epochs of the tests' recipe weights agree to about 2e-7.
  (Dropout and batch norm differ by design: masks and batch statistics are per process.)
* Randomness. Dropout and augmentation draw from each process's own generator, reseeded
  at the start of every epoch from (seed, epoch, rank): processes draw independent masks,
  and a resumed run draws the same ones as an uninterrupted run.
* Resume. Checkpoints hold the plain model (never the DDP wrapper) and the optimiser state,
  which is the same on every process, so a run resumes on any number of processes. The
  global batches, their order and the schedule do not depend on that number; what changes
  is how each batch is split, hence the summation order (equal to rounding, not to the bit)
  and the dropout/augmentation masks.

Failures: the process group has a bounded timeout (TORCHPRIMER_DIST_TIMEOUT seconds,
default 300), so a process that waits for a peer which hangs stops with an error instead of
waiting forever; a peer that dies closes its sockets, and the others notice at their next
collective call. `failure_message` turns either into one line naming the failure.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from torchprimer.data.batches import device_batches, epoch_permutation
from torchprimer.errors import UserError, clip
from torchprimer.training.config import TrainConfig, resolve_device
from torchprimer.training.stop_note import STOP_NOTE_ENV, read_stop_note

TIMEOUT_ENV = "TORCHPRIMER_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 300.0


# ---------------------------------------------------------------- who am I


def launched() -> bool:
    """True when torchrun (or a user's own launcher) asked for more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """Rank 0 prints and writes the run folder; with one process it is the only process."""
    return rank() == 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


# ---------------------------------------------------------------- joining and leaving


def timeout() -> datetime.timedelta:
    """How long a process waits for its peers before it gives up with an error.

    torch's default is 30 minutes (10 for NCCL), a long time to stare at a stuck run; five
    minutes still lets rank 0 write a checkpoint or download a data set while the others wait.
    """
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        seconds = float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 1e7:
        raise UserError(f"{TIMEOUT_ENV}={raw!r} must be a number of seconds > 0, e.g. {DEFAULT_TIMEOUT_S:g}")
    return datetime.timedelta(seconds=seconds)


def check_config(cfg: TrainConfig, nproc: int) -> torch.device:
    """The device of a run in `nproc` processes per machine, or a UserError saying why it cannot be."""
    if not dist.is_available():
        raise UserError("this torch build has no torch.distributed; train in one process (leave out --nproc)")
    if cfg.backward == "manual":
        raise UserError("--backward manual writes gradients without autograd, so DDP cannot average them; "
                        "use --backward autograd with several processes")
    device = resolve_device(cfg.device)
    if device.type == "mps":
        raise UserError("several processes cannot share Apple's MPS device; use --device cpu with several processes")
    if device.type == "cuda":
        if device.index is not None:
            raise UserError(f"--device {cfg.device}: with several processes each one uses cuda:LOCAL_RANK; "
                            "use --device cuda (or auto)")
        if nproc > torch.cuda.device_count():
            raise UserError(f"{nproc} processes need one GPU each, but torch sees {torch.cuda.device_count()} "
                            f"here; start at most {torch.cuda.device_count()} per machine, or use --device cpu")
    return device


def setup(cfg: TrainConfig) -> None:
    """Join the process group the environment describes; nothing to do for one process.

    Picks the backend from the device: NCCL when training on CUDA (one GPU per process,
    cuda:LOCAL_RANK), Gloo on the CPU. Idempotent, so a script that already joined is fine.
    """
    if not launched() or (dist.is_available() and dist.is_initialized()):
        return
    device = check_config(cfg, int(os.environ.get("LOCAL_WORLD_SIZE", local_rank() + 1)))
    if device.type == "cuda":
        torch.cuda.set_device(local_rank())  # from now on torch.device("cuda") means this process's GPU
    try:
        dist.init_process_group(
            "nccl" if device.type == "cuda" else "gloo", timeout=timeout(),
            device_id=torch.device("cuda", local_rank()) if device.type == "cuda" else None,
        )
    except dist.DistNetworkError as exc:
        if _port_in_use(exc):
            where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
            raise UserError(f"port {where} is already in use (another training run?); choose a free one, "
                            "e.g. MASTER_PORT=29501 or torchrun --master-port 29501") from None
        raise


def teardown() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def local_rank_zero_first(active: bool = True) -> Iterator[None]:
    """Let local rank 0 go first (a download), and the other processes on its machine after,
    so that two processes never write the same files at once."""
    if not active or world_size() == 1:
        yield
        return
    if local_rank() != 0:
        dist.barrier()
    yield
    if local_rank() == 0:
        dist.barrier()


# ---------------------------------------------------------------- the model and its randomness


def wrap(model: nn.Module) -> nn.Module:
    """The model DDP trains (gradients averaged over processes), or `model` itself alone.

    Wrapping broadcasts rank 0's weights, so every replica starts equal; call it after a
    checkpoint has been loaded.
    """
    if world_size() == 1:
        return model
    device = next(model.parameters()).device
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def seed_epoch(seed: int, epoch: int) -> None:
    """Under DDP: reseed this process's generators from (seed, epoch, rank), so dropout and
    augmentation masks differ between processes and repeat exactly after a resume."""
    if world_size() > 1:
        torch.manual_seed(((seed * 1_000_003 + epoch) * 65_537 + rank() + 1) % 2**63)


# ---------------------------------------------------------------- the data


def check_batchnorm_batches(n: int, batch_size: int, *, world: int | None = None) -> None:
    """Batch norm in training mode needs at least 2 rows per batch (in each process): a batch of one
    row has no variance, and torch stopped the run with a ValueError at the epoch's last step,
    after a whole epoch had trained. Refused before the run folder, naming a batch size that works."""
    world = world_size() if world is None else world

    def smallest(b: int) -> int:  # the fewest rows any process gets in any batch of size b
        last = n % b
        return min(b // world, last // world) if last else b // world

    if n >= 2 * world and smallest(batch_size) < 2:
        ok = next((b for b in range(batch_size + 1, n + 1) if smallest(b) >= 2), n)
        where = f" in each of the {world} processes" if world > 1 else ""
        raise UserError(f"--batchnorm needs at least 2 rows per batch{where}, and --batch-size {batch_size} leaves "
                        f"a batch of {n % batch_size or batch_size} of the {n} training rows; use e.g. "
                        f"--batch-size {ok}")


def check_batch_size(n: int, batch_size: int, *, world: int | None = None) -> None:
    """Refuse batches that would leave a process without rows (see the module docstring); `world`:
    the number of processes, when checked before they start (`train --nproc`)."""
    world = world_size() if world is None else world
    if world == 1:
        return
    if batch_size < world:
        raise UserError(f"--batch-size {batch_size} is the global batch, split over {world} processes: "
                        f"use at least {world}")
    last = n % batch_size
    if 0 < last < world:
        ok = next(b for b in range(batch_size + 1, n + 2) if n % b == 0 or n % b >= world)
        raise UserError(f"--batch-size {batch_size} leaves a last batch of {last} of the {n} training rows, "
                        f"fewer than the {world} processes; use e.g. --batch-size {ok}")


def shard_batches(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, *, seed: int, epoch: int,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, float]]:
    """This process's part of every global batch of an epoch, with its loss weight.

    Yields (x_local, y_local, weight): weight = processes × local rows / global rows, which
    is 1.0 for even chunks and with one process (whose batches are `device_batches`'s).
    """
    world = world_size()
    if world == 1:
        for xb, yb in device_batches(x, y, batch_size, seed=seed, epoch=epoch):
            yield xb, yb, 1.0
        return
    n, me = len(y), rank()
    perm = epoch_permutation(n, seed, epoch, y.device)
    chunks = [perm[start : start + batch_size].tensor_split(world)[me] for start in range(0, n, batch_size)]
    mine = torch.cat(chunks)
    xs, ys = x[mine], y[mine]  # one gather of this process's rows for the whole epoch
    offset = 0
    for b, chunk in enumerate(chunks):
        k, size = len(chunk), min(batch_size, n - b * batch_size)
        yield xs[offset : offset + k], ys[offset : offset + k], world * k / size
        offset += k


def shard_rows(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """This process's contiguous share of (x, y) for evaluation; all of it alone."""
    world = world_size()
    if world == 1:
        return x, y
    return x.tensor_split(world)[rank()], y.tensor_split(world)[rank()]


def broadcast_buffers(model: nn.Module) -> None:
    """Give every process rank 0's buffers (batch-norm running statistics), so that all of
    them evaluate the model rank 0 saves; each process's last training step moved its own."""
    if world_size() > 1:
        for buffer in model.buffers():
            dist.broadcast(buffer.data, src=0)


def all_reduce_sum(*values: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Sum each value over processes (in float64, one collective call); unchanged alone."""
    if world_size() == 1:
        return values
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    packed = torch.stack([torch.as_tensor(v).to(device, torch.float64) for v in values])
    dist.all_reduce(packed)
    return tuple(packed.unbind())


# ---------------------------------------------------------------- failures


def _port_in_use(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "eaddrinuse" in text or "address already in use" in text


def failure_message(exc: BaseException) -> str | None:
    """One line for an error that comes from losing contact with the other processes, else None.

    A peer that crashed or was killed closes its sockets (Gloo: "Connection reset/closed by
    peer"); one that hangs makes the collective call time out. Either way this process
    cannot go on, and the useful message is which process it is and where to look.
    """
    if world_size() == 1 and not launched():
        return None
    text = " ".join(str(exc).split())
    comms = isinstance(exc, dist.DistError) or any(
        word in text.lower() for word in ("gloo", "nccl", "connection reset", "connection closed", "timed out",
                                          "broken pipe", "socket")
    )
    if not comms:
        return None
    who = f"training process rank {os.environ.get('RANK', '?')} of {os.environ.get('WORLD_SIZE', '?')}"
    if "timed out" in text.lower() or "timeout" in text.lower():
        return (f"{who} timed out waiting for the other processes: one crashed or stopped responding (see its "
                f"output above), or needs longer than {TIMEOUT_ENV}={timeout().total_seconds():g} s; "
                f"stopping too. Detail: {clip(text, 200)}")
    return (f"{who} lost contact with the other processes: another process crashed, was killed or stopped "
            f"responding (see its output above); stopping too. Detail: {clip(text, 200)}")


# ---------------------------------------------------------------- launching


def launch(cfg: TrainConfig, nproc: int, args: Sequence[str], *, port: int = 0) -> tuple[int, str | None]:
    """Run `python -m torchprimer train ARGS` in `nproc` processes through torch's elastic launcher,
    as `torchrun --standalone --nproc-per-node=NPROC` would; returns (exit code, message or None).

    The launcher watches the workers: when one fails, it stops the others and reports the
    first failure, which becomes the one-line message.
    """
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.elastic.rendezvous.api import RendezvousError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if launched():
        raise UserError("this process was already started by torchrun (WORLD_SIZE is set); leave out --nproc")
    check_config(cfg, nproc)
    threads = os.environ.get("OMP_NUM_THREADS")
    if threads is None:  # share the cores instead of every process using all of them, as torchrun does
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    try:
        with tempfile.TemporaryDirectory(prefix="torchprimer-launch-") as logs, _launcher_quiet():
            note = Path(logs) / "stop-advice.txt"  # torch would leave its log folder in /tmp
            os.environ[STOP_NOTE_ENV] = str(note)  # the workers inherit the environment
            config = LaunchConfig(
                min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=str(uuid.uuid4()),
                rdzv_backend="c10d", rdzv_endpoint=f"127.0.0.1:{port}", rdzv_configs={"is_host": True},
                max_restarts=0, monitor_interval=0.1, logs_specs=DefaultLogsSpecs(log_dir=logs),
            )
            try:
                elastic_launch(config, sys.executable)("-u", "-m", "torchprimer", "train", *args)
            except SignalException:  # Ctrl-C or SIGTERM: the launcher has passed it on to the workers
                return STOPPED, read_stop_note(note)  # read before the folder holding it is removed
    except ChildFailedError as exc:
        failed_rank, failure = exc.get_first_failure()
        if failure.exitcode == 2:  # bad input: the worker has printed its one-line error already
            return 2, None
        how = (f"was killed by {failure.signal_name()}" if failure.exitcode < 0
               else f"exited with code {failure.exitcode}")
        return 1, (f"training process rank {failed_rank} of {nproc} {how}; the launcher stopped the others "
                   "(see the output above)")
    except (RendezvousError, dist.DistError, RuntimeError) as exc:
        if _port_in_use(exc) or _port_in_use(exc.__cause__ or exc):
            raise UserError(f"port {port} is already in use (another training run?); choose a free one with "
                            "--master-port, or leave it out to let torchprimer pick one") from None
        raise
    finally:
        os.environ.pop(STOP_NOTE_ENV, None)
        if threads is None:
            os.environ.pop("OMP_NUM_THREADS", None)
    return 0, None


STOPPED = 130  # what `launch` returns when Ctrl-C or SIGTERM stopped the run, as one process exits then


@contextlib.contextmanager
def _launcher_quiet() -> Iterator[None]:
    """Keep torch's launcher to its errors while it runs: on Ctrl-C it logged three WARNING lines
    ("Received 2 death signal, shutting down workers", "Sending process N closing signal SIGINT")
    about a stop that `launch`'s caller reports in one line. Its ERROR lines (a worker that failed)
    still show."""
    names = [name for name in list(logging.root.manager.loggerDict)
             if name.startswith(("torch.distributed.elastic", "torch.distributed.launcher"))]
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        if logger.getEffectiveLevel() < logging.ERROR:
            logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
