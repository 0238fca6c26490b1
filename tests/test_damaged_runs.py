"""Run folders after what goes wrong outside training: a stop at an awkward moment (between a
checkpoint and its metrics, inside a checkpoint write, while the final files are written, by
SIGTERM), a file the user cannot read, bytes changed on disk, two runs started in one second,
a config.json edited by hand, a cache folder that cannot be written."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import fails, stderr_after_stop

import torchprimer
from torchprimer import fileio
from torchprimer.errors import TrainingInterrupted, UserError
from torchprimer.progress import Silent
from torchprimer.runfolder import load_run
from torchprimer.training import checkpoint as ckpt
from torchprimer.training import run as run_module
from torchprimer.training.config import make_config

QUICK = {"dataset": "moons", "n_samples": 200, "hidden": (8,), "progress": "none"}


def test_a_stop_between_the_last_checkpoint_and_its_metrics_is_mended_by_resume(tmp_path: Path) -> None:
    """Killed after the last epoch's checkpoint, before its metrics.csv row: --resume has no epoch left
    to train, and used to leave metrics.csv one row short for good."""
    whole = torchprimer.train(out=tmp_path / "whole", epochs=3, **QUICK)
    cut = torchprimer.train(out=tmp_path / "cut", epochs=3, **QUICK)
    metrics = cut.run_dir / "metrics.csv"
    metrics.write_text("".join(metrics.read_text().splitlines(keepends=True)[:3]))  # the header and 2 epochs
    (cut.run_dir / ".metrics.csv.x1y2z3.tmp").write_text("epoch,train_loss\n")  # a write SIGKILL cut short
    torchprimer.train(resume=cut.run_dir, progress="none")
    assert metrics.read_bytes() == (whole.run_dir / "metrics.csv").read_bytes()
    assert not list(cut.run_dir.glob(".*.tmp"))


def test_a_stop_inside_a_checkpoint_write_names_the_checkpoint_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C while epoch 2's checkpoint is written: the one on disk is epoch 1's, and the advice and
    summary.json say 1 (they said 2, whose record was already in the history)."""
    real_save = ckpt.save

    def save(path: Path, state: dict) -> None:
        if state["epoch"] == 2:
            raise KeyboardInterrupt
        real_save(path, state)

    monkeypatch.setattr(ckpt, "save", save)
    with pytest.raises(TrainingInterrupted) as stopped:
        torchprimer.train(out=tmp_path, epochs=3, **QUICK)
    run_dir = next(tmp_path.iterdir())
    assert stopped.value.epochs_done == 1 and "interrupted after epoch 1," in stopped.value.advice()
    assert json.loads((run_dir / "summary.json").read_text())["epochs_done"] == 1
    assert ckpt.load(run_dir / "checkpoint.pt")["epoch"] == 1


def test_a_stop_while_the_final_files_are_written_says_to_resume_and_resume_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_write = run_module.write_outputs

    def write_outputs(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "write_outputs", write_outputs)
    with pytest.raises(TrainingInterrupted) as stopped:
        torchprimer.train(out=tmp_path, epochs=2, **QUICK)
    run_dir = next(tmp_path.iterdir())
    assert f"interrupted after epoch 2, whose checkpoint is complete; go on with 'torchprimer train --resume " \
           f"{run_dir}'" == stopped.value.advice()
    with pytest.raises(UserError, match=r"its training did not finish \(interrupted\); finish it with "
                                        r"'torchprimer train --resume"):
        load_run(run_dir)
    monkeypatch.setattr(run_module, "write_outputs", real_write)
    done = torchprimer.train(resume=run_dir, progress="none")
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "finished"
    assert done.summary()["epochs_run"] == 2


def test_a_finished_run_whose_weights_are_lost_is_told_so_and_resume_writes_them_again(tmp_path: Path) -> None:
    """A finished run without model.safetensors (deleted, or a folder in its place) was told "its training did
    not finish", which its summary.json contradicts."""
    run_dir = torchprimer.train(out=tmp_path, epochs=2, **QUICK).run_dir
    weights = run_dir / "model.safetensors"
    kept = weights.read_bytes()
    weights.unlink()
    with pytest.raises(UserError, match=r"model\.safetensors is missing, though the run finished; 'torchprimer "
                                        r"train --resume .*' writes it again from checkpoint\.pt$"):
        load_run(run_dir)
    weights.mkdir()
    with pytest.raises(UserError, match=r"is a folder, not the weights file, though the run finished; remove that "
                                        r"folder, then 'torchprimer train --resume"):
        load_run(run_dir)
    weights.rmdir()
    torchprimer.train(resume=run_dir, progress="none")  # as the message says: no more epochs, the same weights
    assert weights.read_bytes() == kept


def test_a_run_folder_is_trained_by_one_process_at_a_time(tmp_path: Path) -> None:
    """Two `train --resume` of one folder at once both ran to the end, writing the same checkpoint, metrics and
    weights: the folder held whichever wrote last. The folder is locked while a run trains in it."""
    run_dir = torchprimer.train(out=tmp_path, epochs=1, **QUICK).run_dir
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    busy = r"is being trained by another process now .* wait until it ends, then 'torchprimer train --resume"
    # the lock held as another process training the folder would hold it
    with fileio.folder_lock(run_dir, "held here"), pytest.raises(UserError, match=busy):
        torchprimer.train(resume=run_dir, epochs=3, progress="none")
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before  # nothing written

    class TryToResume(Silent):
        refused = False

        def epoch(self, record: dict[str, float]) -> None:  # a second process's --resume, mid-run
            try:
                with fileio.folder_lock(run_dir, "busy"):
                    pass
            except UserError:
                self.refused = True

    watcher = TryToResume()
    torchprimer.train(resume=run_dir, epochs=2, progress=watcher)
    assert watcher.refused, "the folder was not locked while the run trained in it"
    with fileio.folder_lock(run_dir, "the lock outlived the run"):  # released when train returns
        pass


def test_a_continuation_that_fails_keeps_the_finished_runs_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--resume --epochs 4 of a finished run, interrupted: its summary.json still describes the
    model.safetensors beside it (it was replaced by {"status": "interrupted"}, losing the test figures)."""
    first = torchprimer.train(out=tmp_path, epochs=2, **QUICK)
    finished = (first.run_dir / "summary.json").read_bytes()

    class Stop(torchprimer.progress.Silent):
        def epoch(self, record: dict[str, float]) -> None:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):
        torchprimer.train(resume=first.run_dir, epochs=4, progress=Stop())
    assert (first.run_dir / "summary.json").read_bytes() == finished
    assert ckpt.load(first.run_dir / "checkpoint.pt")["epoch"] == 3  # and the longer run goes on from there
    assert torchprimer.train(resume=first.run_dir, epochs=4, progress="none").summary()["epochs_run"] == 4


@pytest.mark.parametrize("name", ["checkpoint.pt", "config.json", "model.safetensors"])
def test_a_file_that_cannot_be_read_is_called_unreadable_not_corrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
) -> None:
    """Bad permissions (root reads anything, so the refusal is simulated where the file is opened): one
    line that says so; "corrupt ... delete it" would have a user delete a good checkpoint."""
    first = torchprimer.train(out=tmp_path, epochs=1, **QUICK)
    locked = first.run_dir / name

    def refusing_open(path: object, *args: object, **kwargs: object) -> object:
        if Path(str(path)) == locked:
            raise PermissionError(13, "Permission denied")
        return open(path, *args, **kwargs)

    monkeypatch.setattr(fileio, "open", refusing_open, raising=False)
    with pytest.raises(UserError, match=f"cannot read the .* {locked}: Permission denied; check its permissions"):
        if name == "checkpoint.pt":
            torchprimer.train(resume=first.run_dir, epochs=2, progress="none")
        else:
            load_run(first.run_dir)


def test_a_checkpoint_whose_bytes_changed_on_disk_is_refused(tmp_path: Path) -> None:
    """torch.load does not check the archive's checksums: flipped bytes used to load and train on."""
    first = torchprimer.train(out=tmp_path, epochs=1, **QUICK)
    path = first.run_dir / "checkpoint.pt"
    with zipfile.ZipFile(path) as archive:
        member = next(i for i in archive.infolist() if i.filename.endswith("/data/0"))
    raw = bytearray(path.read_bytes())
    at = member.header_offset  # the local header: 30 bytes, then the name and the extra field of its own lengths
    name, extra = (int.from_bytes(raw[at + i : at + i + 2], "little") for i in (26, 28))
    start = at + 30 + name + extra
    raw[start : start + 4] = b"\x00\x00\xc0\x7f"  # a float32 NaN over the first value stored
    path.write_bytes(bytes(raw))
    with pytest.raises(UserError, match=r"checkpoint.pt is damaged \(the checksum of .* does not match"):
        ckpt.load(path)


def test_a_checkpoint_with_weights_that_are_not_finite_is_refused(tmp_path: Path) -> None:
    first = torchprimer.train(out=tmp_path, epochs=1, **QUICK)
    path = first.run_dir / "checkpoint.pt"
    state = ckpt.load(path)
    state.pop("format")
    state["model"]["1.weight"][0, 0] = float("nan")
    ckpt.save(path, state)  # a valid archive: only the values are wrong
    with pytest.raises(UserError, match=r"weight '1\.weight' holds NaN or infinite values"):
        ckpt.load(path)


def test_two_runs_started_in_the_same_second_get_their_own_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The name was chosen by exists() and then made: another process could take it in between
    ("File exists; give --out a folder you can write in"). Here every exists() misses, as in that race."""
    monkeypatch.setattr(Path, "exists", lambda self: False)
    cfg = make_config(**{k: v for k, v in QUICK.items() if k != "progress"})
    made = [run_module.new_run_dir(tmp_path, cfg) for _ in range(3)]
    assert len({p.name for p in made}) == 3 and all(p.is_dir() for p in made)


def test_sigterm_stops_a_run_as_ctrl_c_does(tmp_path: Path) -> None:
    """What `timeout`, `docker stop` and Slurm send: a status, the advice, exit 130 (it died without a word)."""
    command = [sys.executable, "-m", "torchprimer", "train", "--epochs", "100000", "--out", str(tmp_path)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("*/metrics.csv")) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    err = stderr_after_stop(proc)
    run_dir = next(tmp_path.iterdir())
    assert proc.returncode == 130 and err.startswith("interrupted after epoch "), err
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "interrupted"


STOPPED_INSIDE_EXEC = """
import os, signal, sys
import torchprimer.doctor
from torchprimer.cli import main

def stopped(*args, **kwargs):
    # SIGTERM while source text runs under exec(), where CI's stop landed: dataclasses build their
    # methods that way during `import torchvision`.
    exec("import os, signal, time\\nos.kill(os.getpid(), signal.SIGTERM)\\ntime.sleep(30)")

torchprimer.doctor.run_doctor = stopped
main(["doctor"])
"""


def test_a_stop_inside_exec_still_exits_130_not_by_sigint(tmp_path: Path) -> None:
    """CPython marks a KeyboardInterrupt that left an exec() of source text as unhandled even when the
    CLI catches it, and `python -m` then died by SIGINT (returncode -2) after printing "interrupted"."""
    (tmp_path / "stopper.py").write_text(STOPPED_INSIDE_EXEC)
    done = subprocess.run([sys.executable, "-m", "stopper"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 130 and done.stderr == "interrupted\n", (done.returncode, done.stderr)


CTRL_C_TURNED_INTO_ANOTHER_ERROR = """
import os, signal, time
import torchprimer.doctor
from torchprimer.cli import main

def stopped(*args, **kwargs):
    # Ctrl-C while numpy was half imported: the KeyboardInterrupt was lost inside the import and numpy's
    # module __getattr__ then recursed (a RecursionError traceback, exit 1, in `train --nproc` at 1 s)
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(30)
    except KeyboardInterrupt:
        pass
    raise RecursionError("maximum recursion depth exceeded")

torchprimer.doctor.run_doctor = stopped
main(["doctor"])
"""


def test_an_error_that_ctrl_c_caused_is_reported_as_the_stop(tmp_path: Path) -> None:
    """A library interrupted by Ctrl-C can fail afterwards in its own way; the command stopped all the same:
    one word and exit 130, not the other error's traceback."""
    (tmp_path / "stopper.py").write_text(CTRL_C_TURNED_INTO_ANOTHER_ERROR)
    done = subprocess.run([sys.executable, "-m", "stopper"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 130 and done.stderr == "interrupted\n", (done.returncode, done.stderr)


def test_a_stop_while_typer_reads_the_commands_is_one_word(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """typer reads every command's annotations before any command runs (a quarter of a second): Ctrl-C
    there printed typing's traceback and died by SIGINT."""
    import typer

    from torchprimer.cli import main

    def stopped(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(typer.main, "get_command", stopped)
    with pytest.raises(SystemExit) as done:
        main(["doctor"])
    assert done.value.code == 130 and capsys.readouterr().err == "interrupted\n"


STOPPED_INSIDE_A_FINALIZER = """
import signal, sys, time
import torchprimer.doctor
from torchprimer.cli import main

class Finalized:
    def __del__(self):
        signal.raise_signal(getattr(signal, sys.argv[1]))  # the handler runs here, inside the finalizer
        sum(range(10))

def stopped(*args, **kwargs):
    Finalized()  # collected at once
    time.sleep(3)
    print("ran on")

torchprimer.doctor.run_doctor = stopped
main(["doctor"])
"""


@pytest.mark.parametrize("kind", ["SIGTERM", "SIGINT"])
def test_a_stop_that_lands_in_a_finalizer_still_stops(tmp_path: Path, kind: str) -> None:
    """Python cannot raise out of a finalizer (a __del__, a weakref callback): the KeyboardInterrupt was
    printed as "Exception ignored" and the command ran on. CI's bench ran on after `timeout`'s one SIGTERM
    until the test gave up."""
    (tmp_path / "stopper.py").write_text(STOPPED_INSIDE_A_FINALIZER)
    done = subprocess.run([sys.executable, "-m", "stopper", kind], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "interrupted\n")


@pytest.mark.parametrize("kind", ["SIGTERM", "SIGINT"])
def test_a_stop_lost_as_the_command_ends_still_ends_it_as_interrupted(tmp_path: Path, kind: str) -> None:
    """A stop lost in a finalizer in a command's last moments: the command returned before the stop was
    sent again, which then arrived during the interpreter's exit and ended it by the signal (or a
    traceback), not with "interrupted" and 130."""
    slow_redelivery = ("import threading\nfast = threading.Timer\n"  # the command ends before the stop is sent again
                       "threading.Timer = lambda delay, *args, **kwargs: fast(0.5, *args, **kwargs)\n")
    ends_at_once = ("    time.sleep(3)\n    print(\"ran on\")\n",
                    "    return {\"ok\": True}\ntorchprimer.doctor.render = lambda report, *lang: print(report)\n")
    script = slow_redelivery + STOPPED_INSIDE_A_FINALIZER.replace(*ends_at_once)
    assert "ran on" not in script
    (tmp_path / "stopper.py").write_text(script)
    done = subprocess.run([sys.executable, "-m", "stopper", kind], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (130, "{'ok': True}\n", "interrupted\n")


def test_an_edited_config_json_is_one_line_for_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A normalisation that does not fit the inputs, and option values out of range: types were
    checked on reading config.json, ranges were not, and each of the latter was a traceback."""
    first = torchprimer.train(out=tmp_path, epochs=1, **QUICK)
    config = first.run_dir / "config.json"
    stored = json.loads(config.read_text())
    np.save(tmp_path / "x.npy", np.zeros((1, 2), np.float32))
    predict = ["predict", str(first.run_dir), str(tmp_path / "x.npy")]
    for mean, expected in (([0.1, 0.2, 0.3], "data.mean and data.std must hold 2 numbers each"),
                           ([1e300, 0.0], "within float32's range")):
        config.write_text(json.dumps({**stored, "data": {**stored["data"], "mean": mean}}))
        assert expected in fails(predict, capsys)
    edits = [("hidden", [-1], "every layer needs at least 1 unit"), ("label_smoothing", 5, "--label-smoothing 5"),
             ("seed", 2**70, "must be from 0 to 2**63 - 1"), ("val_fraction", float("nan"), "--val-fraction")]
    for key, value, expected in edits:
        config.write_text(json.dumps({**stored, "config": {**stored["config"], key: value}}))
        resume = ["train", "--resume", str(first.run_dir), "--epochs", "2"]
        for argv in (["evaluate", str(first.run_dir)], predict, resume):
            assert expected in fails(argv, capsys), (key, argv)
    with pytest.raises(UserError, match="2\\*\\*63 - 1"):
        torchprimer.train(seed=2**70, save=False, **QUICK)


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("epoch", "x", "its epoch is 'x'"), ("history", [], "not one record per epoch"),
    ("best", None, "best-so-far record"), ("optimizer", {}, "optimiser state"), ("rng", {}, "random generator"),
])
def test_a_checkpoint_edited_into_another_shape_is_refused_before_the_folder_changes(
    key: str, value: object, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """Edited and saved again, each loaded and then stopped --resume with a TypeError or KeyError
    after config.json was rewritten; history=[] cut metrics.csv to one row, exit 0."""
    first = torchprimer.train(out=tmp_path, epochs=2, **QUICK)
    path = first.run_dir / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    state[key] = value
    torch.save(state, path)
    before = {p.name: p.read_bytes() for p in first.run_dir.iterdir() if p.is_file()}
    assert expected in fails(["train", "--resume", str(first.run_dir), "--epochs", "3"], capsys)
    assert {p.name: p.read_bytes() for p in first.run_dir.iterdir() if p.is_file()} == before


def test_a_cache_folder_that_cannot_be_written_only_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The data still loads (a read-only home must not stop it); the warning says how to move the cache."""
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder would go")
    monkeypatch.setenv("TORCHPRIMER_CACHE", str(blocked))
    np.savez(tmp_path / "d.npz", x=np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32),
             y=np.arange(40) % 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = torchprimer.train(dataset=f"npz:{tmp_path / 'd.npz'}", epochs=1, save=False, progress="none")
    assert result.test["accuracy"] >= 0
    assert any("set TORCHPRIMER_CACHE to a writable folder to cache it" in str(w.message) for w in caught)


def test_a_file_that_is_not_an_npz_archive_is_not_offered_unpickling(tmp_path: Path) -> None:
    (tmp_path / "notes.npz").write_text("hello")
    with pytest.raises(UserError, match=r"is not an \.npz archive \(no zip header\)") as refused:
        torchprimer.train(dataset=f"npz:{tmp_path / 'notes.npz'}", save=False, progress="none")
    assert "pickle" not in str(refused.value)


def test_the_same_weights_give_the_same_model_file_bytes_in_every_process(tmp_path: Path) -> None:
    """safetensors orders its metadata as a hash map does, which differs per process: sha256 of two
    identical runs' model.safetensors differed, though every tensor was equal."""
    script = ("import sys, torch; from torch import nn; from pathlib import Path; "
              "from torchprimer.training.run import save_weights; torch.manual_seed(0); "
              "m = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)); "
              "save_weights(m, Path(sys.argv[1]), {'format': 'torchprimer', 'model': 'mlp', 'dataset': 'moons', "
              "'a': '1', 'b': '2', 'c': '3'})")
    files = [tmp_path / f"{i}.safetensors" for i in range(4)]
    for path in files:
        subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=120)
    assert len({path.read_bytes() for path in files}) == 1


def test_a_stop_while_a_continuation_writes_its_weights_keeps_weights_and_summary_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C between model.safetensors and summary.json of a continued run left the new weights beside
    the old run's summary (2 epochs, its test accuracy). The stop now waits until both are written."""
    import os

    from safetensors.torch import load_file

    run = torchprimer.train(out=tmp_path, epochs=2, **QUICK).run_dir
    real_save = run_module.save_weights

    def stopped_while_saving(*args: object, **kwargs: object) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C lands as the weights are written
        time.sleep(0.05)
        real_save(*args, **kwargs)

    monkeypatch.setattr(run_module, "save_weights", stopped_while_saving)
    with pytest.raises(TrainingInterrupted):
        torchprimer.train(resume=run, epochs=4, progress="none")
    summary = json.loads((run / "summary.json").read_text())
    weights = load_file(run / "model.safetensors")
    final = ckpt.load(run / "checkpoint.pt")["model"]
    assert summary["status"] == "finished" and summary["epochs_run"] == 4
    assert all(torch.equal(weights[name], final[name]) for name in weights)


def test_a_config_json_edited_to_another_model_of_the_same_shapes_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """tanh for relu (or another mean) leaves every tensor's shape as it was, so evaluate reported
    another model's accuracy with exit 0: model.safetensors now records what it was trained with."""
    from safetensors.torch import load_file, save_file

    first = torchprimer.train(out=tmp_path, epochs=1, **QUICK)
    config = first.run_dir / "config.json"
    stored = json.loads(config.read_text())
    np.save(tmp_path / "x.npy", np.zeros((1, 2), np.float32))
    evaluate, predict = ["evaluate", str(first.run_dir)], ["predict", str(first.run_dir), str(tmp_path / "x.npy")]
    edits = [({"config": {**stored["config"], "activation": "tanh"}},
              'says activation is "tanh", but model.safetensors was trained with "relu": config.json was edited '
              'after training; put back activation: "relu", or train a new run'),
             ({"config": {**stored["config"], "dropout": 0.5}}, 'put back dropout: 0.0, or'),
             ({"config": {**stored["config"], "hidden": [16]}}, "says hidden is [16], but model.safetensors was "
                                                                "trained with [8]"),  # was "copied from another run?"
             ({"data": {**stored["data"], "mean": [9.0, 9.0]}},
              f"put back data.mean: {json.dumps(stored['data']['mean'])}"),
             ({"config": {**stored["config"], "activation": "gelu", "batchnorm": True}}, "(and 1 more option(s))")]
    for edit, expected in edits:
        config.write_text(json.dumps({**stored, **edit}))
        for argv in (evaluate, predict):
            assert expected in fails(argv, capsys), (edit, argv)
    config.write_text(json.dumps(stored))
    assert load_run(first.run_dir).config.activation == "relu"

    # Weights written before this record existed carry no "trained_with": they load as they did.
    weights = first.run_dir / "model.safetensors"
    save_file(load_file(weights), weights, metadata={"format": "torchprimer"})
    summary = json.loads((first.run_dir / "summary.json").read_text())
    summary.pop("weights_sha256")
    (first.run_dir / "summary.json").write_text(json.dumps(summary))
    config.write_text(json.dumps({**stored, "config": {**stored["config"], "activation": "tanh"}}))
    assert load_run(first.run_dir).config.activation == "tanh"


def test_weights_copied_with_their_summary_from_another_run_are_named_as_copied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """model.safetensors and summary.json copied in together from a tanh run: the SHA-256 agrees, so the
    difference was blamed on config.json ("edited after training; put back activation: tanh"), sending
    the user to break a config.json that was right."""
    ours = torchprimer.train(out=tmp_path / "a", epochs=1, **QUICK).run_dir
    other = torchprimer.train(out=tmp_path / "b", epochs=1, activation="tanh", **QUICK).run_dir
    for name in ("model.safetensors", "summary.json"):
        (ours / name).write_bytes((other / name).read_bytes())
    err = fails(["evaluate", str(ours)], capsys)
    assert "model.safetensors and summary.json are not this run's (summary.json's epoch times differ" in err
    assert 'trained with activation "tanh" where config.json says "relu"): were they copied' in err
    assert "edited" not in err
    (ours / "metrics.jsonl").write_bytes((other / "metrics.jsonl").read_bytes())  # then only config.json differs
    assert "config.json was edited after training" in fails(["evaluate", str(ours)], capsys)


def test_a_config_json_missing_its_data_set_or_with_an_edited_class_list_says_what_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A config.json without "dataset" was read as digits (a moons run refused as "data set 'digits' no longer
    gives the splits"; predict ran on quietly); an eleventh class showed two lists cut alike, which looked equal."""
    run = torchprimer.train(out=tmp_path, epochs=1, progress="none", hidden=(8,)).run_dir  # digits: 10 classes
    config = run / "config.json"
    stored = json.loads(config.read_text())
    np.save(tmp_path / "x.npy", np.zeros((1, 8, 8), np.float32))
    config.write_text(json.dumps({**stored, "config": {k: v for k, v in stored["config"].items() if k != "dataset"}}))
    for argv in (["evaluate", str(run)], ["predict", str(run), str(tmp_path / "x.npy")],
                 ["train", "--resume", str(run), "--epochs", "2"]):
        assert "config.json has no 'dataset' in its \"config\" block, which every run writes" in fails(argv, capsys)
    classes = stored["data"]["classes"]
    for edited, said in (([*classes, "10"], "(11 entries there, 10 in training)"),
                         ([*classes[:8], "eight", "9"], '(entry 8 is "eight" there, "8" in training)')):
        config.write_text(json.dumps({**stored, "data": {**stored["data"], "classes": edited}}))
        assert said in fails(["evaluate", str(run)], capsys)


def test_a_checkpoint_whose_optimizer_state_was_edited_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    """torch's "loaded state dict has a different number of parameter groups" named no file, and came after
    config.json had been rewritten for the new epochs."""
    first = torchprimer.train(out=tmp_path, epochs=1, **QUICK)
    path = first.run_dir / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    state["optimizer"] = {"state": {}, "param_groups": []}
    torch.save(state, path)
    before = {p.name: p.read_bytes() for p in first.run_dir.iterdir() if p.is_file()}
    with pytest.raises(UserError, match=r"holds an optimizer state this run's optimizer cannot take .*different "
                                        r"number of parameter groups.*; put back this run's checkpoint"):
        torchprimer.train(resume=first.run_dir, epochs=2, progress="none")
    assert {p.name: p.read_bytes() for p in first.run_dir.iterdir() if p.is_file()} == before
