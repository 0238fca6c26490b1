"""The playground without HTTP: settings bounds, a tab's Session (worker thread, step, reset,
play/pause, save, frames), the drawing functions and the exported script."""

from __future__ import annotations

import base64
import contextlib
import json
import math
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import UI_SMALL, WAIT, wait_until
from torch import nn

pytest.importorskip("pydantic")  # the optional [ui] extra brings it (with fastapi); `make test` installs it
from pydantic import ValidationError

from torchprimer.data import toy
from torchprimer.errors import UserError
from torchprimer.evaluate import evaluate_run
from torchprimer.models import build_model
from torchprimer.runfolder import load_run
from torchprimer.training.config import make_config
from torchprimer.training.loop import evaluate
from torchprimer.training.run import METRIC_COLUMNS
from torchprimer.ui import views
from torchprimer.ui.script import render
from torchprimer.ui.session import EVAL_ROWS, MAX_WAITING, Busy, Session, SessionEnded
from torchprimer.ui.settings import MAX_LAYERS, MAX_UNITS, VAL_SHARE, PlaygroundConfig


def holds_for(condition: Callable[[], bool], seconds: float = 0.3) -> bool:
    """Whether `condition` stays true for `seconds` (checked every few milliseconds)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not condition():
            return False
        time.sleep(0.005)
    return condition()


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.fixture
def make_session(tmp_path: Path) -> Iterator[Callable[..., Session]]:
    """Sessions with frames sent as soon as asked for; every one is closed after the test."""
    made: list[Session] = []

    def make(**overrides: Any) -> Session:
        session = Session(PlaygroundConfig(**{**UI_SMALL, **overrides}), tmp_path / "runs", frame_interval=0.0)
        made.append(session)
        return session

    yield make
    for session in made:
        session.close()


def frames_of(session: Session) -> list[dict[str, Any]]:
    """Subscribe a sink that collects frames; nothing is sent until `ready()`."""
    frames: list[dict[str, Any]] = []
    session.subscribe(frames.append)
    return frames


# ----- settings ------------------------------------------------------------------------------

BAD_SETTINGS = [
    ({"hidden": [4] * (MAX_LAYERS + 1)}, "hidden"),
    ({"hidden": [4, MAX_UNITS + 1]}, "hidden"),
    ({"hidden": [0]}, "hidden"),
    ({"batch_size": 0}, "batch_size"),
    ({"lr": 0}, "lr"),
    ({"lr": -1}, "lr"),
    ({"dataset": "nope"}, "dataset"),
    ({"dataset": "../../etc/passwd"}, "dataset"),
    ({"activation": "nope"}, "activation"),
    ({"path": "/tmp/x"}, "path"),
    ({"n_samples": 10}, "n_samples"),
    ({"train_share": 0.95}, "train_share"),
]


@pytest.mark.parametrize(("fields", "field"), BAD_SETTINGS)
def test_settings_out_of_bounds_are_refused_naming_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        PlaygroundConfig(**fields)
    assert [e["loc"][0] for e in info.value.errors()] == [field]


# Every number setting, found from the model, so a field added later is checked too.
NUMBER_FIELDS = [name for name, field in PlaygroundConfig.model_fields.items()
                 if re.search(r"\b(float|int)\b", str(field.annotation)) and "list" not in str(field.annotation)]


@pytest.mark.parametrize("field", NUMBER_FIELDS)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "nan", "inf"])
def test_a_non_finite_number_is_refused_as_one(field: str, value: float | str) -> None:
    """NaN would otherwise fail a bound check ('less than or equal to 10'), which does not say what is wrong."""
    with pytest.raises(ValidationError) as info:
        PlaygroundConfig(**{field: value})
    (error,) = info.value.errors()
    assert error["loc"] == (field,) and "must be a finite number" in error["msg"], error


def test_an_unknown_name_is_quoted_cut_short() -> None:
    """A 1 MB data set name came back whole in the 422, and the page showed all of it."""
    for field in ("dataset", "activation"):
        with pytest.raises(ValidationError) as info:
            PlaygroundConfig(**{**UI_SMALL, field: "x" * 1_000_000})
        message = str(info.value)
        assert len(message) < 2000 and "(1,000,000 characters)" in message


def test_settings_at_their_bounds_are_accepted() -> None:
    PlaygroundConfig(hidden=[MAX_UNITS] * MAX_LAYERS, batch_size=1, lr=10.0, dataset="digits", activation="relu")
    PlaygroundConfig(hidden=[])


def test_train_config_maps_the_shares_and_the_model() -> None:
    cfg = PlaygroundConfig(dataset="spirals", train_share=0.6, hidden=[8, 8], noise=0.2, n_samples=300,
                           seed=7).train_config(epochs=3)
    assert cfg.val_fraction == VAL_SHARE
    assert cfg.test_fraction == pytest.approx(1.0 - VAL_SHARE - 0.6)
    assert cfg.model == "mlp" and cfg.hidden == (8, 8) and cfg.epochs == 3 and cfg.seed == 7
    assert cfg.noise == 0.2 and cfg.n_samples == 300 and cfg.device == "cpu"
    assert PlaygroundConfig(hidden=[]).train_config().model == "linear"
    digits = PlaygroundConfig(dataset="digits", noise=0.5, n_samples=100).train_config()
    assert digits.noise is None and digits.n_samples is None  # toy options only reach toy sets


# ----- Session: training ---------------------------------------------------------------------


def test_step_trains_exactly_one_epoch(make_session: Callable[..., Session]) -> None:
    session = make_session()
    n_train = len(session.splits.y_train)
    assert n_train % 16 != 0  # so the last, shorter batch is counted too
    counters = session.step()
    assert counters["epoch"] == session.epoch == 1
    assert counters["step"] == session.step_count == math.ceil(n_train / 16)
    assert not counters["playing"] and counters["message"] is None
    assert len(session.history) == 1
    row = session.history[0]
    assert set(METRIC_COLUMNS) <= set(row) and row["epoch"] == 1
    assert all(math.isfinite(row[c]) for c in METRIC_COLUMNS)
    assert session.step()["step"] == 2 * math.ceil(n_train / 16)


def test_reset_returns_to_the_same_initial_weights(make_session: Callable[..., Session]) -> None:
    session = make_session()
    initial = weights(session.model)
    session.step()
    assert any(not torch.equal(initial[k], v) for k, v in session.model.state_dict().items())
    counters = session.reset()
    assert counters["epoch"] == counters["step"] == 0 and session.history == []
    for name, tensor in session.model.state_dict().items():
        assert torch.equal(tensor, initial[name]), name


def test_different_seeds_give_different_weights(make_session: Callable[..., Session]) -> None:
    a, b, c = make_session(seed=0), make_session(seed=1), make_session(seed=0)
    assert any(not torch.equal(v, b.model.state_dict()[k]) for k, v in a.model.state_dict().items())
    assert all(torch.equal(v, c.model.state_dict()[k]) for k, v in a.model.state_dict().items())


def test_reset_with_new_settings_changes_the_data(make_session: Callable[..., Session]) -> None:
    session = make_session()
    session.step()
    counters = session.reset(PlaygroundConfig(**{**UI_SMALL, "dataset": "blobs", "hidden": []}))
    assert counters["epoch"] == 0 and session.settings.dataset == "blobs"
    assert session.splits.num_classes == 3 and isinstance(session.model[-1], nn.Linear)
    assert session.step()["epoch"] == 1


def test_play_trains_and_pause_stops_the_step_counter(make_session: Callable[..., Session]) -> None:
    session = make_session()
    session.play()
    assert session.playing
    assert wait_until(lambda: session.step_count > 0)
    session.pause()
    assert not session.playing
    session.call(lambda: None, timeout=WAIT)  # the worker has finished whatever chunk it was in
    stopped = session.step_count
    assert holds_for(lambda: session.step_count == stopped)
    session.play()
    assert wait_until(lambda: session.step_count > stopped)  # and play resumes from there


def test_a_long_step_sends_frames_and_stops_at_a_pause_or_reset(make_session: Callable[..., Session]) -> None:
    """An epoch of 16,000 batches of one took minutes; the step ran to its end whatever the learner pressed (pause
    and reset waited behind it, then got "still training after 120 s") and sent no frame, so the page froze."""
    session = make_session(n_samples=20_000, train_share=0.8, batch_size=1)
    frames = frames_of(session)
    session.ready()
    answers: list[dict[str, Any]] = []
    stepping = threading.Thread(target=lambda: answers.append(session.step()))
    stepping.start()
    assert wait_until(lambda: any(f["step"] > 0 for f in frames))  # the page sees the step moving
    session.pause()
    stepping.join(WAIT)
    assert not stepping.is_alive() and answers[0]["epoch"] == 0 and 0 < answers[0]["step"] < 16_000
    assert answers[0]["message"] is None and not session.playing
    stopped = session.step_count
    assert holds_for(lambda: session.step_count == stopped)

    stepping = threading.Thread(target=session.step)  # a reset stops a step too, at once
    stepping.start()
    assert wait_until(lambda: session.step_count > stopped)
    assert session.reset(timeout=WAIT)["step"] == 0
    stepping.join(WAIT)
    assert not stepping.is_alive() and session.step_count == 0


def test_an_epochs_seconds_leave_out_the_time_it_sat_paused(make_session: Callable[..., Session]) -> None:
    """A saved run's epoch_seconds counted from the network's build (or the last epoch's end) to the epoch's end,
    paused time and all: 1.4 s for an epoch `torchprimer train` ran in 0.04 s, minutes after a coffee break."""
    session = make_session()
    time.sleep(1.5)  # the learner reads the page before pressing step
    session.step()
    seconds = session.history[0]["seconds"]
    assert 0 < seconds < 1.5


def test_a_second_step_queued_behind_a_first_does_not_stop_it(make_session: Callable[..., Session]) -> None:
    session = make_session()
    per_epoch = math.ceil(len(session.splits.y_train) / 16)
    threads = [threading.Thread(target=session.step) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert session.epoch == 2 and session.step_count == 2 * per_epoch


def test_two_sessions_train_independently(make_session: Callable[..., Session]) -> None:
    a, b = make_session(), make_session()
    assert a.id != b.id
    a.step()
    assert a.epoch == 1 and b.epoch == 0 and b.step_count == 0
    b.play()
    assert wait_until(lambda: b.step_count > a.step_count)
    b.pause()
    assert a.epoch == 1 and a.step_count == math.ceil(len(a.splits.y_train) / 16)


def poison(session: Session) -> None:
    """NaN weights: the next step's loss is NaN, as a far too high learning rate makes it, but surely."""
    def fill() -> None:
        for parameter in session.model.parameters():
            parameter.data.fill_(math.nan)

    session.call(fill, WAIT)


def test_step_after_the_loss_diverged_is_refused_as_play_is(make_session: Callable[..., Session]) -> None:
    session = make_session()
    poison(session)
    counters = session.step()  # the step in which it diverges stops there and says why
    assert counters["epoch"] == 0 and "press reset" in counters["message"]
    with pytest.raises(UserError) as stepped:
        session.step()
    with pytest.raises(UserError) as played:
        session.play()
    assert str(stepped.value) == str(played.value) == counters["message"]
    assert session.step_count == counters["step"] and not session.playing
    session.reset()
    assert session.step()["epoch"] == 1


def test_an_epoch_whose_last_step_diverged_is_not_counted(make_session: Callable[..., Session]) -> None:
    """With one batch an epoch, every divergence is at an epoch's last step: the epoch was counted and
    given a row of NaN losses, though the API's documentation says the epoch stays where it was."""
    session = make_session(batch_size=4096)
    poison(session)
    counters = session.step()
    assert counters["epoch"] == 0 and counters["step"] == 1 and "press reset" in counters["message"]
    assert session.history == []


def test_playing_stops_at_the_first_step_whose_loss_is_not_finite(make_session: Callable[..., Session]) -> None:
    """Play trains in chunks of ~30 ms; each step is checked, so the message names the step that diverged
    and no step runs after it (a check per chunk named the chunk's last step, trained on with NaN weights)."""
    session = make_session()
    session.step()
    steps = session.step_count
    poison(session)
    session.play()
    assert wait_until(lambda: session.message is not None)
    assert f"at step {steps + 1}:" in session.message
    assert holds_for(lambda: session.step_count == steps + 1 and not session.playing)


def test_a_diverged_network_is_not_saved(make_session: Callable[..., Session]) -> None:
    """NaN weights would be a run folder that evaluate calls corrupted; save says why instead."""
    session = make_session()
    session.step()
    poison(session)
    message = session.step()["message"]
    with pytest.raises(UserError, match="nothing worth saving: the loss became nan") as refused:
        session.save()
    assert message in str(refused.value)
    assert not (session.runs_dir.exists() and any(session.runs_dir.iterdir()))


def test_the_data_description_counts_the_parameters_as_torch_does(make_session: Callable[..., Session]) -> None:
    session = make_session(hidden=[5, 3])
    data = session.frame()["data"]
    assert data["parameters"] == sum(p.numel() for p in session.model.parameters()) == (2 * 5 + 5) + (5 * 3 + 3) + (
        3 * len(data["classes"]) + len(data["classes"]))


def test_idle_time_counts_from_the_last_request_and_not_while_in_use(make_session: Callable[..., Session]) -> None:
    session = make_session()
    now = time.monotonic()
    session.last_seen = now - 100
    assert session.idle_seconds(now) == pytest.approx(100)
    assert session.call(lambda: session.idle_seconds(now), WAIT) == 0  # a request waiting on the worker
    assert session.idle_seconds() < 100  # and its answer counts as use
    session.last_seen = now - 100
    session.touch()
    assert session.idle_seconds() < 100
    session.last_seen = now - 100
    frames_of(session)  # a live socket's sink
    assert session.idle_seconds(now) == 0
    session.subscribe(None)  # the socket went: idle from now, not from the last request
    assert session.idle_seconds() < 100


def test_save_before_any_epoch_is_a_user_error(make_session: Callable[..., Session], tmp_path: Path) -> None:
    session = make_session()
    with pytest.raises(UserError, match="epoch"):
        session.save()
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_save_part_way_through_an_epoch_finishes_it_first(make_session: Callable[..., Session]) -> None:
    """Saved mid-epoch, a run's config.json and metrics said 1 epoch while its weights had trained 1.3:
    now the epoch is finished, and the weights are those of a network stepped whole epochs."""
    session, whole = make_session(), make_session()
    session.step()
    for _ in range(3):
        session.call(session._train_step, 30)
    assert session.position > 0 and session.epoch == 1
    run = load_run(session.save())
    assert session.epoch == 2 and session.position == 0
    assert len((run.run_dir / "metrics.csv").read_text().splitlines()) == 1 + 2
    whole.step()
    whole.step()
    for name, tensor in run.model.state_dict().items():
        assert torch.equal(tensor, whole.model.state_dict()[name]), name


def test_resuming_a_playground_run_says_why_it_cannot(make_session: Callable[..., Session]) -> None:
    """It was "no checkpoint ...; is this a torchprimer run folder?" of a folder evaluate reads fine."""
    from torchprimer import train

    session = make_session()
    session.step()
    with pytest.raises(UserError, match="saved by the playground, which keeps no checkpoint"):
        train(resume=session.save(), epochs=5, progress="none")


def test_save_writes_a_run_folder_that_evaluate_reads(make_session: Callable[..., Session], tmp_path: Path) -> None:
    session = make_session(dataset="spirals", hidden=[8])
    session.step()
    run_dir = session.save()
    assert run_dir.parent == tmp_path / "runs"
    for name in ("config.json", "metrics.csv", "model.safetensors", "summary.json"):
        assert (run_dir / name).is_file(), name
    lines = (run_dir / "metrics.csv").read_text().splitlines()
    assert lines[0].split(",") == METRIC_COLUMNS and len(lines) == 2
    assert json.loads((run_dir / "summary.json").read_text())["best_epoch"] == 1  # epochs count from 1

    run = load_run(run_dir)
    for name, tensor in run.model.state_dict().items():
        assert torch.equal(tensor, session.model.state_dict()[name]), name
    assert run.y_test is not None and torch.equal(run.y_test, session.splits.y_test)
    result = evaluate_run(run, figures=False)
    fresh = evaluate(session.model, session.splits.x_test, session.splits.y_test, session.objective)
    assert result["accuracy"] == pytest.approx(fresh["accuracy"], abs=1e-6)
    assert result["loss"] == pytest.approx(fresh["loss"], abs=1e-6)


def test_close_stops_the_worker(tmp_path: Path) -> None:
    session = Session(PlaygroundConfig(**UI_SMALL), tmp_path / "runs", frame_interval=0.0)
    session.play()
    assert session._thread.is_alive()
    session.close()
    assert session.closed and not session.playing
    assert wait_until(lambda: not session._thread.is_alive())
    with pytest.raises(SessionEnded):
        session.step()


def _held(session: Session) -> tuple[threading.Event, threading.Thread]:
    """The session's worker busy with a job that waits for the returned event; the thread that asked for it."""
    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        release.wait(30)

    def ask() -> None:
        with contextlib.suppress(SessionEnded):  # where the test closes the session while the job runs
            session.call(hold, 60)

    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    assert started.wait(30)
    return release, asker


def test_a_request_waiting_when_its_session_closes_hears_that_it_ended(tmp_path: Path) -> None:
    """A request queued behind a long step when the tab closed got a 500, with CancelledError's traceback on the
    server's stderr."""
    session = Session(PlaygroundConfig(**UI_SMALL), tmp_path / "runs", frame_interval=0.0)
    release, asker = _held(session)
    heard: list[BaseException] = []

    def wait_behind() -> None:
        try:
            session.call(lambda: None, 60)
        except BaseException as exc:  # what the route would turn into an answer
            heard.append(exc)

    waiter = threading.Thread(target=wait_behind, daemon=True)
    waiter.start()
    assert wait_until(lambda: session._in_use == 2)
    closer = threading.Thread(target=session.close, daemon=True)
    closer.start()
    assert wait_until(lambda: session.closed)
    release.set()
    for thread in (closer, waiter, asker):
        thread.join(30)
    assert len(heard) == 1 and isinstance(heard[0], SessionEnded)


def test_a_job_running_when_its_session_closes_is_answered_as_ended(tmp_path: Path) -> None:
    """The step under way when the tab closed answered 200 with the counters of a session that no longer exists."""
    session = Session(PlaygroundConfig(**UI_SMALL), tmp_path / "runs", frame_interval=0.0)
    started, heard = threading.Event(), []

    def closes_while_running() -> None:
        started.set()
        assert wait_until(lambda: session.closed)

    def ask() -> None:
        try:
            session.call(closes_while_running, 60)
        except BaseException as exc:
            heard.append(exc)

    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    assert started.wait(30)
    session.close()
    asker.join(30)
    assert len(heard) == 1 and isinstance(heard[0], SessionEnded)


def test_requests_beyond_the_waiting_limit_are_refused_at_once(tmp_path: Path) -> None:
    """44 requests waiting on one long step held every thread of the server's pool: pause, delete and every other
    tab's requests waited up to a minute behind them."""
    session = Session(PlaygroundConfig(**UI_SMALL), tmp_path / "runs", frame_interval=0.0)
    release, asker = _held(session)
    waiters = [threading.Thread(target=session.call, args=(lambda: None, 60), daemon=True)
               for _ in range(MAX_WAITING - 1)]
    try:
        for waiter in waiters:
            waiter.start()
        assert wait_until(lambda: session._in_use == MAX_WAITING)
        started = time.monotonic()
        with pytest.raises(Busy, match=f"{MAX_WAITING} requests to this session are waiting"):
            session.call(lambda: None, 60)
        assert time.monotonic() - started < 1  # at once, not after a wait
    finally:
        release.set()
        for thread in (asker, *waiters):
            thread.join(30)
        session.close()
    assert session._in_use == 0


def test_closing_during_a_step_stops_its_epoch(tmp_path: Path) -> None:
    """A closed tab or a DELETE during a long step freed the session's place while its thread trained
    the rest of the epoch (tens of seconds on a busy core): more networks training than MAX_SESSIONS."""
    session = Session(PlaygroundConfig(**{**UI_SMALL, "n_samples": 20000, "batch_size": 1}), tmp_path / "runs",
                      frame_interval=0.0)
    def step() -> None:
        with contextlib.suppress(SessionEnded):  # the step ends as a closed session's request does
            session.step()

    stepping = threading.Thread(target=step, daemon=True)
    stepping.start()
    assert wait_until(lambda: session.step_count > 0)
    session.close()  # waits up to 5 s for the worker: a step takes milliseconds, the epoch a minute
    assert not session._thread.is_alive() and session.epoch == 0
    stepping.join(timeout=WAIT)


# ----- Session: frames -----------------------------------------------------------------------


def test_one_frame_per_ready(make_session: Callable[..., Session]) -> None:
    session = make_session()
    frames = frames_of(session)
    assert holds_for(lambda: not frames, 0.1)  # subscribed but not ready: nothing
    session.ready()
    assert wait_until(lambda: len(frames) == 1)
    session.play()
    assert wait_until(lambda: session.step_count > 0)
    assert holds_for(lambda: len(frames) == 1)  # training, but the page has not drawn the last frame
    session.ready()
    assert wait_until(lambda: len(frames) == 2)
    session.pause()
    assert holds_for(lambda: len(frames) == 2, 0.1)
    assert frames[1]["step"] > frames[0]["step"]
    assert "data" in frames[0] and "data" not in frames[1]

    session.reset()
    session.ready()
    assert wait_until(lambda: len(frames) == 3)
    assert "data" in frames[2] and frames[2]["step"] == 0
    assert frames[2]["data_version"] == frames[0]["data_version"] + 1


def test_a_new_subscriber_gets_the_data_again(make_session: Callable[..., Session]) -> None:
    session = make_session()
    first = frames_of(session)
    session.ready()
    assert wait_until(lambda: len(first) == 1)
    second = frames_of(session)
    session.ready()
    assert wait_until(lambda: len(second) == 1)
    assert "data" in second[0] and len(first) == 1


def test_a_2d_frame(make_session: Callable[..., Session]) -> None:
    session = make_session(dataset="blobs", hidden=[5, 3])
    frames = frames_of(session)
    session.ready()
    assert wait_until(lambda: len(frames) == 1)
    frame = frames[0]
    assert frame["type"] == "frame" and frame["epoch"] == 0 and frame["id"] == session.id
    for split in ("train", "test"):
        assert 0 <= frame[split]["accuracy"] <= 1 and math.isfinite(frame[split]["loss"])

    data = frame["data"]
    assert data["is_2d"] and data["dataset"] == "blobs" and data["input_shape"] == [2]
    assert data["settings"] == session.settings.model_dump()
    assert len(data["points"]["train"]) == len(session.splits.y_train)
    assert len(data["points"]["test"]) == len(session.splits.y_test)
    assert {p[2] for p in data["points"]["train"]} == {0, 1, 2}

    boundary = frame["boundary"]
    size, classes = boundary["size"], boundary["classes"]
    assert size == views.GRID and classes == 3
    assert len(base64.b64decode(boundary["probs"])) == size * size * classes
    assert [len(maps) for maps in boundary["units"]] == [5, 3]
    for maps in boundary["units"]:
        for unit in maps:
            assert len(base64.b64decode(unit)) == boundary["unit_size"] ** 2
    x0, x1, y0, y1 = boundary["extent"]
    for x, y, _ in data["points"]["train"] + data["points"]["test"]:
        assert x0 <= x <= x1 and y0 <= y <= y1
    assert [g["layer"] for g in frame["grad_norms"]] == ["1: 2\u21925", "2: 5\u21923", "3: 3\u21923"]
    assert "confusion" not in frame


def test_a_frame_measures_the_whole_test_split(make_session: Callable[..., Session]) -> None:
    """Frames measured the first 10,000 test rows: a 20,000-point set with a training share of 0.1 showed
    other figures than its exported script and `torchprimer evaluate`, which take all of them."""
    session = make_session(dataset="moons", n_samples=20_000, train_share=0.1, hidden=[8], batch_size=256)
    frames = frames_of(session)
    session.step()
    session.ready()
    assert wait_until(lambda: len(frames) == 1)
    s = session.splits
    assert len(s.y_test) > EVAL_ROWS
    whole = evaluate(session.model, s.x_test, s.y_test, session.objective)
    assert frames[0]["test"] == pytest.approx(whole, abs=1e-7)


def test_a_digits_frame(make_session: Callable[..., Session]) -> None:
    session = make_session(dataset="digits", hidden=[16], batch_size=64)
    frames = frames_of(session)
    session.step()
    session.ready()
    assert wait_until(lambda: len(frames) == 1)
    frame = frames[0]
    assert frame["epoch"] == 1 and "boundary" not in frame
    confusion = frame["confusion"]
    assert len(confusion) == 10 and all(len(row) == 10 for row in confusion)
    shown = len(session.splits.y_test)  # the whole test split, as the exported script and evaluate measure it
    assert sum(map(sum, confusion)) == shown
    correct = sum(confusion[i][i] for i in range(10))
    assert correct / shown == pytest.approx(frame["test"]["accuracy"])
    strip = frame["strip"]
    assert len(strip["predicted"]) == len(strip["confidence"]) == views.STRIP
    assert all(0 <= c <= 9 for c in strip["predicted"]) and all(0 < p <= 1 for p in strip["confidence"])
    data = frame["data"]
    assert not data["is_2d"] and "points" not in data
    assert data["strip"]["shape"] == [1, 8, 8] and len(data["strip"]["samples"]) == views.STRIP
    assert all(len(base64.b64decode(s)) == 64 for s in data["strip"]["samples"])
    assert data["strip"]["labels"] == session.splits.y_test[: views.STRIP].tolist()


# ----- views ---------------------------------------------------------------------------------


@pytest.mark.parametrize("options", [{}, {"batchnorm": True, "dropout": 0.5}])
def test_layer_outputs_gives_each_hidden_layer(options: dict[str, Any]) -> None:
    torch.manual_seed(0)
    cfg = make_config(model="mlp", hidden=(6, 4, 3), activation="tanh", **options)
    model = build_model(cfg.model_spec, (2,), 5).eval()
    x = torch.randn(17, 2)
    with torch.no_grad():
        out, hidden = views.layer_outputs(model, x)
        assert torch.allclose(out, model(x))
    assert out.shape == (17, 5)
    assert [h.shape for h in hidden] == [(17, 6), (17, 4), (17, 3)]
    assert all(h.abs().max() <= 1 for h in hidden)  # after the tanh


def test_layer_outputs_of_a_linear_model_has_no_hidden_layers() -> None:
    model = build_model(make_config(model="linear").model_spec, (2,), 3)
    x = torch.randn(4, 2)
    out, hidden = views.layer_outputs(model, x)
    assert hidden == [] and torch.equal(out, model(x))


def test_confusion_counts_true_by_predicted() -> None:
    y_true = torch.tensor([0, 0, 1, 2, 2, 2, 1])
    y_pred = torch.tensor([0, 1, 1, 2, 0, 2, 1])
    assert views.confusion(y_true, y_pred, 3) == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    assert views.confusion(torch.tensor([1]), torch.tensor([1]), 4) == [[0] * 4, [0, 1, 0, 0], [0] * 4, [0] * 4]


def test_extent_is_square_and_contains_every_point() -> None:
    torch.manual_seed(0)
    points = torch.randn(300, 2) * torch.tensor([5.0, 0.5]) + torch.tensor([3.0, -2.0])
    x0, x1, y0, y1 = views.extent(points)
    assert x1 - x0 == pytest.approx(y1 - y0)
    assert x0 < float(points[:, 0].min()) and float(points[:, 0].max()) < x1
    assert y0 < float(points[:, 1].min()) and float(points[:, 1].max()) < y1
    one = views.extent(torch.tensor([[1.0, 1.0]]))  # a single point still gets an area
    assert one[1] > one[0] and one[3] > one[2]


def test_grid_points_start_at_the_top_left() -> None:
    box = [-1.0, 3.0, 0.0, 2.0]
    grid = views.grid_points(box, 5)
    assert grid.shape == (25, 2)
    assert grid[0].tolist() == [-1.0, 2.0] and grid[4].tolist() == [3.0, 2.0] and grid[-1].tolist() == [3.0, 0.0]


def test_b64_scales_zero_one_to_bytes() -> None:
    assert base64.b64decode(views.b64(torch.tensor([0.0, 0.5, 1.0, 2.0, -1.0]))) == bytes([0, 128, 255, 255, 0])


# ----- the exported script -------------------------------------------------------------------


@pytest.mark.parametrize("dataset", [*toy.TOYS, "digits"])
def test_exported_script_compiles(dataset: str) -> None:
    text = render(PlaygroundConfig(dataset=dataset, hidden=[8, 4], optimizer="sgd"), epochs=5)
    compile(text, f"{dataset}.py", "exec")
    assert "EPOCHS = 5" in text and "nn.Linear(8, 4), nn.Tanh()," in text
    compile(render(PlaygroundConfig(dataset=dataset, hidden=[]), epochs=1), f"{dataset}.py", "exec")


def _script_data(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Run the script's part up to training (imports, constants, make_data) and draw its data."""
    head = text.split("\ntorch.manual_seed(SEED)")[0]
    namespace: dict[str, Any] = {}
    exec(compile(head, "script.py", "exec"), namespace)
    x, y, x_test, y_test = namespace["make_data"]()
    assert x_test is None and y_test is None  # toy sets have no test split of their own
    return x, y


@pytest.mark.parametrize("dataset", list(toy.TOYS))
def test_exported_script_draws_the_playgrounds_points(
    dataset: str, make_session: Callable[..., Session]
) -> None:
    settings = {"dataset": dataset, "n_samples": 200, "noise": 0.15}
    x, y = _script_data(render(PlaygroundConfig(**settings), epochs=2))
    expected_x, expected_y = toy.draw(dataset, 200, 0.15, 0)
    assert x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(x, np.asarray(expected_x, dtype=np.float32))
    np.testing.assert_array_equal(y, expected_y)

    # ... and they are the points the page shows (rounded there to 4 decimals)
    session = make_session(**settings)
    shown = session.call(session.frame, WAIT)["data"]["points"]
    for p in shown["train"] + shown["test"]:
        distance = np.abs(x - np.array(p[:2], dtype=np.float32)).max(axis=1)
        nearest = int(distance.argmin())
        assert distance[nearest] < 1e-3 and y[nearest] == p[2], p


@pytest.mark.slow
def test_exported_spirals_script_runs(tmp_path: Path) -> None:
    path = tmp_path / "spirals.py"
    path.write_text(render(PlaygroundConfig(dataset="spirals", n_samples=200, hidden=[8]), epochs=2))
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=240, check=False,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("epoch")]
    assert len(lines) == 2, proc.stdout
    for line in lines:
        train = re.search(r"train loss (\S+)", line)
        test = re.search(r"test loss (\S+)", line)
        assert train and test, line
        assert math.isfinite(float(train.group(1))) and math.isfinite(float(test.group(1)))


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["spirals", "digits"])
def test_exported_script_repeats_the_playgrounds_run(
    dataset: str, tmp_path: Path, make_session: Callable[..., Session]
) -> None:
    """Same points, split, initial weights and batch order: the script's losses are the page's. The session
    trains on one thread, as under `torchprimer ui`; the script had run on torch's default threads, whose
    sums add in another order: on digits with 128-64 tanh units its test loss was 0.4622 against the
    page's 0.4267 after 5 epochs."""
    settings = {"dataset": dataset, "n_samples": 300, "hidden": [128, 64], "activation": "tanh", "batch_size": 32}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what the server sets
    try:
        session = make_session(**settings)
        session.step()
        session.step()
    finally:
        torch.set_num_threads(threads)
    path = tmp_path / "script.py"
    path.write_text(render(PlaygroundConfig(**settings), epochs=2))
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=240, check=False,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    printed = [float(v) for v in re.findall(r"train loss (\S+)", proc.stdout)]
    expected = [row["train_loss"] for row in session.history]
    assert printed == pytest.approx(expected, abs=2e-6), proc.stdout
    test = evaluate(session.model, session.splits.x_test, session.splits.y_test, session.objective)
    last_test = float(re.findall(r"test loss (\S+)", proc.stdout)[-1])
    assert last_test == pytest.approx(test["loss"], abs=2e-6)


def test_exported_script_stays_on_the_pages_run_over_many_epochs(tmp_path: Path,
                                                                 make_session: Callable[..., Session]) -> None:
    """A deep tanh net, where rounding differences grow: with torch's default Adam the script left the
    page's losses after ~12 epochs (0.2 apart by epoch 100); with the page's fused kernel it stays on them."""
    settings = {"dataset": "spirals", "n_samples": 300, "hidden": [8, 8, 8, 8], "activation": "tanh",
                "batch_size": 32}
    session = make_session(**settings)
    for _ in range(40):
        session.step()
    path = tmp_path / "script.py"
    path.write_text(render(PlaygroundConfig(**settings), epochs=40))
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=240, check=False,
                          cwd=tmp_path)
    printed = [float(v) for v in re.findall(r"train loss (\S+)", proc.stdout)]
    assert printed == pytest.approx([row["train_loss"] for row in session.history], abs=2e-6), proc.stdout


def test_blobs_without_noise_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="noise"):
        PlaygroundConfig(dataset="blobs", noise=0)


def test_every_listed_set_makes_a_valid_training_config() -> None:
    """A set with its own test split (mnist1d) takes no training share: passing one to make_config,
    which refuses options that would do nothing, stopped the page from switching to it."""
    from torchprimer.ui.settings import datasets

    for name in datasets():
        cfg = PlaygroundConfig(dataset=name).train_config()
        assert cfg.dataset == name
