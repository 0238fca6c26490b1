"""Exact resume, early stopping that restores the best weights, and checkpoints that
survive SIGKILL mid-write."""

from __future__ import annotations

import json
import pickle
import random
import shlex
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
from conftest import stderr_after_stop

import torchprimer
from torchprimer.errors import UserError
from torchprimer.progress import Silent
from torchprimer.runfolder import load_run
from torchprimer.training import checkpoint as ckpt
from torchprimer.training import loop

OPTIONS = {"epochs": 5, "hidden": (32,), "dropout": 0.2, "batch_size": 128, "progress": "none"}


class _StopAfter(Silent):
    """Acts like Ctrl-C right after epoch `k` has been checkpointed."""

    def __init__(self, k: int) -> None:
        self.k = k

    def epoch(self, record: dict[str, float]) -> None:
        if record["epoch"] == self.k:
            raise KeyboardInterrupt


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize(("schedule", "k"), [("none", 1), ("onecycle", 2), ("onecycle", 4), ("cosine", 3)])
def test_interrupted_and_resumed_run_is_bit_identical(tmp_path: Path, schedule: str, k: int) -> None:
    options = {**OPTIONS, "schedule": schedule}
    whole = torchprimer.train(out=tmp_path / "whole", **options)
    with pytest.raises(KeyboardInterrupt):
        torchprimer.train(out=tmp_path / "cut", **{**options, "progress": _StopAfter(k)})
    run_dir = next((tmp_path / "cut").iterdir())
    assert len((run_dir / "metrics.csv").read_text().splitlines()) == k + 1
    resumed = torchprimer.train(resume=run_dir, progress="none")
    for key, value in _weights(whole.model).items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    assert (run_dir / "metrics.csv").read_bytes() == (whole.run_dir / "metrics.csv").read_bytes()


def test_resume_refuses_a_changed_config_but_allows_more_epochs(tmp_path: Path) -> None:
    first = torchprimer.train(out=tmp_path, epochs=1, progress="none")
    with pytest.raises(UserError, match=r"only --epochs \(and where the data is: --data-dir, --download\) may "
                       "change, not lr"):
        torchprimer.train(resume=first.run_dir, lr=0.5, progress="none")
    more = torchprimer.train(resume=first.run_dir, epochs=2, progress="none")
    assert [r["epoch"] for r in more.history] == [1, 2]


def test_early_stopping_restores_the_best_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation loss is forced to fall for two epochs, then rise: epoch 2's weights must come back."""
    scripted = iter([1.0, 0.5, 0.7, 0.9, 1.1, 1.3])
    real_evaluate = loop.evaluate
    calls = {"n": 0}

    def rigged(model, x, y, objective, *, amp=False):
        metrics = real_evaluate(model, x, y, objective, amp=amp)
        calls["n"] += 1
        # only the per-epoch validation passes (not the final test pass) are rigged
        return {**metrics, "loss": next(scripted)} if calls["n"] <= 6 else metrics

    snapshots: dict[int, dict[str, torch.Tensor]] = {}

    class Snap(Silent):
        def epoch(self, record: dict[str, float]) -> None:
            snapshots[int(record["epoch"])] = _weights(result_model[0])

    result_model: list[torch.nn.Module] = []
    real_fit = loop.fit

    def capturing_fit(model, *args, **kwargs):
        result_model.append(model)
        return real_fit(model, *args, **kwargs)

    monkeypatch.setattr(loop, "evaluate", rigged)
    monkeypatch.setattr("torchprimer.training.run.fit", capturing_fit)
    result = torchprimer.train(out=tmp_path, epochs=10, early_stopping=2, progress=Snap())
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4]  # stopped after 2 epochs without improvement
    assert result.best_epoch == 2 and result.stopped_early
    assert not torch.equal(snapshots[2]["1.weight"], snapshots[4]["1.weight"])
    for key, value in snapshots[2].items():
        assert torch.equal(result.model.state_dict()[key], value), key


def test_a_run_that_stopped_early_resumes_to_the_same_end(tmp_path: Path) -> None:
    """Resuming a finished early-stopped run trained one more epoch (16 epochs became 17): the
    stopping rule is now checked before the first resumed epoch too."""
    first = torchprimer.train(out=tmp_path, epochs=40, early_stopping=2, lr=0.01, progress="none")
    assert first.stopped_early and len(first.history) < 40
    metrics = (first.run_dir / "metrics.csv").read_bytes()
    weights = _weights(first.model)
    again = torchprimer.train(resume=first.run_dir, progress="none")
    assert again.stopped_early and len(again.history) == len(first.history)
    assert (first.run_dir / "metrics.csv").read_bytes() == metrics
    for key, value in weights.items():
        assert torch.equal(again.model.state_dict()[key], value), key
    # more epochs cannot continue it: said in one line, and config.json and metrics.csv are left as they were
    config = (first.run_dir / "config.json").read_bytes()
    with pytest.raises(UserError, match=rf"stopped early at epoch {len(first.history)} \(--early-stopping 2: .*"
                                        "start a new run"):
        torchprimer.train(resume=first.run_dir, epochs=50, progress="none")
    assert (first.run_dir / "config.json").read_bytes() == config
    assert (first.run_dir / "metrics.csv").read_bytes() == metrics


def test_truncated_or_foreign_checkpoints_are_clear_errors(tmp_path: Path) -> None:
    run = torchprimer.train(out=tmp_path, epochs=1, progress="none").run_dir
    data = (run / "checkpoint.pt").read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match=r"corrupt or truncated \(.* bytes and no zip directory at the end"):
        ckpt.load(bad)
    for cut in (100, 50_000):  # torch says "failed finding central directory" or "[Errno 22]" for these
        bad.write_bytes(data[:cut])
        with pytest.raises(UserError, match=f"{cut:,} bytes and no zip directory"):
            ckpt.load(bad)
    bad.write_bytes(b"")
    with pytest.raises(UserError, match=r"\(the file is empty\)"):
        ckpt.load(bad)
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(_Payload()))  # a bare pickle: not what torch.save writes
    with warnings.catch_warnings(record=True) as caught:  # torch's pickle-protocol note sat above the error line
        warnings.simplefilter("always")
        with pytest.raises(UserError, match="another kind of file"):
            ckpt.load(evil)
    assert [str(w.message) for w in caught] == []
    torch.save(_Payload(), evil)  # torch.save's archive around a pickle that would run code
    with pytest.raises(UserError, match="would need unpickling code to load, which torchprimer refuses"):
        ckpt.load(evil)
    evil.write_text("garbage\n")  # a text file was called "would need unpickling code" too
    with pytest.raises(UserError, match=r"corrupt or truncated \(8 bytes and no zip directory"):
        ckpt.load(evil)
    with pytest.raises(UserError, match="no checkpoint"):
        ckpt.load(tmp_path / "missing.pt")


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


KILL_SCRIPT = """
import sys, torchprimer
torchprimer.train(out=sys.argv[1], epochs=100000, hidden=(768, 768), batch_size=512, progress="none")
"""


def test_sigkill_during_checkpoint_writes_never_leaves_an_unloadable_checkpoint(tmp_path: Path) -> None:
    rng = random.Random(0)
    loaded = 0
    attempts = 3
    for attempt in range(attempts):
        out = tmp_path / f"kill{attempt}"
        proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(out)])
        try:
            deadline = time.monotonic() + 180  # start-up is slow on a busy 2-core machine
            while not list(out.glob("*/checkpoint.pt")) and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 1.5))  # land anywhere in the write/train cycle
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        for path in out.glob("*/checkpoint.pt"):
            state = ckpt.load(path)
            assert state["epoch"] >= 1 and "model" in state
            loaded += 1
    assert loaded == attempts


def _files(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}


def test_resume_refuses_a_checkpoint_of_another_run_before_writing_anything(tmp_path: Path) -> None:
    """A checkpoint.pt copied in from another run: one clear error, and the finished run's
    summary.json and config.json stay as they were (they used to be overwritten, then a traceback)."""
    run = torchprimer.train(out=tmp_path / "a", epochs=2, progress="none").run_dir
    other = torchprimer.train(out=tmp_path / "b", epochs=2, model="linear", progress="none").run_dir
    own = torch.load(run / "checkpoint.pt", weights_only=True)
    (run / "checkpoint.pt").write_bytes((other / "checkpoint.pt").read_bytes())
    before = _files(run)
    with pytest.raises(UserError, match=r"belongs to another run \(model 'linear' vs 'mlp'"):
        torchprimer.train(resume=run, epochs=4, progress="none")
    assert _files(run) == before
    # This run's configuration with weights of another shape (a hand-edited or mixed-up file): refused too.
    own["model"] = torch.load(other / "checkpoint.pt", weights_only=True)["model"]
    torch.save(own, run / "checkpoint.pt")
    with pytest.raises(UserError, match="does not fit the model in config\\.json"):
        torchprimer.train(resume=run, epochs=4, progress="none")


def test_resume_refuses_changed_data_and_keeps_the_run(tmp_path: Path) -> None:
    """The data files changed since training: resuming would go on silently on other data."""
    from torchprimer.data import synthetic

    data = synthetic.write_npz(tmp_path / "d.npz", n=200)
    run = torchprimer.train(out=tmp_path / "runs", dataset=f"npz:{data}", epochs=2, progress="none").run_dir
    synthetic.write_npz(data, n=150, seed=1)
    before = _files(run)
    with pytest.raises(UserError, match=r"no longer gives the splits .* \(sizes"):
        torchprimer.train(resume=run, epochs=4, progress="none")
    assert _files(run) == before


def test_resume_accepts_options_given_again_unchanged(tmp_path: Path) -> None:
    run = torchprimer.train(out=tmp_path, epochs=1, hidden="32", progress="none").run_dir
    result = torchprimer.train(resume=run, epochs=2, hidden="32", model="mlp", progress="none")
    assert len(result.history) == 2
    with pytest.raises(UserError, match="not hidden"):
        torchprimer.train(resume=run, epochs=3, hidden="64", progress="none")


def test_resume_of_a_run_stopped_before_its_first_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        torchprimer.train(out=tmp_path, epochs=3, progress=_StopBefore())
    run = next(tmp_path.iterdir())
    assert not (run / "checkpoint.pt").exists()
    with pytest.raises(UserError, match="interrupted before its first checkpoint, so there is nothing to resume"):
        torchprimer.train(resume=run, epochs=3, progress="none")
    (run / "summary.json").unlink()  # killed outright: no summary either
    with pytest.raises(UserError, match="stopped before its first epoch ended"):
        torchprimer.train(resume=run, epochs=3, progress="none")


def test_a_checkpoint_missing_its_parts_is_refused(tmp_path: Path) -> None:
    run = torchprimer.train(out=tmp_path, epochs=1, progress="none").run_dir
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    del state["epoch"]
    torch.save(state, run / "checkpoint.pt")
    with pytest.raises(UserError, match="lacks epoch"):
        torchprimer.train(resume=run, epochs=2, progress="none")


class _StopBefore(Silent):
    """Acts like Ctrl-C during the first epoch, before any checkpoint."""

    def step(self) -> None:
        raise KeyboardInterrupt


def test_ctrl_c_says_where_to_resume_and_leaves_a_loadable_checkpoint(tmp_path: Path) -> None:
    """SIGINT, as Ctrl-C sends it, to `torchprimer train`: exit 130 and one line naming the complete
    checkpoint's epoch and the --resume command (typer used to turn it into a silent exit 130)."""
    command = [sys.executable, "-m", "torchprimer", "train", "--epochs", "100000", "--out", str(tmp_path)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("*/metrics.csv")) and time.monotonic() < deadline:  # after the first checkpoint
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    err = stderr_after_stop(proc)
    run = next(tmp_path.iterdir())
    assert proc.returncode == 130, err
    assert err.startswith("interrupted after epoch ") and f"torchprimer train --resume {run}" in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert ckpt.load(run / "checkpoint.pt")["epoch"] >= 1


def test_resumed_run_counts_the_earlier_epochs_training_time(tmp_path: Path) -> None:
    first = torchprimer.train(out=tmp_path, epochs=2, progress="none")
    state = ckpt.load(first.run_dir / "checkpoint.pt")
    for record in state["history"]:
        record["seconds"] = 100.0  # as if the first process had trained slowly
    ckpt.save(first.run_dir / "checkpoint.pt", state)
    more = torchprimer.train(resume=first.run_dir, epochs=3, progress="none")
    summary = more.summary()
    assert summary["epochs_run"] == 3 == len(summary["epoch_seconds"])
    assert summary["epoch_seconds"][:2] == [100.0, 100.0]
    assert 200.0 + summary["epoch_seconds"][2] <= summary["train_seconds"] < 260.0


def test_resume_checks_the_epochs_it_is_given_and_names_unknown_options(tmp_path: Path) -> None:
    """From Python, --resume's epochs are checked as a new run's are: "abc" was a ValueError, 4.0 and True
    were taken as 4 and 1, and an unknown option was called a change to the run's config."""
    run = torchprimer.train(out=tmp_path, epochs=1, progress="none").run_dir
    before = _files(run)
    for epochs in ("abc", 4.0, True):
        with pytest.raises(UserError, match=f"option 'epochs' is {epochs!r}, not a whole number"):
            torchprimer.train(resume=run, epochs=epochs, progress="none")
    with pytest.raises(UserError, match="--epochs 0 must be greater than 0"):  # as a new run's
        torchprimer.train(resume=run, epochs=0, progress="none")
    with pytest.raises(UserError, match=r"unknown training option\(s\) \['epoch'\]"):
        torchprimer.train(resume=run, epoch=3, progress="none")
    assert _files(run) == before


def test_resume_of_an_edited_data_block_is_one_clear_error(tmp_path: Path) -> None:
    """config.json's "data" block with a key removed stopped --resume with a KeyError traceback."""
    import json

    run = torchprimer.train(out=tmp_path, epochs=1, progress="none").run_dir
    stored = json.loads((run / "config.json").read_text())
    del stored["data"]["classes"]
    (run / "config.json").write_text(json.dumps(stored))
    before = _files(run)
    with pytest.raises(UserError, match=r"config\.json has no complete 'data' block"):
        torchprimer.train(resume=run, epochs=2, progress="none")
    assert _files(run) == before


def test_resume_of_a_finished_run_whose_checkpoint_was_deleted_says_so(tmp_path: Path) -> None:
    """It was asked "is this a torchprimer run folder?", of a run folder, with no way on."""
    run = torchprimer.train(out=tmp_path, epochs=1, progress="none").run_dir
    (run / "checkpoint.pt").unlink()
    with pytest.raises(UserError, match=r"finished, but its checkpoint\.pt has been deleted.*train again without"):
        torchprimer.train(resume=run, epochs=2, progress="none")


def _suggested(message: str, before: str) -> list[str]:
    """The words of the command a message suggests after `before`, as a shell splits them once the
    quotes that set it off in the sentence are taken away."""
    shown = message.split(before, 1)[1].strip()
    assert shown[0] == shown[-1] and shown[0] in "'\"", message
    return shlex.split(shown[1:-1])


def test_suggested_resume_commands_quote_the_run_folder_for_the_shell(tmp_path: Path) -> None:
    """A run folder under "my runs/" was suggested unquoted: pasted, the command was cut at the space."""
    from torchprimer.training.run import resume_command

    for folder in (tmp_path / "plain", tmp_path / "my runs" / "r1", tmp_path / "Bob's runs" / "r 2"):
        assert _suggested(f"go on with {resume_command(folder)}", "go on with") == [
            "torchprimer", "train", "--resume", str(folder)]
    assert resume_command("runs/x") == "'torchprimer train --resume runs/x'"  # as the messages always showed it
    with pytest.raises(KeyboardInterrupt):
        torchprimer.train(out=tmp_path / "my runs", **{**OPTIONS, "progress": _StopAfter(1)})
    run = next((tmp_path / "my runs").iterdir())
    with pytest.raises(UserError, match="finish it with") as refused:
        load_run(run)
    assert _suggested(str(refused.value), "finish it with") == ["torchprimer", "train", "--resume", str(run)]


def test_the_advice_after_a_stop_quotes_a_run_folder_with_spaces(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt) as stopped:
        torchprimer.train(out=tmp_path / "my runs", **{**OPTIONS, "progress": _StopAfter(1)})
    run = next((tmp_path / "my runs").iterdir())
    advice = stopped.value.advice()  # type: ignore[attr-defined]
    assert _suggested(advice, "go on with") == ["torchprimer", "train", "--resume", str(run)]


def test_an_edited_config_json_is_named_as_the_cause_not_the_checkpoint(tmp_path: Path) -> None:
    """config.json's "lr" edited, then --resume: the error blamed "a checkpoint of another run", and its
    advice (put back this run's checkpoint) sent the learner after a file that was fine."""
    run = torchprimer.train(out=tmp_path, epochs=1, progress="none").run_dir
    config = run / "config.json"
    stored = json.loads(config.read_text())
    stored["config"]["lr"] = 0.01
    config.write_text(json.dumps(stored))
    before = _files(run)
    with pytest.raises(UserError, match=r"config\.json was edited since the run trained \(lr 0\.01 there, 0\.001 in "
                                        r"checkpoint\.pt\); .*put back lr 0\.001 in config\.json, or train a new run"):
        torchprimer.train(resume=run, epochs=2, progress="none")
    assert _files(run) == before
    (run / "metrics.jsonl").unlink()  # nothing left to tell which of the two files changed: both are named
    with pytest.raises(UserError, match=r"does not match checkpoint\.pt \(config\.json was edited, or the "
                                        r"checkpoint copied from another run\)"):
        torchprimer.train(resume=run, epochs=2, progress="none")


def test_a_run_whose_data_folder_moved_is_resumed_and_evaluated_from_where_it_is_now(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder a run read its data from was moved. --resume refused --data-dir ("only --epochs may
    change"), so the run could not go on; evaluate and --resume told the user to pass --data-dir or
    add --download, options evaluate does not have, for a folder they had not typed."""
    from conftest import fails

    from torchprimer.cli import main
    from torchprimer.data import synthetic
    from torchprimer.training import distributed

    synthetic.write_mnist(tmp_path / "data", n_train=300, n_test=50)
    run = torchprimer.train(out=tmp_path / "runs", dataset="mnist", data_dir=tmp_path / "data", epochs=1,
                            hidden=16, progress="none").run_dir
    (tmp_path / "data").rename(tmp_path / "moved")
    before = _files(run)
    gone = f"config.json reads mnist from data_dir {tmp_path / 'data'} (does not exist); put the data back there"
    with pytest.raises(UserError, match=r'set "data_dir" in config\.json to the folder') as refused:
        load_run(run)
    assert gone in str(refused.value)
    with pytest.raises(UserError, match="or pass --data-dir with the folder that holds it now") as refused:
        torchprimer.train(resume=run, epochs=2, progress="none")
    assert gone in str(refused.value)
    monkeypatch.setattr(distributed, "launch", lambda *a, **k: pytest.fail("processes started"))
    err = fails(["train", "--nproc", "2", "--resume", str(run), "--epochs", "2"], capsys)
    assert gone in err and "pass --data-dir" in err
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"^mnist: missing train-images.*and pass --data-dir"):  # typed: as train
        torchprimer.train(resume=run, epochs=2, data_dir=tmp_path / "empty", progress="none")
    synthetic.write_mnist(tmp_path / "other", n_train=300, n_test=50, seed=1)
    with pytest.raises(UserError, match="no longer gives the splits"):  # another folder must hold the same data
        torchprimer.train(resume=run, epochs=2, data_dir=tmp_path / "other", progress="none")
    assert _files(run) == before

    more = torchprimer.train(resume=run, epochs=2, data_dir=tmp_path / "moved", progress="none")
    assert [r["epoch"] for r in more.history] == [1, 2]
    assert json.loads((run / "config.json").read_text())["config"]["data_dir"] == str(tmp_path / "moved")
    assert load_run(run).x_test is not None  # evaluate reads the folder config.json now names
    with pytest.raises(SystemExit) as evaluated:
        main(["evaluate", str(run), "--top-losses", "0"])
    assert evaluated.value.code == 0 and "test accuracy" in capsys.readouterr().out


def test_a_resume_with_nothing_left_to_train_says_so_and_keeps_what_was_made_from_the_weights(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--resume` of a finished run, without more --epochs, mends its files (the tests in
    test_damaged_runs.py) but printed the old figures as though it had trained."""
    from torchprimer.cli import main

    run = torchprimer.train(out=tmp_path / "a", epochs=2, hidden=16, progress="none").run_dir
    with pytest.raises(SystemExit):
        main(["evaluate", str(run)])
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["train", "--resume", str(run)])
    out = capsys.readouterr().out
    assert done.value.code == 0
    assert ("nothing was left to train (its checkpoint holds all 2 epochs; more with --epochs 3 or more): "
            "the run's final files were checked and written again") in out
    assert (run / "top_losses.png").is_file() and "removed" not in out  # the same weights: still theirs
    stopped = torchprimer.train(out=tmp_path / "b", epochs=40, lr=0.3, early_stopping=1, hidden=16,
                                progress="none")
    assert stopped.stopped_early
    with pytest.raises(SystemExit):
        main(["train", "--resume", str(stopped.run_dir)])
    assert f"nothing was left to train (it had stopped early at epoch {len(stopped.history)})" in (
        capsys.readouterr().out)


def test_a_resumed_run_removes_what_evaluate_and_export_made_from_its_old_weights(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """top_losses.png and the exports in the run folder were left beside the new weights, passing for
    the new model's."""
    from torchprimer.cli import main

    run = torchprimer.train(out=tmp_path, epochs=1, hidden=16, progress="none").run_dir
    for argv in (["evaluate", str(run)], ["export", str(run), "--format", "safetensors"],
                 ["export", str(run), "--format", "torchscript"]):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 0
    made = {"top_losses.png", "model.export.safetensors", "model.torchscript.pt"}
    assert made <= {p.name for p in run.iterdir()}
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["train", "--resume", str(run), "--epochs", "2"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and not made & {p.name for p in run.iterdir()}
    assert ("removed top_losses.png, model.export.safetensors, model.torchscript.pt: made from the weights "
            "before this --resume; run evaluate or export again") in out


def test_resume_refuses_a_typed_option_the_run_does_not_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--resume RUN --momentum 0.9` of an Adam run was taken as "unchanged"; a new run refuses it."""
    from conftest import fails

    run = torchprimer.train(out=tmp_path, epochs=1, hidden=16, progress="none").run_dir
    before = _files(run)
    err = fails(["train", "--resume", str(run), "--epochs", "2", "--momentum", "0.9"], capsys)
    assert "--momentum does nothing with --optimizer adam" in err
    assert _files(run) == before


def _logged_epochs(run: Path) -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = EventAccumulator(str(run / "tensorboard"))
    board.Reload()
    return sorted(event.step for event in board.Scalars("val_loss"))


def test_tensorboard_curves_have_no_gap_across_a_resume(tmp_path: Path) -> None:
    """A --tensorboard run resumed without the flag stopped logging at the resume; one given the flag
    only on --resume had no record of the epochs before it."""
    pytest.importorskip("tensorboard")
    logged = torchprimer.train(out=tmp_path / "a", epochs=2, hidden=16, tensorboard=True, progress="none").run_dir
    torchprimer.train(resume=logged, epochs=4, progress="none")
    assert _logged_epochs(logged) == [1, 2, 3, 4]
    late = torchprimer.train(out=tmp_path / "b", epochs=2, hidden=16, progress="none").run_dir
    torchprimer.train(resume=late, epochs=3, tensorboard=True, progress="none")
    assert _logged_epochs(late) == [1, 2, 3]
    plain = torchprimer.train(out=tmp_path / "c", epochs=1, hidden=16, progress="none").run_dir
    torchprimer.train(resume=plain, epochs=2, progress="none")
    assert not (plain / "tensorboard").exists()
