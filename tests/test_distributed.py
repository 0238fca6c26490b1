"""Data-parallel training (DDP) with Gloo on the CPU: two processes give one process's
result, a killed process stops the other within a bounded time with a clear message,
an interrupted two-process run resumes to exactly the uninterrupted result, and a busy
port is one clear line.

Every multi-process run uses the same small recipe. Global batch 25 over 2 processes
splits every batch 13/12 and the last one (1438 % 25 = 13 rows) 7/6, so the loss
weighting for uneven shares is exercised at every step, not only at the end of an epoch.

The uninterrupted run is `torchprimer train --nproc 2`: torch's launcher, fresh
interpreters. The killed and resumed runs are processes given torchrun's environment with
no launcher watching them (so how the survivor stops is torchprimer's own doing); they are
forked from a server that has imported torch once, because on a busy 2-core machine
importing torch in every process would cost most of this file's time.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from conftest import run_cli, stderr_after_stop
from safetensors.torch import load_file

import torchprimer
from torchprimer.cli import main
from torchprimer.errors import UserError
from torchprimer.training import checkpoint as ckpt
from torchprimer.training import distributed
from torchprimer.training.config import make_config

EPOCHS = 10
RECIPE = {"epochs": EPOCHS, "hidden": (16,), "batch_size": 25, "lr": 3e-3, "device": "cpu"}
ARGS = ["--epochs", str(EPOCHS), "--hidden", "16", "--batch-size", "25", "--lr", "0.003", "--device", "cpu", "-q"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cache_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {"TORCHPRIMER_CACHE": str(tmp_path_factory.getbasetemp() / "cache"), "OMP_NUM_THREADS": "1"}


def _worker(args: list[str], env: dict[str, str], log: str) -> None:
    """One `torchprimer train ARGS` process: the CLI's own main(), its output in `log`.*."""
    os.environ.update(env)
    torch.set_num_threads(1)  # as OMP_NUM_THREADS=1 gives the launcher's workers: same kernels, same bits
    for fd, suffix in ((1, ".out"), (2, ".err")):
        with open(log + suffix, "wb") as f:
            os.dup2(f.fileno(), fd)
    main(["train", *args])


@pytest.fixture(scope="module")
def forkserver() -> multiprocessing.context.ForkServerContext:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["torchprimer.cli", "torchprimer.training.run", "torchprimer.report",
                                "torch._inductor", "sklearn.datasets", "test_distributed"])
    return ctx


def _start_workers(ctx: multiprocessing.context.ForkServerContext, args: list[str], logs: Path,
                   env: dict[str, str]) -> list[multiprocessing.process.BaseProcess]:
    """Two `torchprimer train` processes with the environment torchrun would give them, but
    no torchrun agent watching them: what happens when one dies is up to torchprimer."""
    port = str(_free_port())
    procs = []
    for rank in range(2):
        worker_env = {**env, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "WORLD_SIZE": "2",
                      "LOCAL_WORLD_SIZE": "2", "RANK": str(rank), "LOCAL_RANK": str(rank)}
        proc = ctx.Process(target=_worker, args=(args, worker_env, str(logs / f"rank{rank}")))
        proc.start()
        procs.append(proc)
    return procs


def _rows(path: Path) -> list[list[str]]:
    return [line.split(",") for line in path.read_text().splitlines()] if path.is_file() else []


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The recipe trained by `torchprimer train --nproc 2`: torch's launcher, two Gloo processes."""
    out = tmp_path_factory.mktemp("ddp")
    proc = run_cli("train", *ARGS, "--out", str(out), "--nproc", "2", env=_cache_env(tmp_path_factory))
    assert proc.returncode == 0, proc.stderr
    return next(out.iterdir())


def test_two_processes_give_the_single_process_result(two_process_run: Path, tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # like each worker; several threads on a busy 2-core machine are 10x slower
    try:
        single = torchprimer.train(out=tmp_path, progress="none", **RECIPE)
    finally:
        torch.set_num_threads(threads)
    ddp = load_file(two_process_run / "model.safetensors")
    # Same global batches and same weighting; only the order of float summation differs
    # (per-process partial sums, then an all-reduce), so weights agree to rounding.
    diffs = {k: float((ddp[k] - v).abs().max()) for k, v in single.model.state_dict().items()}
    print(f"max |w_ddp - w_single| = {max(diffs.values()):.3g}")
    assert max(diffs.values()) <= 1e-5, diffs

    ddp_rows, single_rows = _rows(two_process_run / "metrics.csv"), _rows(single.run_dir / "metrics.csv")
    assert ddp_rows[0] == single_rows[0] and len(ddp_rows) == len(single_rows) == EPOCHS + 1
    columns = ddp_rows[0]
    for a, b in zip(ddp_rows[1:], single_rows[1:], strict=True):
        for name, x, y in zip(columns, a, b, strict=True):
            if name.endswith("acc"):  # the same predictions: at most one borderline sample may flip
                assert abs(float(x) - float(y)) <= 1 / 170, (name, x, y)
            else:
                assert float(x) == pytest.approx(float(y), rel=1e-5), (name, x, y)
    assert '"processes": 2' in (two_process_run / "config.json").read_text()


def test_killed_process_stops_the_other_and_the_run_resumes_exactly(
    two_process_run: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
    forkserver: multiprocessing.context.ForkServerContext,
) -> None:
    env = _cache_env(tmp_path_factory)
    rank0, rank1 = _start_workers(forkserver, [*ARGS, "--out", str(tmp_path / "runs")], tmp_path, env)
    try:
        deadline = time.monotonic() + 120  # start-up is slow on a busy 2-core machine
        while time.monotonic() < deadline and rank1.is_alive():
            runs = list((tmp_path / "runs").glob("*/metrics.csv"))
            if runs and len(_rows(runs[0])) >= 2:  # one epoch done and checkpointed: 9 to go
                break
            time.sleep(0.02)
        # Freeze rank 1 first: rank 0 cannot finish without it, so the kill lands mid-run.
        os.kill(rank1.pid, signal.SIGSTOP)
        assert rank1.is_alive(), "rank 1 ended before it could be killed"
        os.kill(rank1.pid, signal.SIGKILL)
        killed = time.monotonic()
        rank0.join(timeout=60)
        waited, code = time.monotonic() - killed, rank0.exitcode
    finally:
        for proc in (rank0, rank1):
            if proc.is_alive():
                proc.kill()
                proc.join()
    message = (tmp_path / "rank0.err").read_text()
    print(f"rank 0 exited {code} after {waited:.2f} s: {message.strip()}")
    assert code == 1 and waited < 60
    assert "rank 0 of 2 lost contact with the other processes" in message
    assert "Traceback" not in message and len(message.strip().splitlines()) == 1

    run_dir = next((tmp_path / "runs").iterdir())
    done = ckpt.load(run_dir / "checkpoint.pt")["epoch"]
    print(f"killed after {done} of {EPOCHS} epochs")
    assert 1 <= done < EPOCHS
    resumed = _start_workers(forkserver, ["--resume", str(run_dir), "-q"], tmp_path, env)
    for proc in resumed:
        proc.join(timeout=240)
        assert proc.exitcode == 0, (tmp_path / "rank0.err").read_text()
    whole, again = load_file(two_process_run / "model.safetensors"), load_file(run_dir / "model.safetensors")
    for key, value in whole.items():
        assert torch.equal(value, again[key]), key
    assert (run_dir / "metrics.csv").read_bytes() == (two_process_run / "metrics.csv").read_bytes()


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_port_in_use_is_one_clear_line(busy_port: int, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TORCHELASTIC_SIGNALS_TO_HANDLE", raising=False)  # the launcher sets it
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--nproc", "2", "--master-port", str(busy_port), "--device", "cpu"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: port") and "already in use" in err and len(err.splitlines()) == 1

    # The same for processes started by hand with torchrun's variables: rank 0 hosts the store.
    for key, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(busy_port), distributed.TIMEOUT_ENV: "10"}.items():
        monkeypatch.setenv(key, value)
    try:
        with pytest.raises(UserError, match=f"port 127.0.0.1:{busy_port} is already in use"):
            distributed.setup(make_config(device="cpu"))
    finally:
        distributed.teardown()


def test_shards_split_every_global_batch_and_weights_restore_its_mean(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three processes, batch 8 of 21 rows: shares 3/3/2 and, for the last 5 rows, 2/2/1.
    DDP averages over processes, so (1/3)·Σ weight·(local mean) must be the global mean."""
    x = torch.arange(21.0).unsqueeze(1)
    y = torch.arange(21)
    whole = list(distributed.shard_batches(x, y, 8, seed=3, epoch=1))  # one process: device_batches
    monkeypatch.setattr(distributed, "world_size", lambda: 3)
    parts = []
    for r in range(3):
        monkeypatch.setattr(distributed, "rank", lambda r=r: r)
        parts.append(list(distributed.shard_batches(x, y, 8, seed=3, epoch=1)))
    assert [len(p) for p in parts] == [3, 3, 3]
    for b, (xb, yb, weight) in enumerate(whole):
        assert weight == 1.0
        shares = [parts[r][b] for r in range(3)]
        assert torch.equal(torch.cat([s[1] for s in shares]), yb)  # the same rows, in the same order
        averaged = sum(w * xs.mean() for xs, _, w in shares) / 3
        assert float(averaged) == pytest.approx(float(xb.mean()), rel=1e-6)


def test_batches_that_leave_a_process_without_rows_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    distributed.check_batch_size(1438, 25)  # last batch 13 rows: fine
    with pytest.raises(UserError, match=r"last batch of 1 .* fewer than the 2 processes; use e.g. --batch-size"):
        distributed.check_batch_size(1438, 1437)
    with pytest.raises(UserError, match="use at least 2"):
        distributed.check_batch_size(1438, 1)


def test_a_bad_resume_with_nproc_is_one_line_before_any_process_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`--nproc 2 --resume RUN --lr 0.5` started both processes, and each printed the same error (with
    torch's log line of the failed worker after them)."""
    run = torchprimer.train(out=tmp_path, epochs=2, hidden=16, progress="none").run_dir

    def no_launch(*args: object, **kwargs: object) -> None:
        raise AssertionError("processes were started for a --resume that cannot work")

    monkeypatch.setattr(distributed, "launch", no_launch)
    for extra, message in ((["--lr", "0.5"], "may change, not lr"),
                           (["--epochs", "1"], "already ran 2 epochs; ask for more with --epochs 3 or more")):
        with pytest.raises(SystemExit) as exit_info:
            main(["train", "--nproc", "2", "--resume", str(run), *extra])
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == 2 and len(err.splitlines()) == 1 and message in err, err


def test_ctrl_c_under_nproc_says_where_to_resume_in_one_line(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Ctrl-C reaches the whole process group: `train --nproc 2` and both of its workers. It printed
    torch's launcher's warnings ("Received 2 death signal, shutting down workers", one "Sending process
    N closing signal SIGINT" per worker) and an "interrupted" from two of the three processes around
    rank 0's advice; now the one line and exit 130 of one process."""
    out = tmp_path / "runs"
    command = [sys.executable, "-m", "torchprimer", "train", "--nproc", "2", "--epochs", "100000", "--hidden", "16",
               "--device", "cpu", "--out", str(out)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **_cache_env(tmp_path_factory)}, start_new_session=True)
    try:
        deadline = time.monotonic() + 120  # start-up is slow on a busy 2-core machine
        while not list(out.glob("*/metrics.csv")) and time.monotonic() < deadline:  # after the first checkpoint
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal sends Ctrl-C: to every process of the group
        err = stderr_after_stop(proc, timeout=90)
    finally:
        with contextlib.suppress(ProcessLookupError):  # workers a failed stop left behind
            os.killpg(proc.pid, signal.SIGKILL)
    run = next(out.iterdir())
    assert proc.returncode == 130, err
    assert err.startswith("interrupted after epoch ") and f"torchprimer train --resume {run}" in err, err
    assert err.count("\n") == 1, err
    assert ckpt.load(run / "checkpoint.pt")["epoch"] >= 1


@pytest.mark.parametrize("worker", [False, True], ids=["one process", "a worker of --nproc"])
def test_a_stop_while_python_still_imports_the_cli_is_one_word_or_none(tmp_path: Path, worker: bool) -> None:
    """Ctrl-C in the first instant of `python -m torchprimer` (how --nproc starts its workers), before the CLI
    and its handlers exist: exit 130 with "interrupted", or silently with the note in a worker, not a
    traceback per process. The stop is made certain by a `typer` that raises it on import."""
    from torchprimer.training.stop_note import STOP_NOTE_ENV

    fake = tmp_path / "fake" / "typer"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise KeyboardInterrupt\n", encoding="utf-8")
    note = tmp_path / "note.txt"
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(fake.parent), os.environ.get("PYTHONPATH")]))}
    if worker:
        env.update({STOP_NOTE_ENV: str(note), "WORLD_SIZE": "2", "RANK": "0"})
    proc = run_cli("train", "--epochs", "1", env=env, cwd=tmp_path)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr == ("" if worker else "interrupted\n")
    assert note.read_text(encoding="utf-8") == "interrupted\n" if worker else not note.exists()


def test_only_rank_0_of_a_launched_run_leaves_its_stop_advice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from torchprimer.training.stop_note import STOP_NOTE_ENV, leave_stop_note, read_stop_note

    note = tmp_path / "note.txt"
    assert not leave_stop_note("interrupted after epoch 3")  # one process: it prints its advice itself
    assert read_stop_note(note) == "interrupted"  # no worker said more: the launching command says this
    monkeypatch.setenv(STOP_NOTE_ENV, str(note))
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert leave_stop_note("interrupted") and not note.exists()  # quiet, and no note: rank 0 has the advice
    monkeypatch.setenv("RANK", "0")
    assert leave_stop_note("interrupted after epoch 3")
    assert read_stop_note(note) == "interrupted after epoch 3"
