"""The playground's HTTP and WebSocket API through FastAPI's TestClient: the page, the
session commands, bad requests answered 4xx with a message, the safety checks, live frames."""

from __future__ import annotations

import contextlib
import json
import math
import re
import shlex
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import UI_SMALL, WAIT, run_cli, wait_until

pytest.importorskip("fastapi")  # the optional [ui] extra; `make test` installs it
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocketDisconnect

from torchprimer.data import toy
from torchprimer.training.loop import evaluate
from torchprimer.ui import server
from torchprimer.ui.server import create_app
from torchprimer.ui.settings import MAX_UNITS, PlaygroundConfig

EVIL = "http://evil.example"



@pytest.fixture
def runs(tmp_path: Path) -> Path:
    return tmp_path / "runs"


@pytest.fixture
def client(runs: Path) -> Iterator[TestClient]:
    """The app as a test client; leaving the block runs its lifespan, which closes every session."""
    app = create_app(runs, allowed_hosts=("testserver",), frame_interval=0.0)
    with TestClient(app) as test_client:
        yield test_client
    assert len(app.state.sessions) == 0


def create(client: TestClient, **overrides: Any) -> str:
    response = client.post("/api/sessions", json={**UI_SMALL, **overrides})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["epoch"] == body["step"] == 0 and not body["playing"] and body["message"] is None
    return str(body["id"])


def counters(client: TestClient, session_id: str) -> dict[str, Any]:
    response = client.get(f"/api/sessions/{session_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def open_sessions(client: TestClient) -> int:
    return len(client.app.state.sessions)  # type: ignore[attr-defined]


def error_of(response: Any, status: int | None = None) -> str:
    """The one-line message of a 4xx answer."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    if status is not None:
        assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    message = response.json()["error"]
    assert isinstance(message, str) and message and "Traceback" not in message
    return message


# ----- the page and its menus ----------------------------------------------------------------


def test_page_and_script_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<title>torchprimer playground</title>" in page.text and "/static/app.js" in page.text
    script = client.get("/static/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "/api/sessions" in script.text
    assert client.get("/static/style.css").status_code == 200


def test_options_list_datasets_activations_and_defaults(client: TestClient) -> None:
    response = client.get("/api/options")
    assert response.status_code == 200
    options = response.json()
    assert {*toy.TOYS, "digits"} <= set(options["datasets"])
    assert all(options["datasets"][name]["toy"] for name in toy.TOYS)
    assert not options["datasets"]["digits"]["toy"]
    # the page disables the training-share slider for sets that test on their own split
    assert options["datasets"]["mnist1d"]["own_test"] and not options["datasets"]["digits"]["own_test"]
    assert not any(options["datasets"][name]["own_test"] for name in toy.TOYS)
    assert list(options["datasets"])[: len(toy.TOYS)] == list(toy.TOYS)  # the toy sets come first
    assert {"tanh", "relu", "sigmoid"} <= set(options["activations"])
    assert options["optimizers"] == ["sgd", "adam", "adamw"]
    assert options["defaults"] == PlaygroundConfig().model_dump()
    assert options["defaults"]["dataset"] == "circles" and options["defaults"]["hidden"] == [4, 2]
    assert options["limits"]["units"] == MAX_UNITS


# ----- the session commands ------------------------------------------------------------------


def test_step_play_pause_reset(client: TestClient) -> None:
    sid = create(client)
    step = client.post(f"/api/sessions/{sid}/step")
    assert step.status_code == 200, step.text
    assert step.json()["epoch"] == 1 and step.json()["step"] == 7 and not step.json()["playing"]  # 100 rows / 16

    play = client.post(f"/api/sessions/{sid}/play")
    assert play.status_code == 200 and play.json()["playing"]
    assert wait_until(lambda: counters(client, sid)["step"] > 7)
    pause = client.post(f"/api/sessions/{sid}/pause")
    assert pause.status_code == 200 and not pause.json()["playing"]
    assert not counters(client, sid)["playing"]

    reset = client.post(f"/api/sessions/{sid}/reset")
    assert reset.status_code == 200, reset.text
    assert reset.json()["epoch"] == reset.json()["step"] == 0 and not reset.json()["playing"]
    assert client.get(f"/api/sessions/{sid}/export").json()["filename"] == "torchprimer_moons.py"

    changed = client.post(f"/api/sessions/{sid}/reset", json={**UI_SMALL, "dataset": "circles", "hidden": [2]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["epoch"] == 0 and changed.json()["id"] == sid
    export = client.get(f"/api/sessions/{sid}/export").json()
    assert export["filename"] == "torchprimer_circles.py" and "make_circles" in export["script"]


def session_of(client: TestClient, session_id: str) -> Any:
    return client.app.state.sessions.get(session_id)  # type: ignore[attr-defined]


def test_reset_changes_only_the_fields_it_is_given(client: TestClient) -> None:
    sid = create(client, lr=0.1, noise=0.3)
    before = session_of(client, sid).settings
    client.post(f"/api/sessions/{sid}/step")
    again = client.post(f"/api/sessions/{sid}/reset", json={})  # {}: the same network from fresh weights
    assert again.status_code == 200, again.text
    assert again.json()["epoch"] == again.json()["step"] == 0
    assert session_of(client, sid).settings == before and before.dataset == "moons"
    wider = client.post(f"/api/sessions/{sid}/reset", json={"hidden": [8], "noise": None})
    assert wider.status_code == 200, wider.text
    assert session_of(client, sid).settings == before.model_copy(update={"hidden": [8], "noise": None})


def test_a_reset_whose_fields_do_not_suit_the_current_ones_is_422_and_changes_nothing(client: TestClient) -> None:
    sid = create(client, noise=0)  # moons without noise is fine; blobs without noise is not
    client.post(f"/api/sessions/{sid}/step")
    message = error_of(client.post(f"/api/sessions/{sid}/reset", json={"dataset": "blobs"}), 422)
    assert message.startswith("noise: blobs are Gaussian clusters"), message
    assert counters(client, sid)["epoch"] == 1 and session_of(client, sid).settings.dataset == "moons"


def diverge(client: TestClient, session_id: str) -> None:
    """Make the network's loss NaN at its next step, as a far too high learning rate would, but surely."""
    session = session_of(client, session_id)

    def poison() -> None:
        for parameter in session.model.parameters():
            parameter.data.fill_(float("nan"))

    session.call(poison, timeout=WAIT)


def test_step_after_the_loss_diverged_is_refused_as_play_is(client: TestClient) -> None:
    sid = create(client)
    diverge(client, sid)
    first = client.post(f"/api/sessions/{sid}/step")  # the step in which it happens: 200, and why it stopped
    assert first.status_code == 200 and first.json()["epoch"] == 0
    assert "press reset" in first.json()["message"]
    refused = error_of(client.post(f"/api/sessions/{sid}/step"), 400)
    assert refused == first.json()["message"] == error_of(client.post(f"/api/sessions/{sid}/play"), 400)
    assert counters(client, sid)["step"] == first.json()["step"]
    assert client.post(f"/api/sessions/{sid}/reset").status_code == 200
    assert client.post(f"/api/sessions/{sid}/step").json()["epoch"] == 1  # reset clears it


def test_save_after_the_loss_diverged_in_the_first_epoch_says_so(client: TestClient, runs: Path) -> None:
    """It said "train at least one full epoch (press play or step)", which both refuse after a divergence."""
    sid = create(client)
    diverge(client, sid)
    client.post(f"/api/sessions/{sid}/step")
    message = error_of(client.post(f"/api/sessions/{sid}/save"), 400)
    assert message.startswith("nothing worth saving: the loss became nan") and "press play" not in message
    assert not runs.exists() or not any(runs.iterdir())


def test_a_save_that_fails_leaves_no_run_folder(client: TestClient, runs: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """On a full disk each refused save left config.json and metrics.csv (or more) behind, a run folder that
    `torchprimer evaluate` would then stumble on."""
    from torchprimer.errors import UserError
    from torchprimer.ui import session as session_module

    def full_disk(*args: Any, **kwargs: Any) -> None:
        raise UserError("cannot write model.safetensors: No space left on device; free some space")

    sid = create(client)
    client.post(f"/api/sessions/{sid}/step")
    monkeypatch.setattr(session_module, "write_outputs", full_disk)
    assert "No space left on device" in error_of(client.post(f"/api/sessions/{sid}/save"), 400)
    assert list(runs.iterdir()) == []
    monkeypatch.undo()
    assert client.post(f"/api/sessions/{sid}/save").status_code == 200  # nothing in the way of the next one


def test_a_route_whose_session_ended_while_it_waited_is_404(client: TestClient,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """It was a 500 with CancelledError's traceback on stderr (`Session.call` turns the cancel into this)."""
    from torchprimer.ui.session import Session, SessionEnded

    sid = create(client)

    def ended(self: Session) -> None:
        raise SessionEnded

    monkeypatch.setattr(Session, "step", ended)
    assert error_of(client.post(f"/api/sessions/{sid}/step"), 404) == server.ENDED


def test_a_large_body_is_refused_before_it_is_read(client: TestClient) -> None:
    """A 200 MB body was read whole (the server grew by 350 MB) to be refused as invalid settings."""
    big = json.dumps({**UI_SMALL, "pad": "x" * (server.MAX_BODY_BYTES + 1)})
    message = error_of(client.post("/api/sessions", content=big, headers={"Content-Type": "application/json"}), 413)
    assert message.startswith("the request body is larger than 64 KiB")
    assert open_sessions(client) == 0


def test_a_bad_body_is_answered_in_a_few_lines_however_much_it_holds(client: TestClient) -> None:
    """Errors quoted what was sent, whole: 1 MB for one long value, 8 MB for 200,000 unknown keys."""
    many = {f"key{i}": i for i in range(1_000)}
    message = error_of(client.post("/api/sessions", json=many), 422)
    assert message.endswith("and 995 more") and len(message) < 2_000
    long_value = error_of(client.post("/api/sessions", json={"lr": " " * 50_000 + "nan"}), 422)
    assert len(long_value) < 500 and "50,003 characters" in long_value
    # Python's digit separators are no number here: "1_0" had been lr 10, ["1_6"] a layer of 16
    assert "must be a plain number, not '1_0'" in error_of(client.post("/api/sessions", json={"lr": "1_0"}), 422)
    assert "hidden.0: must be a plain number, not '1_6'" in error_of(
        client.post("/api/sessions", json={"hidden": ["1_6"]}), 422)


# Far too high a learning rate, for real: SGD at 10 on a 64-64 ELU network makes the loss NaN within an epoch.
DIVERGES = {"dataset": "blobs", "n_samples": 200, "hidden": [64, 64], "activation": "elu", "optimizer": "sgd",
            "lr": 10.0, "batch_size": 16}


def strict_json_of(response: Any) -> Any:
    """The answer's JSON, refusing NaN and Infinity: Python reads them, JavaScript's JSON.parse does not."""
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in a JSON answer: {response.text[:200]}")

    return json.loads(response.text, parse_constant=refuse)


@pytest.mark.slow
def test_export_of_a_diverged_session_says_so_and_its_script_stops_where_the_page_did(
    client: TestClient, tmp_path: Path,
) -> None:
    """The loss became NaN at step 6 and the page stopped; its export called that NaN network "the playground's
    network as it was at step 6", and the script trained on to print "train loss nan". Now the answer and the
    script's docstring say that the run diverged at that step, the script keeps every setting (lr 10 included)
    and stops at the same step with the page's words, printing no NaN loss."""
    sid = create(client, **DIVERGES)
    stepped = strict_json_of(client.post(f"/api/sessions/{sid}/step"))
    step = stepped["step"]
    assert stepped["message"] == f"the loss became nan at step {step}: lower the learning rate (now 10) and press reset"
    per_epoch = math.ceil(len(session_of(client, sid).splits.y_train) / 16)
    assert stepped["epoch"] == 0 and step < per_epoch  # a real divergence, part-way through the first epoch

    body = strict_json_of(client.get(f"/api/sessions/{sid}/export"))
    trains = (f"{step} of the {per_epoch} batches of epoch 1: the playground's run up to step {step}, where its "
              "loss became nan and training stopped (it diverged)")
    assert body["trains"] == trains
    script = body["script"]
    assert f"It trains {trains}." in script and "The playground's loss became nan at that last step" in script
    assert "SGD lr 10, batch 16" in script and "lr=10.0, weight_decay=0.0, momentum=0.9" in script
    assert "nn.Linear(64, 64), nn.ELU()," in script and f"\nBATCHES = {step}\n" in script

    path = tmp_path / body["filename"]
    path.write_text(script)
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=240, check=False,
                          cwd=tmp_path)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stderr.strip() == (f"the loss became nan at step {step} (epoch 1): training diverged; lower the "
                                   "learning rate (lr= above, now 10)")
    assert "nan" not in proc.stdout
    assert (body["epochs"], body["batches"], body["diverged_at"]) == (0, step, step)


def test_a_session_that_diverged_at_an_epochs_last_step_exports_whole_epochs(client: TestClient) -> None:
    """With one batch an epoch every divergence is at an epoch's last step, which the epoch counter does not
    count: the export said "6 epochs and 1 of the 1 batches of epoch 7" (EPOCHS 6, BATCHES 1), and the frame's
    curve point put the network at epoch 46.5. It is 7 epochs, the seventh step being where the loss became NaN."""
    sid = create(client, **{**DIVERGES, "batch_size": 4096})
    for _ in range(50):
        stepped = strict_json_of(client.post(f"/api/sessions/{sid}/step"))
        if stepped["message"]:
            break
    step = stepped["step"]
    assert stepped["message"].startswith(f"the loss became nan at step {step}:") and stepped["epoch"] == step - 1
    body = strict_json_of(client.get(f"/api/sessions/{sid}/export"))
    assert (body["epochs"], body["batches"]) == (step, 0)
    assert f"\nEPOCHS = {step}\nBATCHES = 0\n" in body["script"]
    assert body["trains"] == (f"{step} epochs: the playground's run up to step {step}, where its loss became nan "
                              "and training stopped (it diverged)")
    assert body["diverged_at"] == step
    with client.websocket_connect(f"/api/sessions/{sid}/live") as ws:
        frame = strict_json_of(type("Answer", (), {"text": ws.receive_text()}))
    assert frame["point"] == [step, step, None, None]  # NaN losses as null, and the epoch a whole one


def test_export_of_a_network_that_did_not_diverge_says_none(client: TestClient) -> None:
    sid = create(client)
    assert strict_json_of(client.get(f"/api/sessions/{sid}/export"))["diverged_at"] is None
    client.post(f"/api/sessions/{sid}/step")
    body = strict_json_of(client.get(f"/api/sessions/{sid}/export"))
    assert body["diverged_at"] is None and "diverged" not in body["trains"]
    assert "The playground's loss became" not in body["script"]
    assert "if not math.isfinite(value):" in body["script"]  # every script stops at a loss that is not finite


def test_every_get_route_answers_head_with_the_same_headers_and_no_body(client: TestClient) -> None:
    sid = create(client)
    for path in ("/", "/api/options", f"/api/sessions/{sid}", f"/api/sessions/{sid}/export", "/openapi.json",
                 "/static/app.js", "/api/sessions/no-such-id"):
        get, head = client.get(path), client.head(path, headers={"origin": EVIL})  # HEAD changes nothing
        assert head.status_code == get.status_code and head.status_code in (200, 404), (path, head.status_code)
        assert head.content == b"", path
        assert head.headers["content-length"] == get.headers["content-length"], path
        assert head.headers["content-type"] == get.headers["content-type"], path


def test_export_gives_a_script(client: TestClient) -> None:
    sid = create(client, dataset="spirals", hidden=[8, 8], activation="relu")
    response = client.get(f"/api/sessions/{sid}/export")
    assert response.status_code == 200
    body = response.json()
    assert body["filename"] == "torchprimer_spirals.py"
    compile(body["script"], body["filename"], "exec")
    assert "EPOCHS = 100" in body["script"] and "nn.Linear(8, 8), nn.ReLU()," in body["script"]
    client.post(f"/api/sessions/{sid}/step")
    client.post(f"/api/sessions/{sid}/step")
    assert "EPOCHS = 2" in client.get(f"/api/sessions/{sid}/export").json()["script"]  # the epochs trained


@pytest.mark.slow
def test_export_part_way_through_an_epoch_reproduces_the_network_as_it_is(client: TestClient,
                                                                          tmp_path: Path) -> None:
    """Paused 3 batches into epoch 2, the page shows 1.4 epochs; the script was of 1 epoch, another network.
    Now it trains 1 epoch and those 3 batches, says so (and the answer does), and ends on the page's losses."""
    sid = create(client)
    client.post(f"/api/sessions/{sid}/step")
    session = session_of(client, sid)
    for _ in range(3):
        session.call(session._train_step, WAIT)
    assert counters(client, sid) | {"id": sid} == {"id": sid, "epoch": 1, "step": 10, "playing": False,
                                                   "message": None}  # 7 batches an epoch
    body = client.get(f"/api/sessions/{sid}/export").json()
    assert counters(client, sid)["step"] == 10  # exporting trained nothing: a GET changes nothing

    path = tmp_path / body["filename"]
    path.write_text(body["script"])
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=240, check=False,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[-1].startswith("epoch    2 (3 of 7 batches)  train loss "), proc.stdout
    partial = float(session._epoch_loss) / session.position  # the page's mean loss over those 3 batches
    assert float(re.findall(r"train loss (\S+)", lines[-1])[0]) == pytest.approx(partial, abs=2e-5)
    test = evaluate(session.model, session.splits.x_test, session.splits.y_test, session.objective)
    assert float(re.findall(r"test loss (\S+)", lines[-1])[0]) == pytest.approx(test["loss"], abs=2e-5)

    trains = "1 epoch and 3 of the 7 batches of epoch 2: the playground's network as it was at step 10"
    assert (body["epochs"], body["batches"], body["trains"]) == (1, 3, trains)
    script = body["script"]
    assert f"It trains {trains}." in script and "\nEPOCHS = 1\n" in script and "\nBATCHES = 3\n" in script


def test_export_before_any_training_says_it_is_a_start(client: TestClient) -> None:
    sid = create(client)
    body = client.get(f"/api/sessions/{sid}/export").json()
    assert (body["epochs"], body["batches"]) == (100, 0)
    assert body["trains"] == "100 epochs from the playground's starting weights (it had trained none yet)"
    assert "\nEPOCHS = 100\n" in body["script"] and "\nBATCHES = 0\n" in body["script"]


@pytest.mark.slow
def test_save_writes_a_run_that_evaluate_accepts(client: TestClient, runs: Path) -> None:
    sid = create(client)
    assert client.post(f"/api/sessions/{sid}/step").status_code == 200
    response = client.post(f"/api/sessions/{sid}/save")
    assert response.status_code == 200, response.text
    run_dir = Path(response.json()["run_dir"])
    assert run_dir.parent == runs and run_dir.is_dir()
    assert response.json()["evaluate"] == f"torchprimer evaluate {run_dir}"
    for name in ("config.json", "metrics.csv", "model.safetensors", "summary.json"):
        assert (run_dir / name).is_file(), name
    proc = run_cli("evaluate", str(run_dir), "--json")
    assert proc.returncode == 0, proc.stderr
    reported = json.loads(proc.stdout)["accuracy"]
    session = client.app.state.sessions.get(sid)  # type: ignore[attr-defined]
    fresh = evaluate(session.model, session.splits.x_test, session.splits.y_test, session.objective)
    assert reported == pytest.approx(fresh["accuracy"], abs=1e-6)
    assert reported == pytest.approx(json.loads((run_dir / "summary.json").read_text())["test_accuracy"], abs=1e-6)


def test_delete_ends_the_session(client: TestClient) -> None:
    sid = create(client)
    response = client.delete(f"/api/sessions/{sid}")
    assert response.status_code == 200 and response.json() == {"closed": sid}
    assert "session has ended" in error_of(client.get(f"/api/sessions/{sid}"), 404)
    error_of(client.post(f"/api/sessions/{sid}/step"), 404)
    error_of(client.delete(f"/api/sessions/{sid}"), 404)


def test_two_sessions_are_independent(client: TestClient) -> None:
    a, b = create(client), create(client, dataset="xor")
    assert a != b
    assert client.post(f"/api/sessions/{a}/step").json()["epoch"] == 1
    assert counters(client, b)["epoch"] == 0 and counters(client, b)["step"] == 0
    assert client.post(f"/api/sessions/{b}/step").json()["epoch"] == 1
    assert counters(client, a)["epoch"] == 1


# ----- bad requests --------------------------------------------------------------------------

BAD_BODIES = [
    ({"hidden": [4] * 7}, "hidden"),
    ({"hidden": [100_000]}, "hidden"),
    ({"batch_size": 0}, "batch_size"),
    ({"lr": -1}, "lr"),
    ({"dataset": "../../etc/passwd"}, "dataset"),
    ({"runs_dir": "/tmp/x"}, "runs_dir"),
    ({"activation": "nope"}, "activation"),
    ({"n_samples": "many"}, "n_samples"),
]


@pytest.mark.parametrize(("fields", "field"), BAD_BODIES)
def test_bad_settings_are_4xx_naming_the_field(client: TestClient, fields: dict[str, Any], field: str) -> None:
    message = error_of(client.post("/api/sessions", json={**UI_SMALL, **fields}))
    assert field in message, message
    assert open_sessions(client) == 0


def test_bad_reset_leaves_the_session_as_it_was(client: TestClient) -> None:
    sid = create(client)
    client.post(f"/api/sessions/{sid}/step")
    assert "lr" in error_of(client.post(f"/api/sessions/{sid}/reset", json={**UI_SMALL, "lr": 0}))
    assert counters(client, sid)["epoch"] == 1


def test_a_body_that_is_not_json_is_a_4xx(client: TestClient) -> None:
    for body in ("{not json", "[1, 2]", '"circles"'):
        response = client.post("/api/sessions", content=body, headers={"content-type": "application/json"})
        error_of(response)
    assert open_sessions(client) == 0


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '"circles"', "", "null", '{"seed": ' + "9" * 5000 + "}"])
def test_a_body_that_is_not_an_object_says_so_once(client: TestClient, body: str) -> None:
    message = error_of(client.post("/api/sessions", content=body, headers={"content-type": "application/json"}), 422)
    assert message.startswith("request body: ") and message.count("request body") == 1, message
    assert "JSON object" in message, message


def test_a_check_across_fields_names_its_field_not_the_body(client: TestClient) -> None:
    message = error_of(client.post("/api/sessions", json={"dataset": "blobs", "noise": 0}), 422)
    assert message == "noise: blobs are Gaussian clusters and need a spread above 0, e.g. 1.0"


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_a_body_not_sent_as_json_is_415_saying_what_to_send(client: TestClient, content_type: str | None) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    body = json.dumps(UI_SMALL).encode()  # a valid settings object: only its type is wrong
    message = error_of(client.post("/api/sessions", content=body, headers=headers), 415)
    assert message.endswith("send the settings as JSON with Content-Type: application/json"), message
    assert (content_type or "without a Content-Type") in message
    assert open_sessions(client) == 0
    sid = create(client)
    client.post(f"/api/sessions/{sid}/step")
    error_of(client.post(f"/api/sessions/{sid}/reset", content=b"{}", headers=headers), 415)
    assert counters(client, sid)["epoch"] == 1  # not reset


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON",
                                          "application/merge-patch+json"])
def test_any_json_content_type_is_accepted(client: TestClient, content_type: str) -> None:
    response = client.post("/api/sessions", content=json.dumps(UI_SMALL).encode(),
                           headers={"content-type": content_type})
    assert response.status_code == 201, response.text


def test_pause_stops_a_step_under_way(client: TestClient) -> None:
    """A step of 16,000 batches of one trained to its epoch's end whatever came next: pause answered at once and
    stopped nothing, and the step kept its caller (the page, which queues its commands) waiting for minutes."""
    sid = create(client, n_samples=20_000, train_share=0.8, batch_size=1)
    answers: list[Any] = []
    stepping = threading.Thread(target=lambda: answers.append(client.post(f"/api/sessions/{sid}/step")))
    stepping.start()
    assert wait_until(lambda: client.get(f"/api/sessions/{sid}").json()["step"] > 0)
    assert client.post(f"/api/sessions/{sid}/pause").status_code == 200
    stepping.join(WAIT)
    assert not stepping.is_alive()
    assert answers[0].status_code == 200, answers[0].text
    counters = answers[0].json()
    assert counters["epoch"] == 0 and 0 < counters["step"] < 16_000 and not counters["playing"]


def test_commands_without_a_body_need_no_content_type(client: TestClient) -> None:
    sid = create(client)
    for path in ("/step", "/pause", "/reset"):
        response = client.post(f"/api/sessions/{sid}{path}", headers={"content-length": "0"})
        assert response.status_code == 200, (path, response.text)


@pytest.mark.parametrize(("body", "field"), [('{"lr": NaN}', "lr"), ('{"noise": Infinity}', "noise"),
                                             ('{"train_share": -Infinity}', "train_share"),
                                             ('{"weight_decay": NaN}', "weight_decay"), ('{"lr": "nan"}', "lr"),
                                             ('{"n_samples": Infinity}', "n_samples")])
def test_a_non_finite_number_is_refused_as_one(client: TestClient, body: str, field: str) -> None:
    """Python's JSON parser reads NaN and Infinity; the answer must say that is what is wrong."""
    message = error_of(client.post("/api/sessions", content=body, headers={"content-type": "application/json"}), 422)
    assert message.startswith(f"{field}: must be a finite number"), message


@pytest.mark.parametrize(("body", "message"), [
    ('{"batch_size": 1e23}', "batch_size: Input should be less than or equal to 4096"),
    ('{"seed": 1e300}', "seed: Input should be less than or equal to 2147483647"),
    ('{"n_samples": -1e30}', "n_samples: Input should be greater than or equal to 50"),
    ('{"hidden": [4, 1e20]}', f"hidden.1: Input should be less than or equal to {MAX_UNITS}"),
    ('{"lr": 1e300}', "lr: Input should be less than or equal to 10"),
])
def test_a_huge_whole_number_is_refused_by_its_bound(client: TestClient, body: str, message: str) -> None:
    """The page sends 99999999999999999999999 typed in a field as 1e+23; the answer was "Unable to parse input
    string as an integer, exceeded maximum size", which says nothing of the field's bounds (nor was it a string)."""
    assert error_of(client.post("/api/sessions", content=body, headers={"content-type": "application/json"}),
                    422) == message


BOOLEAN_NUMBERS = [({"noise": True}, "noise"), ({"n_samples": True}, "n_samples"), ({"train_share": False},
                   "train_share"), ({"lr": True}, "lr"), ({"batch_size": True}, "batch_size"),
                   ({"weight_decay": False}, "weight_decay"), ({"seed": False}, "seed"),
                   ({"hidden": [8, True]}, "hidden.1")]


@pytest.mark.parametrize(("fields", "field"), BOOLEAN_NUMBERS)
def test_true_and_false_are_not_numbers(client: TestClient, fields: dict[str, Any], field: str) -> None:
    """Python's bool is an int, and pydantic took {"lr": true} as lr 1.0 and {"hidden": [8, true]} as 8-1:
    a number field refuses JSON's true and false as it refuses other values, 422 with one line."""
    word = json.dumps(next(iter(fields.values())))
    word = word if word in ("true", "false") else "true"
    message = error_of(client.post("/api/sessions", json={**UI_SMALL, **fields}), 422)
    assert message == f"{field}: must be a number, not {word}", message
    assert open_sessions(client) == 0
    sid = create(client)
    client.post(f"/api/sessions/{sid}/step")
    assert error_of(client.post(f"/api/sessions/{sid}/reset", json=fields), 422) == message
    assert counters(client, sid)["epoch"] == 1  # not reset


def test_every_number_field_is_checked_for_true_and_false() -> None:
    """The list above names every field whose schema is a number or holds numbers, so a new one is tried too."""
    def numeric(node: dict[str, Any]) -> bool:
        return node.get("type") in ("number", "integer") or any(
            numeric(child) for child in [*([node["items"]] if "items" in node else []), *node.get("anyOf", [])])

    fields = {name for name, node in PlaygroundConfig.model_json_schema()["properties"].items() if numeric(node)}
    assert fields == {field.split(".")[0] for _, field in BOOLEAN_NUMBERS}


def test_unknown_session_is_404(client: TestClient) -> None:
    for method, path in [("GET", ""), ("POST", "/play"), ("POST", "/pause"), ("POST", "/step"),
                         ("POST", "/reset"), ("GET", "/export"), ("POST", "/save"), ("DELETE", "")]:
        response = client.request(method, f"/api/sessions/no-such-id{path}")
        assert "reload the page" in error_of(response, 404), (method, path)
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/api/sessions/no-such-id/live"):
        pass
    assert info.value.code == 4404


def test_save_before_training_is_400(client: TestClient, runs: Path) -> None:
    sid = create(client)
    assert "epoch" in error_of(client.post(f"/api/sessions/{sid}/save"), 400)
    assert not runs.exists() or not any(runs.iterdir())


def test_too_many_sessions_is_429(client: TestClient) -> None:
    ids = [create(client) for _ in range(server.MAX_SESSIONS)]
    try:
        assert "close one" in error_of(client.post("/api/sessions", json=UI_SMALL), 429)
        assert client.delete(f"/api/sessions/{ids.pop()}").status_code == 200
        ids.append(create(client))  # a closed tab frees its place
    finally:
        for sid in ids:
            client.delete(f"/api/sessions/{sid}")
    assert open_sessions(client) == 0


def test_too_many_sessions_holds_for_simultaneous_creates(client: TestClient) -> None:
    sessions = client.app.state.sessions  # type: ignore[attr-defined]
    settings = PlaygroundConfig(**UI_SMALL)
    start = threading.Barrier(2 * server.MAX_SESSIONS)

    def open_one() -> None:
        start.wait()
        with contextlib.suppress(server.TooMany):
            sessions.create(settings)

    threads = [threading.Thread(target=open_one) for _ in range(2 * server.MAX_SESSIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    opened = len(sessions)
    sessions.close_all()
    assert opened <= server.MAX_SESSIONS


# ----- safety --------------------------------------------------------------------------------


def test_a_foreign_origin_is_refused(client: TestClient) -> None:
    assert "cross-origin" in error_of(client.post("/api/sessions", json=UI_SMALL, headers={"origin": EVIL}), 403)
    assert open_sessions(client) == 0
    sid = create(client)
    for path in ("/play", "/step", "/reset", "/save"):
        error_of(client.post(f"/api/sessions/{sid}{path}", headers={"origin": EVIL}), 403)
    error_of(client.delete(f"/api/sessions/{sid}", headers={"origin": EVIL}), 403)
    assert counters(client, sid)["epoch"] == 0 and not counters(client, sid)["playing"]
    same = client.post("/api/sessions", json=UI_SMALL, headers={"origin": "http://testserver"})
    assert same.status_code == 201, same.text  # the page's own origin is fine


def test_a_foreign_host_is_refused(client: TestClient) -> None:
    for method, path in [("GET", "/"), ("GET", "/api/options"), ("POST", "/api/sessions")]:
        response = client.request(method, path, headers={"host": "evil.example"}, json=UI_SMALL)
        assert "Host" in error_of(response, 400), path
    for host in ("[", "[::1"):  # urlsplit raises on these: it was a bare 500
        assert "Host" in error_of(client.get("/api/options", headers={"host": host}), 400)
    assert "cross-origin" in error_of(client.post("/api/sessions", json=UI_SMALL, headers={"origin": "http://["}), 403)
    assert open_sessions(client) == 0


def test_a_foreign_websocket_is_refused(client: TestClient) -> None:
    sid = create(client)
    for headers in ({"origin": EVIL}, {"host": "evil.example"}):
        with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect(
            f"/api/sessions/{sid}/live", headers=headers
        ):
            pass
        assert info.value.code == 1008
    assert counters(client, sid)["epoch"] == 0  # the refused socket did not close the tab's session


def test_save_offers_no_way_to_choose_a_path(client: TestClient, runs: Path, tmp_path: Path) -> None:
    evil = tmp_path / "evil"
    sid = create(client)
    client.post(f"/api/sessions/{sid}/step")
    response = client.post(f"/api/sessions/{sid}/save", json={"path": str(evil), "runs_dir": str(evil)})
    assert not evil.exists()
    if response.status_code == 200:
        assert Path(response.json()["run_dir"]).parent == runs
    else:
        error_of(response)
    refused = client.post("/api/sessions", json={**UI_SMALL, "path": str(evil)})
    assert "path" in error_of(refused)
    assert not evil.exists()


# ----- live frames ---------------------------------------------------------------------------


def test_live_frames_follow_ready_and_closing_ends_the_session(client: TestClient) -> None:
    sid = create(client)
    with client.websocket_connect(f"/api/sessions/{sid}/live") as ws:
        first = ws.receive_json()
        assert first["type"] == "frame" and first["id"] == sid and first["epoch"] == 0
        assert {"data", "epoch", "step", "test", "train", "boundary", "grad_norms"} <= set(first)
        assert first["data"]["dataset"] == "moons" and len(first["data"]["points"]["train"]) == 100
        assert client.post(f"/api/sessions/{sid}/play").json()["playing"]
        steps = [first["step"]]
        for _ in range(200):  # each frame is answered with ready, as the page does after drawing it
            ws.send_json({"type": "ready"})
            frame = ws.receive_json()
            assert "data" not in frame and "boundary" in frame
            assert isinstance(frame["test"]["loss"], float) and math.isfinite(frame["test"]["loss"])
            assert 0 <= frame["test"]["accuracy"] <= 1
            steps.append(frame["step"])
            if frame["step"] > first["step"] and len(steps) >= 3:
                break
        assert steps == sorted(steps) and steps[-1] > steps[0], steps
    assert wait_until(lambda: client.get(f"/api/sessions/{sid}").status_code == 404)
    assert "session has ended" in error_of(client.get(f"/api/sessions/{sid}"), 404)


def test_reset_sends_the_data_again(client: TestClient) -> None:
    sid = create(client)
    with client.websocket_connect(f"/api/sessions/{sid}/live") as ws:
        assert "data" in ws.receive_json()
        client.post(f"/api/sessions/{sid}/reset", json={**UI_SMALL, "dataset": "digits", "hidden": [16]})
        ws.send_json({"type": "ready"})
        frame = ws.receive_json()
        assert frame["data"]["dataset"] == "digits" and "confusion" in frame and "boundary" not in frame
        test_rows = frame["data"]["sizes"]["test"]
        ws.send_json({"type": "something else"})  # ignored, as is anything but ready
        client.post(f"/api/sessions/{sid}/step")
        ws.send_json({"type": "ready"})
        frame = ws.receive_json()
        assert frame["epoch"] == 1 and "data" not in frame
        assert sum(map(sum, frame["confusion"])) == test_rows


MALFORMED = [("text", "not json", 1007), ("bytes", b"\x00", 1003), ("bytes", b'{"type": "ready"}', 1003),
             ("text", "[" * 100_000 + "]" * 100_000, 1007)]  # deeper than the parser goes: it was 1011


@pytest.mark.timeout(60)  # the old handler left the test client waiting for a close frame forever
@pytest.mark.parametrize(("kind", "message", "code"), MALFORMED)
def test_a_malformed_live_message_gets_a_close_frame_that_says_why(
    client: TestClient, kind: str, message: str | bytes, code: int
) -> None:
    """Not JSON (1007) or binary (1003): the server closes the socket with a code and a reason naming
    the fix, not by dropping the connection; like any close of the socket, that ends the session."""
    sid = create(client)
    with client.websocket_connect(f"/api/sessions/{sid}/live") as ws:
        ws.receive_json()
        ws.send_json(["not", "a", "ready"])  # JSON that is not a ready message: ignored, the socket stays
        getattr(ws, f"send_{kind}")(message)
        closed = ws.receive()
    assert closed == {"type": "websocket.close", "code": code, "reason": closed["reason"]}, closed
    assert '{"type": "ready"}' in closed["reason"] and len(closed["reason"].encode()) <= 123
    assert wait_until(lambda: client.get(f"/api/sessions/{sid}").status_code == 404)


@pytest.mark.timeout(60)
def test_a_socket_is_told_when_its_session_ends(client: TestClient) -> None:
    """A DELETE (or another socket's close, or the idle drop) ended the session and left its socket open and
    silent, with no close frame."""
    sid = create(client)
    with client.websocket_connect(f"/api/sessions/{sid}/live") as ws:
        ws.receive_json()
        assert client.delete(f"/api/sessions/{sid}").status_code == 200
        closed = ws.receive()
    assert closed == {"type": "websocket.close", "code": 4404,
                      "reason": "this playground session has ended; reload the page"}, closed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def real_server(runs: Path) -> Iterator[str]:
    """The app under uvicorn, as `torchprimer ui` serves it, on a free port: host:port."""
    uvicorn = pytest.importorskip("uvicorn")
    port = free_port()
    app = create_app(runs, frame_interval=0.0)
    served = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    assert wait_until(lambda: served.started or not thread.is_alive())
    assert served.started, "uvicorn did not start"
    try:
        yield f"127.0.0.1:{port}"
    finally:
        served.should_exit = True
        thread.join(timeout=WAIT)


def test_a_real_client_gets_the_close_frame_of_a_malformed_message(real_server: str) -> None:
    """Through uvicorn and the websockets client, where the old handler's silent return showed as
    'no close frame received'."""
    sync_client = pytest.importorskip("websockets.sync.client")
    from websockets.exceptions import ConnectionClosed

    for kind, message, code in MALFORMED[:2]:
        request = urllib.request.Request(f"http://{real_server}/api/sessions", data=json.dumps(UI_SMALL).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            sid = json.load(response)["id"]
        with sync_client.connect(f"ws://{real_server}/api/sessions/{sid}/live", open_timeout=WAIT) as ws:
            assert json.loads(ws.recv(timeout=WAIT))["id"] == sid
            ws.send(message)
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=WAIT)
        received = info.value.rcvd
        assert received is not None, f"{kind}: no close frame received ({info.value!r})"
        assert received.code == code and '{"type": "ready"}' in received.reason, kind


# ----- session lifetime ------------------------------------------------------------------------


def test_a_session_in_use_is_kept_however_long_ago_it_was_made(client: TestClient) -> None:
    """Requests keep a session alive: one made long ago but driven over HTTP just now is not dropped
    when another session is made (it was, 60 s after it was made, even while playing)."""
    sid = create(client)
    session_of(client, sid).created -= 10 * server.IDLE_SECONDS  # made long ago ...
    assert client.post(f"/api/sessions/{sid}/play").status_code == 200  # ... and in use now
    create(client)
    assert counters(client, sid)["playing"]


@pytest.mark.parametrize(("method", "path"), [("GET", ""), ("HEAD", ""), ("GET", "/export"), ("POST", "/pause"),
                                              ("POST", "/step"), ("POST", "/reset")])
def test_every_request_to_a_session_counts_as_use(client: TestClient, method: str, path: str) -> None:
    sid = create(client)
    session = session_of(client, sid)
    session.last_seen -= server.IDLE_SECONDS - 5  # nearly idle: the request comes just in time
    assert client.request(method, f"/api/sessions/{sid}{path}").status_code == 200
    assert session.idle_seconds() < 5


def test_an_idle_session_is_dropped_at_any_request(client: TestClient) -> None:
    sid = create(client)
    session_of(client, sid).last_seen -= server.IDLE_SECONDS + 1
    assert client.get("/api/options").status_code == 200  # a request for something else
    assert open_sessions(client) == 0
    assert "unused" in error_of(client.get(f"/api/sessions/{sid}"), 404)


def test_a_session_with_a_live_socket_is_never_idle(client: TestClient) -> None:
    quiet, watched = create(client), create(client)
    with client.websocket_connect(f"/api/sessions/{watched}/live") as ws:
        ws.receive_json()
        for sid in (quiet, watched):
            session_of(client, sid).last_seen -= server.IDLE_SECONDS + 1
        create(client)  # drops idle sessions first, as every request does
        error_of(client.get(f"/api/sessions/{quiet}"), 404)
        assert counters(client, watched)["id"] == watched


def test_an_unwatched_playing_session_is_dropped_when_idle_without_any_request(
    runs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nobody creates a session, nobody asks anything: the server's own timer stops and drops it."""
    monkeypatch.setattr(server, "IDLE_SECONDS", 0.3)
    monkeypatch.setattr(server, "SWEEP_SECONDS", 0.02)
    app = create_app(runs, allowed_hosts=("testserver",), frame_interval=0.0)
    with TestClient(app) as test_client:
        sid = create(test_client)
        session = session_of(test_client, sid)
        assert test_client.post(f"/api/sessions/{sid}/play").json()["playing"]
        assert wait_until(lambda: len(app.state.sessions) == 0)  # no request meanwhile: the timer did it
        assert session.closed and not session.playing


# ----- the command -----------------------------------------------------------------------------


def test_ui_refuses_a_public_host_without_allow_remote() -> None:
    proc = run_cli("ui", "--host", "0.0.0.0", "--no-browser")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and "--allow-remote" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_ctrl_c_stops_the_server_without_waiting_for_a_long_step(tmp_path: Path) -> None:
    """uvicorn waits for the requests in progress before it stops: a step of a long epoch held a Ctrl-C'd server
    until that epoch ended (10.7 s in the report, up to 120 s). Closing the sessions first answers them at once."""
    import signal

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "torchprimer", "ui", "--no-browser", "--port", str(port),
                             "--out", str(tmp_path / "runs")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    base = f"http://127.0.0.1:{port}"

    def post(path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(base + path, data=data, method="POST",
                                         headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(request, timeout=200) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as refused:
            return refused.code, json.loads(refused.read())

    try:
        assert wait_until(lambda: _answers(base + "/api/options"), timeout=120), proc.stderr
        # an epoch of 16,000 single-sample steps through 256-256 units: far longer than the wait below
        _, session = post("/api/sessions", {"n_samples": 20000, "batch_size": 1, "hidden": [256, 256],
                                             "train_share": 0.8})
        step: dict[str, Any] = {}
        waiting = threading.Thread(target=lambda: step.update(answer=post(f"/api/sessions/{session['id']}/step")),
                                   daemon=True)
        waiting.start()
        assert wait_until(lambda: not waiting.is_alive() or _stepping(base, session["id"]), timeout=60)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    waiting.join(10)
    assert proc.returncode == 130 and "Traceback" not in err and "ERROR" not in err, err
    status, answer = step["answer"]
    assert status == 404 and "session has ended" in answer["error"]  # stopped part-way through its epoch


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def _stepping(base: str, session_id: str) -> bool:
    with urllib.request.urlopen(f"{base}/api/sessions/{session_id}", timeout=5) as answer:
        return int(json.loads(answer.read())["step"]) > 0


@pytest.mark.parametrize(("host", "said"), [
    ("", "--host is empty; leave it out for 127.0.0.1, or give a name or address of this machine"),
    ("localhost:80", "--host localhost:80 holds a port; give the host alone and the port with --port, "
                     "e.g. --host localhost --port 80"),
    ("[::1]", "--host [::1]: give an IPv6 address without brackets (and a port with --port), e.g. --host ::1"),
    ("[::1]:80", "--host [::1]:80: give an IPv6 address without brackets (and a port with --port), e.g. --host ::1"),
])
def test_ui_refuses_a_host_that_is_no_host(host: str, said: str) -> None:
    """An empty --host listened on every address and printed http://:8765/; a port or brackets in it were
    called reachable "from other machines" or an unknown name."""
    from torchprimer.errors import UserError
    from torchprimer.ui.server import check_host

    with pytest.raises(UserError) as refused:
        check_host(host)
    assert str(refused.value) == said
    check_host("::1")
    check_host("127.0.0.1")


def test_ui_refuses_an_out_folder_it_could_not_save_into(tmp_path: Path) -> None:
    """It started, and the page's save said "choose another path", which the page has no field for."""
    (tmp_path / "afile").write_text("")
    proc = run_cli("ui", "--out", str(tmp_path / "afile"), "--no-browser")
    assert proc.returncode == 2 and "is a file, not a folder" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_every_loopback_address_counts_as_this_machine() -> None:
    """--host 127.0.0.2 and LOCALHOST were refused as reachable 'from other machines'."""
    from torchprimer.ui.server import is_loopback

    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "localhost", "LOCALHOST", "::1", "[::1]"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.5", "example.com", ""))


def test_ui_says_when_its_port_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = run_cli("ui", "--port", str(taken.getsockname()[1]), "--no-browser")
    assert proc.returncode == 2
    assert "--port" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_ui_says_when_its_host_is_not_this_machine() -> None:
    """A host that is no address of this machine: another --port would not help, and the warning that
    the page is reachable from other machines was false; one line says what to change."""
    proc = run_cli("ui", "--host", "10.255.255.1", "--allow-remote", "--port", "47999", "--no-browser")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: cannot listen on 10.255.255.1:47999") and "another --port" not in proc.stderr
    assert "--host must be a name or address of this machine" in proc.stderr and proc.stderr.count("\n") == 1


def test_ui_without_its_extra_says_how_to_install_it() -> None:
    # As if fastapi were not installed: importing it fails, and `ui` must say what to install.
    code = ("import sys; sys.modules['fastapi'] = None; from torchprimer.cli import main; "
            "main(['ui', '--no-browser'])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert "pip install 'torchprimer[ui]'" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


# ----- the API reference, docs/playground-api.md ---------------------------------------------

API_DOC = Path(__file__).resolve().parents[1] / "docs" / "playground-api.md"
ROUTE_HEADING = re.compile(r"^### `([A-Z]+) (/\S*)`$", re.MULTILINE)


def doc_section(heading: str) -> str:
    """The text under a '## ' or '### ' heading of the API reference, up to the next heading as high."""
    text = API_DOC.read_text(encoding="utf-8")
    level = heading.split(" ")[0]
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    end = text.find(f"\n{level} ", start)
    return text[start:] if end < 0 else text[start:end]


def doc_tables(section: str) -> list[list[list[str]]]:
    """Each markdown table in `section` as its body rows (header and rule left out), cells stripped."""
    tables: list[list[list[str]]] = []
    rows: list[list[str]] = []
    for line in [*section.splitlines(), ""]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
        elif rows:
            tables.append(rows[2:])
            rows = []
    return tables


def registered_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of everything the app answers; a mounted folder as GET /folder/{path}."""
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        if isinstance(route, WebSocketRoute):
            found.add(("WEBSOCKET", route.path))
        elif isinstance(route, Mount):
            found.add(("GET", f"{route.path}/{{path}}"))
        elif isinstance(route, Route):
            found.update((method, route.path) for method in route.methods or () if method != "HEAD")
        else:
            raise AssertionError(f"a route of a kind this test does not know: {route!r}")
    return found


def test_the_api_doc_lists_every_route(tmp_path: Path) -> None:
    documented = ROUTE_HEADING.findall(API_DOC.read_text(encoding="utf-8"))
    assert len(documented) == len(set(documented)), "a route is documented twice"
    registered = registered_routes(create_app(tmp_path / "runs"))
    assert ("WEBSOCKET", "/api/sessions/{session_id}/live") in registered
    missing, gone = sorted(registered - set(documented)), sorted(set(documented) - registered)
    assert not missing and not gone, f"undocumented: {missing}; documented but not registered: {gone}"


def test_openapi_describes_the_errors_the_app_sends(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["components"]["schemas"]["ErrorResponse"]["required"] == ["error"]
    assert "HTTPValidationError" not in json.dumps(schema)  # FastAPI's {"detail": [...]}, which the app never sends
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            errors = {status: answer for status, answer in operation["responses"].items() if int(status) >= 400}
            assert "400" in errors, (method, path)  # the Host check
            for status, answer in errors.items():
                assert answer["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)
    create_answers = schema["paths"]["/api/sessions"]["post"]["responses"]
    assert {"403", "415", "422", "429"} <= set(create_answers)
    assert "422" not in schema["paths"]["/api/sessions/{session_id}/step"]["post"]["responses"]  # it takes no body
    invalid = client.post("/api/sessions", json={"lr": 0})
    assert invalid.status_code == 422 and set(invalid.json()) == {"error"}  # what ErrorResponse says


JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,), "null": (type(None),),
    "array": (list,), "object": (dict,),
}


def resolved(node: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`node` with its $ref followed into the schema's components/schemas."""
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].removeprefix("#/components/schemas/")]
    return node


def success_schema(schema: dict[str, Any], method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The one 2xx status an operation declares and its JSON schema, $ref resolved."""
    responses = schema["paths"][path][method.lower()]["responses"]
    (status,) = [status for status in responses if status.startswith("2")]
    return status, resolved(responses[status]["content"]["application/json"]["schema"], schema)


def check_against(value: Any, node: dict[str, Any], schema: dict[str, Any], where: str) -> None:
    """Assert that the JSON `value` is what `node` declares: its JSON type, and for an object exactly its declared
    keys (the app always sends every field, and nothing else) or, for a map, each value. An object declared with
    neither properties nor a schema for its values fails: a client would learn nothing of its fields."""
    node = resolved(node, schema)
    if "anyOf" in node:
        failures = []
        for choice in node["anyOf"]:
            try:
                check_against(value, choice, schema, where)
                return
            except AssertionError as exc:
                failures.append(str(exc))
        raise AssertionError(f"{where}: {value!r} matches none of its choices: {failures}")
    kind = node.get("type")
    assert kind in JSON_TYPES, f"{where}: the schema gives no JSON type: {node}"
    assert isinstance(value, JSON_TYPES[kind]) and isinstance(value, bool) == (kind == "boolean"), (
        f"{where}: {value!r} is not {kind}")
    assert value in node.get("enum", [value]), f"{where}: {value!r} is not one of {node['enum']}"
    if kind == "array":
        for index, item in enumerate(value):
            check_against(item, node.get("items", {}), schema, f"{where}[{index}]")
    elif kind == "object" and node.get("properties"):
        assert set(value) == set(node["properties"]), (
            f"{where}: sent {sorted(value)}, the schema declares {sorted(node['properties'])}")
        for key, item in value.items():
            check_against(item, node["properties"][key], schema, f"{where}.{key}")
    elif kind == "object":
        assert isinstance(node.get("additionalProperties"), dict), f"{where}: an object without properties: {node}"
        for key, item in value.items():
            check_against(item, node["additionalProperties"], schema, f"{where}.{key}")


def bare_objects(node: dict[str, Any], schema: dict[str, Any], where: str) -> list[str]:
    """Where, in a declared schema, an object says nothing of its fields (no properties, no schema for its values)."""
    node = resolved(node, schema)
    found = []
    if node.get("type") == "object" and not node.get("properties") and not isinstance(
            node.get("additionalProperties"), dict):
        found.append(where)
    for key, child in node.get("properties", {}).items():
        found += bare_objects(child, schema, f"{where}.{key}")
    for label, child in (("[]", node.get("items")), (".*", node.get("additionalProperties"))):
        if isinstance(child, dict):
            found += bare_objects(child, schema, where + label)
    for index, child in enumerate(node.get("anyOf", [])):
        found += bare_objects(child, schema, f"{where}|{index}")
    return found


def test_openapi_declares_the_fields_of_every_success_answer(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method in operations:
            status, answer = success_schema(schema, method, path)
            assert status == ("201" if (method, path) == ("post", "/api/sessions") else "200"), (method, path)
            assert answer.get("type") == "object" and answer.get("properties"), (method, path, answer)
            assert answer.get("additionalProperties") is False, (method, path)  # the models refuse extra keys
            assert not bare_objects(answer, schema, f"{method.upper()} {path}")


def test_every_json_answer_matches_the_schema_openapi_declares(client: TestClient) -> None:
    """A real answer from every route in /openapi.json, checked against the schema it declares for that
    answer: a field the code sends but the schema lacks, or the other way round, fails here."""
    schema = client.get("/openapi.json").json()
    created = client.post("/api/sessions", json=UI_SMALL)
    sid = created.json()["id"]
    answers = {("POST", "/api/sessions"): created}
    for method, path, body in [
        ("GET", "/api/options", None),
        ("GET", "/api/sessions/{session_id}", None),
        ("POST", "/api/sessions/{session_id}/play", None),
        ("POST", "/api/sessions/{session_id}/pause", None),
        ("POST", "/api/sessions/{session_id}/step", None),
        ("POST", "/api/sessions/{session_id}/save", None),  # after a whole epoch
        ("GET", "/api/sessions/{session_id}/export", None),
        ("POST", "/api/sessions/{session_id}/reset", {"hidden": [2]}),
        ("DELETE", "/api/sessions/{session_id}", None),
    ]:
        answers[method, path] = client.request(method, path.format(session_id=sid), json=body)
    declared = {(method.upper(), path) for path, operations in schema["paths"].items() for method in operations}
    assert set(answers) == declared, "a route in /openapi.json that this test does not ask, or the other way round"
    for (method, path), response in answers.items():
        status, answer = success_schema(schema, method, path)
        assert str(response.status_code) == status, (method, path, response.text)
        check_against(response.json(), answer, schema, f"{method} {path}")
    diverged = create(client)  # the one answer whose message is a string, not null
    diverge(client, diverged)
    step = client.post(f"/api/sessions/{diverged}/step")
    assert isinstance(step.json()["message"], str)
    check_against(step.json(), success_schema(schema, "POST", "/api/sessions/{session_id}/step")[1], schema, "step")


def test_the_api_doc_says_which_fastapi_pages_exist(client: TestClient) -> None:
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404
    text = API_DOC.read_text(encoding="utf-8")
    assert "### `GET /openapi.json`" in text and "`/docs` and `/redoc` pages are switched off" in text


def example_keys(example: Any, node: dict[str, Any], schema: dict[str, Any], where: str) -> None:
    """Assert that a doc example's objects have the keys the schema declares; an object with a "..." key
    is trimmed and lists are not compared (the doc cuts them)."""
    node = resolved(node, schema)
    if isinstance(example, dict) and "..." not in example and node.get("properties"):
        assert set(example) == set(node["properties"]), f"{where}: the doc shows {sorted(example)}"
        for key, item in example.items():
            example_keys(item, node["properties"][key], schema, f"{where}.{key}")
    elif isinstance(example, dict) and isinstance(node.get("additionalProperties"), dict):
        for key, item in example.items():
            if key != "...":
                example_keys(item, node["additionalProperties"], schema, f"{where}.{key}")


def test_the_api_doc_shows_each_answer_with_the_fields_openapi_declares(client: TestClient) -> None:
    """Each route's section shows its answer (a ```json block, or "Answers `{...}`") with the fields of the schema
    /openapi.json declares for it, or points to the counters object, whose table lists the counters' fields; the
    /openapi.json section names every answer schema."""
    schema = client.get("/openapi.json").json()
    words = {"string": "string", "integer": "int", "number": "number", "boolean": "bool", "null": "null"}
    counters_schema = schema["components"]["schemas"]["CountersResponse"]
    (rows,) = doc_tables(doc_section("### The counters object"))
    assert {row[0].strip("`"): row[1] for row in rows} == {
        name: " or ".join(words[choice["type"]] for choice in field.get("anyOf", [field]))
        for name, field in counters_schema["properties"].items()}, "the counters table is not CountersResponse's fields"
    (named,) = doc_tables(doc_section("### `GET /openapi.json`"))
    assert {row[0].strip("`") for row in named} == {
        success_schema(schema, method, path)[1]["title"] for path, operations in schema["paths"].items()
        for method in operations}, "the doc's table of answer schemas is not the app's"
    for path, operations in schema["paths"].items():
        for method in operations:
            section = doc_section(f"### `{method.upper()} {path}`")
            _, answer = success_schema(schema, method, path)
            shown = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, re.DOTALL)]
            shown += [json.loads(code) for code in re.findall(r"Answers `(\{\".*?\})`", section)]  # not a body
            if answer["title"] == "CountersResponse":
                assert "counters" in section, (method, path)
            else:
                assert shown, f"{method.upper()} {path}: the doc shows no answer"
            for example in shown:
                example_keys(example, answer, schema, f"the doc's {method.upper()} {path}")


def test_the_api_doc_settings_table_matches_the_model() -> None:
    from torchprimer.models import ACTIVATIONS

    (rows,) = doc_tables(doc_section("## Settings"))
    table = {row[0].strip("`"): row for row in rows}
    assert list(table) == list(PlaygroundConfig.model_fields)
    defaults = PlaygroundConfig().model_dump()
    schema = PlaygroundConfig.model_json_schema()["properties"]
    for name, (_, _, default, allowed) in table.items():
        assert json.loads(default.strip("`")) == defaults[name], name
        bounds = [schema[name], schema[name].get("items", {}), *schema[name].get("anyOf", [])]
        for bound in bounds:
            for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "maxItems", "minItems"):
                if key in bound:
                    value = bound[key]
                    shown = str(int(value)) if float(value).is_integer() else str(value)
                    assert f"`{shown}`" in allowed, f"{name}: {key} {shown} is not in the doc's row"
            for choice in bound.get("enum", []):
                assert f'`"{choice}"`' in allowed, f"{name}: {choice}"
    assert all(f"`{name}`" in table["activation"][3] for name in ACTIVATIONS)
    assert all(f"`{name}`" in table["dataset"][3] for name in toy.TOYS)


def frame_keys(client: TestClient, settings: dict[str, Any]) -> tuple[set[str], set[str]]:
    """The keys of a session's first frame and of its `data`."""
    sid = create(client, **settings)
    with client.websocket_connect(f"/api/sessions/{sid}/live") as ws:
        frame = ws.receive_json()
    return set(frame), set(frame["data"])


def test_the_api_doc_lists_every_frame_field(client: TestClient) -> None:
    every, flat, other, data = (
        {name for row in rows for name in re.findall(r"`(\w+)`", row[0])}
        for rows in doc_tables(doc_section("### Frame fields"))
    )
    assert frame_keys(client, {}) == (every | flat, data - {"strip"})  # a 2-D set
    assert frame_keys(client, {"dataset": "digits", "hidden": [16]}) == (every | other, data - {"points"})


def worked_example() -> tuple[list[dict[str, Any]], list[str]]:
    """The worked example's calls (method, path, headers, body, expected status, whether `api` printed
    it) and the lines it printed."""
    section = doc_section("## Worked example")
    script = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    printed = re.search(r"```text\n(.*?)```", section, re.DOTALL)
    assert script and printed
    calls: list[dict[str, Any]] = []
    expected: int | None = None
    for line in script.group(1).replace("\\\n", " ").splitlines():
        if line.lstrip().startswith("#"):
            found = re.search(r"\(expect: (\d{3})\)", line)
            expected = int(found.group(1)) if found else expected
            continue
        tokens = shlex.split(line)
        if not tokens or not (tokens[0] in ("api", "curl") or tokens[0].endswith("=$(curl")):
            continue
        call: dict[str, Any] = {
            "method": "GET",
            "headers": {},
            "body": None,
            "status": expected,
            "printed": tokens[0] == "api",
        }
        assert expected is not None, f"no '(expect: NNN)' comment before: {line}"
        expected = None
        args = iter(tokens[1:])
        for token in args:
            if token == "|":
                break
            if token == "-X":
                call["method"] = next(args)
            elif token in ("-d", "--data", "--json"):
                call["body"] = next(args)
            elif token == "-H":
                header, _, value = next(args).partition(":")
                call["headers"][header] = value.strip()
            elif token.startswith("$B"):
                call["path"] = token.removeprefix("$B")
        calls.append(call)
    return calls, printed.group(1).splitlines()


def test_the_api_doc_worked_example_runs_as_documented(client: TestClient) -> None:
    calls, printed = worked_example()
    assert [(call["method"], call["path"]) for call in calls] == [
        ("POST", "/api/sessions"),
        ("POST", "/api/sessions/$SID/step"),
        ("POST", "/api/sessions/$SID/step"),
        ("GET", "/api/sessions/$SID"),
        ("GET", "/api/sessions/$SID/export"),
        ("DELETE", "/api/sessions/$SID"),
        ("GET", "/api/sessions/$SID"),
    ]
    printed_id, answers = printed[0], [line for line in printed if re.search(r" \[\d{3}\]$", line)]
    sid = ""
    for call in calls:
        response = client.request(
            call["method"], call["path"].replace("$SID", sid), headers=call["headers"], content=call["body"]
        )
        assert response.status_code == call["status"], (call, response.text)
        sid = sid or response.json()["id"]
        if call["printed"]:
            body, status = answers.pop(0).rsplit(" ", 1)
            assert status == f"[{response.status_code}]"
            assert response.json() == json.loads(body.replace(printed_id, sid)), call
        elif "filename" in response.json():
            assert response.json()["filename"] in printed
    assert not answers


def test_the_api_doc_quirks_hold(client: TestClient) -> None:
    """What the reference says of the edges: a body needs its Content-Type (415), reset's {} keeps the
    settings, HEAD works where GET does, unknown paths and methods answer in FastAPI's shape."""
    no_type = client.post("/api/sessions", content=json.dumps(UI_SMALL).encode())
    assert "Content-Type: application/json" in error_of(no_type, 415)
    assert "Content-Type: application/json" in doc_section("## Conventions")
    sid = create(client)
    assert client.post(f"/api/sessions/{sid}/reset").status_code == 200
    assert client.get(f"/api/sessions/{sid}/export").json()["filename"] == "torchprimer_moons.py"
    assert client.post(f"/api/sessions/{sid}/reset", json={}).status_code == 200
    assert client.get(f"/api/sessions/{sid}/export").json()["filename"] == "torchprimer_moons.py"
    assert client.head("/api/options").status_code == 200
    assert client.head("/api/sessions").status_code == 405  # a POST-only path
    assert client.get("/no-such-page").json() == {"detail": "Not Found"}
    assert client.get("/api/sessions/no-such-id/play").json() == {"detail": "Method Not Allowed"}


def test_the_api_doc_errors_table_lists_every_status_the_app_declares() -> None:
    rows = doc_tables(doc_section("### Errors"))[0]  # the section runs on to the next "### " heading
    assert sorted(int(row[0]) for row in rows) == sorted(server.ERRORS)


def test_the_api_doc_states_the_idle_limit() -> None:
    assert f"unused for {server.IDLE_SECONDS:g} s" in doc_section("## Session lifetime")
