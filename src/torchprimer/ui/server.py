"""The playground's web server: a FastAPI app, one `Session` per open tab.

HTTP for commands (create, play, pause, step, reset, export, save), one WebSocket per tab
for live frames. Closing the tab closes the WebSocket, which stops and drops its session; a
session nobody uses (no request to it, no open socket) for IDLE_SECONDS is dropped too.

Safety, because a page on any web site could try to talk to a server on localhost:
- the Host header must name this machine (loopback, or the host given with --allow-remote),
  which defeats DNS rebinding;
- a request or WebSocket carrying an Origin must come from this server's own origin;
- a body must be sent as JSON (Content-Type: application/json), which no other site can send
  without a CORS preflight, and is validated with bounds (`settings.PlaygroundConfig`); a bad
  one gets a 4xx answer with a message the page shows;
- the client never names a path: runs are saved under the server's own runs folder.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, WebSocket
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.websockets import WebSocketState

from torchprimer.errors import UserError, clip
from torchprimer.fileio import strict_json
from torchprimer.models import ACTIVATIONS
from torchprimer.ui import settings as limits
from torchprimer.ui import views
from torchprimer.ui.script import UNTRAINED_EPOCHS, render, trains
from torchprimer.ui.session import MAX_WAITING, Busy, Session, SessionEnded
from torchprimer.ui.settings import PlaygroundConfig, datasets

STATIC = Path(__file__).parent / "static"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
MAX_SESSIONS = 8
IDLE_SECONDS = 60.0  # a session with no request and no live socket for this long is dropped (Session.idle_seconds)
SWEEP_SECONDS = 5.0  # how often idle sessions are looked for between requests, so an unwatched one cannot play forever


def is_loopback(host: str) -> bool:
    """localhost, or an address of this machine's loopback network (127.0.0.0/8, ::1): no other machine
    reaches it."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Sessions:
    """The open tabs' sessions, at most MAX_SESSIONS; each is closed when its tab goes."""

    def __init__(self, runs_dir: Path, frame_interval: float) -> None:
        self.runs_dir, self.frame_interval = runs_dir, frame_interval
        self._by_id: dict[str, Session] = {}
        self._building = 0
        self._lock = threading.Lock()

    def create(self, settings: PlaygroundConfig) -> Session:
        self.drop_idle()  # an abandoned session must not keep a new tab out
        with self._lock:  # count the places being built too, so simultaneous requests cannot pass the limit
            if len(self._by_id) + self._building >= MAX_SESSIONS:
                raise TooMany(f"{MAX_SESSIONS} playground tabs are open already; close one and reload this page")
            self._building += 1
        try:
            session = Session(settings, self.runs_dir, frame_interval=self.frame_interval)
        finally:
            with self._lock:
                self._building -= 1
        with self._lock:
            session.touch()  # its idle time starts now, not when building (which may take seconds) began
            self._by_id[session.id] = session
        return session

    def get(self, session_id: str) -> Session:
        """The session, marked as used now: every route for a session comes through here."""
        with self._lock:  # with drop_idle's check: a session is either dropped or touched, never touched then dropped
            session = self._by_id.get(session_id)
            if session is not None and not session.closed:
                session.touch()
        if session is None or session.closed:
            raise NotFound(ENDED)
        return session

    def close(self, session_id: str) -> None:
        with self._lock:
            session = self._by_id.pop(session_id, None)
        if session is not None:
            session.close()

    def close_all(self) -> None:
        for session_id in list(self._by_id):
            self.close(session_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def drop_idle(self) -> None:
        """Close every session nobody has used for IDLE_SECONDS: no request to it, no live socket.
        Playing or not: a script or tab that went away must not train (and hold a place) forever."""
        now = time.monotonic()
        with self._lock:
            idle = [sid for sid, s in self._by_id.items() if s.closed or s.idle_seconds(now) > IDLE_SECONDS]
            dropped = [self._by_id.pop(sid) for sid in idle]
        for session in dropped:
            session.close()


class NotFound(Exception):
    pass


ENDED = (f"this playground session has ended (its tab was closed, it was left unused for {IDLE_SECONDS:g} s, "
         "or the server restarted); reload the page")


class TooMany(Exception):
    pass


class ErrorResponse(BaseModel):
    """The shape of every error the app answers, so /openapi.json describes what a client gets."""

    error: str


class Answer(BaseModel):
    """A success answer's shape, given to its route as `response_model`: /openapi.json then lists its fields, and
    FastAPI still serializes with pydantic, as it did for `dict[str, Any]`, so the bytes are the same. Extra keys
    are refused, so a key the code adds but the model lacks is an error in the tests, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class CountersResponse(Answer):
    """A session's counters, what most session routes answer (`Session.counters`)."""

    id: str = Field(description="the session id")
    epoch: int = Field(description="whole epochs trained since the last reset")
    step: int = Field(description="optimiser steps (batches) since the last reset")
    playing: bool = Field(description="whether the session is training in the background")
    message: str | None = Field(description="why training stopped by itself (the loss became NaN or infinite); "
                                "null otherwise")


class DatasetInfo(Answer):
    """One data set the page offers (`settings.datasets`)."""

    toy: bool = Field(description="a 2-D toy set, whose noise and n_samples apply")
    description: str
    size: str = Field(description="the whole set's size, in words")
    noise: float | None = Field(description="a toy set's default noise; null for the others")
    own_test: bool = Field(description="the set has its own test split, so train_share does not apply")


class Limits(Answer):
    """The bounds the page enforces before asking (the settings' own bounds)."""

    layers: int
    units: int
    samples: int
    batch_size: int
    lr: float = Field(description="the largest learning rate; it must be above 0 too")
    weight_decay: float = Field(description="the largest weight decay; 0 is allowed")
    unit_maps: int = Field(description="frames draw each hidden unit's output up to this many hidden units in all")


class OptionsResponse(Answer):
    """What the page's menus offer."""

    datasets: dict[str, DatasetInfo] = Field(description="by name, the toy sets first")
    activations: list[str]
    optimizers: list[str]
    defaults: PlaygroundConfig
    limits: Limits


class ExportResponse(Answer):
    """A stand-alone script that trains the session's network, the file name to save it as, and what it trains:
    the network as the page shows it, part of an epoch included, or (nothing trained yet) 100 epochs."""

    script: str
    filename: str
    epochs: int = Field(description="the whole epochs the script trains (its EPOCHS)")
    batches: int = Field(description="then this many batches of the next epoch (its BATCHES): the session was "
                         "part-way through that epoch; 0 when it was not")
    trains: str = Field(description="what the script trains, in words, as its docstring says it")
    diverged_at: int | None = Field(description="the step whose loss became NaN or infinite, where the session "
                                    "stopped and the script stops too (its last step); null when it did not diverge")


class SaveResponse(Answer):
    """Where the run folder was written, and the command that evaluates it."""

    run_dir: str
    evaluate: str


class DeleteResponse(Answer):
    """The id of the session that was ended."""

    closed: str


# What each error status means, for the routes' `responses` (and so for /openapi.json).
MAX_ERRORS_SHOWN = 5  # bad fields named in one answer
SOCKET_CHECK_SECONDS = 0.5  # how often a socket waiting for frames looks whether its session has ended
MAX_BODY_BYTES = 64 * 1024  # the settings are a few hundred bytes; a 200 MB body was read whole
ERRORS = {
    400: "the Host header is not this machine's, or the session cannot do this now: the message says why",
    403: "the request came from another site's page (its Origin is not this server)",
    404: "the session has ended (or never existed)",
    413: f"the request body is larger than {MAX_BODY_BYTES // 1024} KiB",
    415: "the request has a body that is not sent as JSON (Content-Type: application/json)",
    422: "the body is not a JSON object of valid settings: the message names each bad field",
    429: f"{MAX_SESSIONS} sessions exist already",
    503: f"the session's worker stayed busy with an earlier request for 120 s, or {MAX_WAITING} requests wait on "
         "it already",
}
BODY_TYPES = {"model_type", "model_attributes_type", "dict_type"}  # pydantic's "not an object" error types


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route: 400 (Host) always, then `statuses`, each an ErrorResponse; a route that may be
    sent a body (415 where it is not JSON) answers 413 where it is too large."""
    listed = sorted({400, *statuses, *((413,) if 415 in statuses else ())})
    return {status: {"model": ErrorResponse, "description": ERRORS[status]} for status in listed}


def _message(exc: RequestValidationError) -> str:
    """Pydantic's errors as one line: 'hidden.0: Input should be less than or equal to 512'. Only an
    error about the body as a whole (not JSON, not an object, missing) gets a 'request body' prefix; a
    check across fields (located at the body too) names its field in its own text."""
    parts = []
    for error in exc.errors():
        loc, kind = list(error.get("loc", ())), error.get("type")
        text = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        if loc[:1] == ["body"]:
            loc = loc[1:]
        if kind == "json_invalid":  # ("body", 17): the body is not JSON; 17 is where it went wrong
            reason = (error.get("ctx") or {}).get("error", text)
            parts.append(f"request body: not valid JSON ({reason} at character {loc[0] if loc else '?'}); "
                         "send the settings as a JSON object")
        elif loc:
            parts.append(f"{'.'.join(str(p) for p in loc)}: {text}")
        elif kind == "missing":
            parts.append("request body: missing; send the settings as a JSON object ({} for the defaults) "
                         "with Content-Type: application/json")
        elif kind in BODY_TYPES:
            parts.append(f"request body: must be a JSON object of settings ({{}} for the defaults), not "
                         f"{_json_kind(error.get('input'))}")
        else:
            parts.append(text)
    # each part cut, and only the first few: a body of 200,000 unknown keys was answered with 8 MB of them
    shown = [clip(part, 300) for part in parts[:MAX_ERRORS_SHOWN]]
    if len(parts) > MAX_ERRORS_SHOWN:
        shown.append(f"and {len(parts) - MAX_ERRORS_SHOWN:,} more")
    return "; ".join(shown) or "invalid request"


def _json_kind(value: Any) -> str:
    """What a JSON value is, in JSON's words: what a client sent instead of an object."""
    kinds = ((bool, "true or false"), (str, "a string"), ((int, float), "a number"), (list, "an array"))
    return next((name for types, name in kinds if isinstance(value, types)), "null" if value is None else "that")


def _merged(current: PlaygroundConfig, given: PlaygroundConfig | None) -> PlaygroundConfig:
    """The fields `given` sets, over `current`: a reset changes only what it names. The result is
    checked again as a whole (a field left out may not suit one given, e.g. blobs with noise 0), and
    a failure is the same 422 as a bad body."""
    if given is None:
        return current
    try:
        return PlaygroundConfig.model_validate(
            {**current.model_dump(), **given.model_dump(include=given.model_fields_set)})
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None


def _is_json(content_type: str | None) -> bool:
    """application/json or application/*+json, parameters (charset) ignored."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _has_body(headers: Any) -> bool:
    length = headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in headers


def _answer(status: int) -> Any:
    async def handler(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=status)

    return handler


def create_app(
    runs_dir: str | Path = "runs", *, allowed_hosts: tuple[str, ...] | None = LOOPBACK,
    frame_interval: float = 0.1,
) -> FastAPI:
    """The playground app; `allowed_hosts` are the host names the Host header may carry (None: any,
    for --allow-remote on a wildcard address)."""
    sessions = Sessions(Path(runs_dir), frame_interval)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(sweep())
        yield
        sweeper.cancel()
        sessions.close_all()  # server stopping: stop every tab's training

    async def sweep() -> None:
        """Drop idle sessions between requests too: an unwatched session playing on its own would
        otherwise train until someone sent a request. Closing waits for the worker: off the loop."""
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            await asyncio.to_thread(sessions.drop_idle)

    app = FastAPI(title="torchprimer playground", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.sessions = sessions
    hosts = None if allowed_hosts is None else {h.lower().strip("[]") for h in allowed_hosts}

    def host_ok(headers: Any) -> bool:
        try:
            host = urlsplit("//" + headers.get("host", "")).hostname or ""
        except ValueError:  # "[" and the like: no address at all (urlsplit raised, a 500)
            return False
        return hosts is None or host.lower() in hosts

    def origin_ok(headers: Any) -> bool:
        origin = headers.get("origin")
        if origin is None:  # not a browser, or a same-origin GET: nothing to check
            return True
        try:
            netloc = urlsplit(origin).netloc
        except ValueError:
            return False
        return netloc.lower() == headers.get("host", "").lower()

    def refusal(request: Request) -> JSONResponse | None:
        """The answer to a request no route may see (bad Host, foreign Origin, a body not sent as JSON), or None."""
        if not host_ok(request.headers):
            return JSONResponse({"error": "unexpected Host header; open the page at the address "
                                          "'torchprimer ui' printed"}, status_code=400)
        if request.method in ("GET", "HEAD"):  # they change nothing: no Origin or body to check
            return None
        if not origin_ok(request.headers):
            return JSONResponse({"error": "cross-origin request refused"}, status_code=403)
        # Only JSON bodies: a form or text/plain POST is a CORS "simple request" another site's page can send
        # without a preflight. The Origin check refuses those already; this refuses them a second way.
        if _has_body(request.headers) and not _is_json(request.headers.get("content-type")):
            sent = request.headers.get("content-type")
            what = f"as {sent!r}" if sent else "without a Content-Type"
            return JSONResponse({"error": f"the request body was sent {what}; send the settings as JSON with "
                                          "Content-Type: application/json"}, status_code=415)
        # Before the body is read: a 200 MB one was read whole, to be refused as invalid settings after.
        length = request.headers.get("content-length", "").strip()
        if _has_body(request.headers) and not (length.isdigit() and int(length) <= MAX_BODY_BYTES):
            size = f"larger than {MAX_BODY_BYTES // 1024} KiB" if length.isdigit() else "sent without a Content-Length"
            return JSONResponse({"error": f"the request body is {size}; send the settings alone, a JSON object "
                                          "of a few hundred bytes"}, status_code=413)
        return None

    @app.middleware("http")
    async def check_request(request: Request, call_next: Any) -> Any:
        """Refusals before any route; idle sessions dropped; HEAD answered without a body."""
        response = refusal(request)
        if response is None:
            await asyncio.to_thread(sessions.drop_idle)  # before the route: an idle session is gone for it too
            response = await call_next(request)
        if request.method == "HEAD":  # the GET's status and headers (Content-Length included), no body (RFC 9110)
            if hasattr(response, "body_iterator"):  # a route's answer, streamed: let it finish, send none of it
                async for _ in response.body_iterator:
                    pass
            return Response(status_code=response.status_code, headers=dict(response.headers))
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": _message(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """A body FastAPI could not parse as JSON at all (an integer of over 4,300 digits) as the other bad
        bodies are answered, 422 "request body: ..."; it was FastAPI's 400 {"detail": ...}, which the page
        showed as "400 Bad Request". No route, no method: FastAPI's own answers, as documented."""
        if exc.status_code == 400:
            return JSONResponse({"error": f"request body: could not be read ({exc.detail}); send the settings "
                                          "as a flat JSON object in UTF-8, its numbers of ordinary size"},
                                status_code=422)
        return await http_exception_handler(request, exc)

    # A user's mistake, an ended session, too many tabs or requests: each a message the page shows, with its status.
    for error, status in ((UserError, 400), (NotFound, 404), (TooMany, 429), (Busy, 503)):
        app.add_exception_handler(error, _answer(status))

    async def ended(_: Request, exc: Exception) -> JSONResponse:
        # A request that waited on a session which then closed (its tab went, DELETE, the idle drop): it was a
        # 500 with a CancelledError traceback on the server's stderr
        return JSONResponse({"error": ENDED}, status_code=404)

    app.add_exception_handler(SessionEnded, ended)

    async def busy(_: Request, exc: Exception) -> JSONResponse:
        # The job may be this request's own (a step whose epoch outlasts the wait) or an earlier one: either
        # way it goes on training, and asking again only queues more behind it.
        return JSONResponse({"error": "the network is still training after 120 s and goes on; watch its counters, "
                                      "and for shorter epochs use fewer samples or a larger batch"},
                            status_code=503)

    # A job that waited too long on the worker; before Python 3.11 futures raise their own TimeoutError.
    for timeout in {TimeoutError, concurrent.futures.TimeoutError}:
        app.add_exception_handler(timeout, busy)

    def get(path: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """A GET route that answers HEAD too, as HTTP clients expect (RFC 9110); only the GET is in the
        schema (one operation per route there). The HEAD one is built alike (its response model too), so
        its headers are the GET's; the middleware drops its body."""
        def register(endpoint: Callable[..., Any]) -> Callable[..., Any]:
            app.add_api_route(path, endpoint, methods=["GET"], **options)
            app.add_api_route(path, endpoint, methods=["HEAD"], **{**options, "include_in_schema": False})
            return endpoint

        return register

    @get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @get("/api/options", responses=errors(), response_model=OptionsResponse)
    def options() -> dict[str, Any]:
        """What the page's menus offer, and the bounds it enforces before asking."""
        return {
            "datasets": datasets(), "activations": list(ACTIVATIONS), "optimizers": ["sgd", "adam", "adamw"],
            "defaults": PlaygroundConfig().model_dump(),
            "limits": {"layers": limits.MAX_LAYERS, "units": limits.MAX_UNITS, "samples": limits.MAX_SAMPLES,
                       "batch_size": 4096, "lr": limits.MAX_LR, "weight_decay": limits.MAX_WEIGHT_DECAY,
                       "unit_maps": views.MAX_UNIT_MAPS},
        }

    @app.post("/api/sessions", status_code=201, responses=errors(403, 415, 422, 429), response_model=CountersResponse)
    def create(settings: PlaygroundConfig) -> dict[str, Any]:
        return sessions.create(settings).counters()

    @get("/api/sessions/{session_id}", responses=errors(404), response_model=CountersResponse)
    def show(session_id: str) -> dict[str, Any]:
        return sessions.get(session_id).counters()

    @app.post("/api/sessions/{session_id}/play", responses=errors(403, 404, 415), response_model=CountersResponse)
    def play(session_id: str) -> dict[str, Any]:
        session = sessions.get(session_id)
        session.play()
        return session.counters()

    @app.post("/api/sessions/{session_id}/pause", responses=errors(403, 404, 415), response_model=CountersResponse)
    def pause(session_id: str) -> dict[str, Any]:
        session = sessions.get(session_id)
        session.pause()
        return session.counters()

    @app.post("/api/sessions/{session_id}/step", responses=errors(403, 404, 415, 503), response_model=CountersResponse)
    def step(session_id: str) -> dict[str, Any]:
        return sessions.get(session_id).step()

    @app.post("/api/sessions/{session_id}/reset", responses=errors(403, 404, 415, 422, 503),
              response_model=CountersResponse)
    def reset(session_id: str, settings: PlaygroundConfig | None = None) -> dict[str, Any]:
        """Fresh weights; the fields the body gives replace the session's, the others stay as they are."""
        session = sessions.get(session_id)
        return session.reset(_merged(session.settings, settings))

    @get("/api/sessions/{session_id}/export", responses=errors(404, 503), response_model=ExportResponse)
    def export(session_id: str) -> dict[str, Any]:
        """The script of the network as it is now, a part-way epoch included (the page shows 2.4 epochs; a
        script of 2 reproduced another network). Unlike save it trains nothing: a GET changes nothing."""
        done = sessions.get(session_id).progress()
        settings = done.settings
        epochs, batches = (done.epochs, done.batches) if done.step else (UNTRAINED_EPOCHS, 0)
        # A diverged session is exported to the step it diverged at, and says so: the script is the run that
        # teaches what a too-high learning rate does, not a network worth having (save refuses that one).
        what = trains(epochs, batches, done.per_epoch, untrained=not done.step, diverged=done.diverged)
        return {"script": render(settings, epochs, batches, what, diverged=done.diverged), "filename":
                f"torchprimer_{settings.dataset.replace('-', '_')}.py", "epochs": epochs, "batches": batches,
                "trains": what, "diverged_at": done.step if done.diverged else None}

    @app.post("/api/sessions/{session_id}/save", responses=errors(403, 404, 415, 503), response_model=SaveResponse)
    def save(session_id: str) -> dict[str, Any]:
        run_dir = sessions.get(session_id).save()
        return {"run_dir": str(run_dir), "evaluate": f"torchprimer evaluate {run_dir}"}

    @app.delete("/api/sessions/{session_id}", responses=errors(403, 404, 415), response_model=DeleteResponse)
    def delete(session_id: str) -> dict[str, Any]:
        sessions.get(session_id)
        sessions.close(session_id)
        return {"closed": session_id}

    def openapi() -> dict[str, Any]:
        """FastAPI's schema, less the 422 it gives every route with a path parameter: here only a body can be
        invalid (a session id is any string; an unknown one is 404), and the routes with one declare theirs."""
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            for operations in schema["paths"].values():
                for operation in operations.values():
                    if "requestBody" not in operation:
                        operation["responses"].pop("422", None)
            if "HTTPValidationError" not in json.dumps(schema["paths"]):
                for name in ("HTTPValidationError", "ValidationError"):
                    schema.get("components", {}).get("schemas", {}).pop(name, None)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]

    @app.websocket("/api/sessions/{session_id}/live")
    async def live(ws: WebSocket, session_id: str) -> None:
        """Frames out, 'ready' in: a new frame goes only after the page drew the last one. The socket
        always ends with a close frame, and its end ends the session."""
        if not host_ok(ws.headers) or not origin_ok(ws.headers):
            await ws.close(code=1008)  # policy violation: another site's page
            return
        try:
            session = sessions.get(session_id)
        except NotFound:
            await ws.close(code=4404)
            return
        await ws.accept()
        loop = asyncio.get_running_loop()
        frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        session.subscribe(lambda frame: loop.call_soon_threadsafe(frames.put_nowait, frame))
        session.ready()

        async def receive() -> tuple[int, str] | None:
            """Take 'ready' until the client closes (None) or breaks the protocol: then the close code
            and reason to answer with. Other JSON is ignored, so a client may send more than it needs."""
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return None
                if message.get("text") is None:
                    return 1003, 'binary messages are not accepted; send {"type": "ready"} as a text message'
                try:
                    parsed = json.loads(message["text"])
                except (ValueError, RecursionError):  # nesting deeper than the parser goes is no JSON to us either
                    return 1007, 'a message was not JSON; send {"type": "ready"} as a JSON text message'
                if isinstance(parsed, dict) and parsed.get("type") == "ready":
                    session.ready()

        async def send() -> tuple[int, str]:
            """Frames as they come; once the session has ended (another socket on it closed, DELETE, the idle
            drop), the close code and reason to tell this socket, which had stayed open and silent."""
            while True:
                try:
                    frame = await asyncio.wait_for(frames.get(), timeout=SOCKET_CHECK_SECONDS)
                except TimeoutError:
                    if session.closed:
                        return 4404, "this playground session has ended; reload the page"
                    continue
                await ws.send_json(strict_json(frame))  # NaN would break the page's JSON.parse

        receiving, sending = asyncio.create_task(receive()), asyncio.create_task(send())
        for task in (receiving, sending):  # a task's error is answered below with 1011; asyncio need not log it
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
        close: tuple[int, str] | None = (1011, "the server hit an error; reload the page")  # if a task failed
        try:
            await asyncio.wait([receiving, sending], return_when=asyncio.FIRST_COMPLETED)
            for task in (receiving, sending):
                if task.done() and not task.cancelled() and task.exception() is None:
                    close = task.result()
        finally:
            for task in (receiving, sending):
                task.cancel()
            # The tab is gone: stop its training, on a thread (closing waits for the worker). Submitted before any
            # await and shielded, so that a handler cancelled from here on (a test client leaving, a server
            # stopping) cannot cancel the close while it still waits for a thread: the session is always closed.
            closing = asyncio.shield(loop.run_in_executor(None, sessions.close, session_id))
            if close and ws.client_state is WebSocketState.CONNECTED and \
                    ws.application_state is WebSocketState.CONNECTED:
                with contextlib.suppress(Exception):  # the client may be gone already: nothing more to tell it
                    await ws.close(code=close[0], reason=close[1])
            await closing

    return app


def check_host(host: str) -> None:
    """Refuse a --host that is no host: empty (it listened on every address, and printed http://:8765/), with a
    port in it, or an IPv6 address in brackets (the resolver's "Name or service not known" said neither)."""
    if not host.strip():
        raise UserError("--host is empty; leave it out for 127.0.0.1, or give a name or address of this machine")
    if host.startswith("["):  # [::1], or [::1]:80 with a port
        address = host[1:].partition("]")[0]
        raise UserError(f"--host {host}: give an IPv6 address without brackets (and a port with --port), "
                        f"e.g. --host {address}")
    if host.count(":") == 1:
        name, _, port = host.partition(":")
        raise UserError(f"--host {host} holds a port; give the host alone and the port with --port, "
                        f"e.g. --host {name or '127.0.0.1'} --port {port or 8765}")


def serve(host: str, port: int, runs_dir: Path, *, open_browser: bool, allow_remote: bool) -> None:
    """Run the playground until Ctrl-C. Any host but loopback needs allow_remote (and warns)."""
    import sys
    import webbrowser

    import torch
    import uvicorn

    from torchprimer.fileio import check_output_folder

    check_output_folder(runs_dir, flag="--out")  # now, not when the page's save button is pressed
    check_host(host)
    if not is_loopback(host) and not allow_remote:
        raise UserError(f"--host {host} would let other machines reach the playground; "
                        "add --allow-remote if you mean it, or leave --host out for 127.0.0.1")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:  # the host, not the port
                raise UserError(f"cannot listen on {host}:{port} ({exc.strerror}): --host must be a name or "
                                "address of this machine; leave it out for 127.0.0.1") from None
            raise UserError(f"cannot listen on {host}:{port} ({exc.strerror}); pass another --port, "
                            "or stop the program that holds it") from None
    if not is_loopback(host):
        print(f"warning: the playground is reachable from other machines at {host}:{port}; "
              "anyone who can reach it can train networks and write run folders here", file=sys.stderr)
    # Playground networks are small: one thread each trains them fastest and leaves a core for the browser.
    torch.set_num_threads(1)
    allowed = None if host in ("0.0.0.0", "::") else (*LOOPBACK, host)  # create_app compares them lower-cased
    app = create_app(runs_dir, allowed_hosts=allowed)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/"
    print(f"torchprimer playground: {url}  (runs are saved under {runs_dir}/; Ctrl-C stops)", flush=True)
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            """Ctrl-C or SIGTERM: close every session at once, so that their training stops and the requests
            waiting on it are answered (uvicorn waits for those before it stops: a step in progress had held
            the server up to the 120 s of its wait). On a thread: closing joins each session's worker."""
            threading.Thread(target=app.state.sessions.close_all, daemon=True).start()
            super().handle_exit(sig, frame)

    Server(uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=10)).run()
