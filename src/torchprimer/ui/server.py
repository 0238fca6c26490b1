"""The playground's web server: a FastAPI app, one `Session` per open tab.

HTTP for commands (create, play, pause, step, reset, export, save), one WebSocket per tab
for live frames. Closing the tab closes the WebSocket, which stops and drops its session.

Safety, because a page on any web site could try to talk to a server on localhost:
- the Host header must name this machine (loopback, or the host given with --allow-remote),
  which defeats DNS rebinding;
- a request or WebSocket carrying an Origin must come from this server's own origin;
- every body is validated with bounds (`settings.PlaygroundConfig`), and a bad one gets a
  4xx answer with a message the page shows;
- the client never names a path: runs are saved under the server's own runs folder.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import math
import socket
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from torchprimer.errors import UserError
from torchprimer.models import ACTIVATIONS
from torchprimer.ui import settings as limits
from torchprimer.ui.script import render
from torchprimer.ui.session import Session
from torchprimer.ui.settings import PlaygroundConfig, datasets

STATIC = Path(__file__).parent / "static"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
MAX_SESSIONS = 8
UNCLAIMED_SECONDS = 60.0  # a session whose page never connected is dropped after this


class Sessions:
    """The open tabs' sessions, at most MAX_SESSIONS; each is closed when its tab goes."""

    def __init__(self, runs_dir: Path, frame_interval: float) -> None:
        self.runs_dir, self.frame_interval = runs_dir, frame_interval
        self._by_id: dict[str, Session] = {}
        self._building = 0
        self._lock = threading.Lock()

    def create(self, settings: PlaygroundConfig) -> Session:
        self._drop_unclaimed()
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
            self._by_id[session.id] = session
        return session

    def get(self, session_id: str) -> Session:
        session = self._by_id.get(session_id)
        if session is None or session.closed:
            raise NotFound("this playground session has ended (its tab was closed or the server restarted); "
                           "reload the page")
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

    def _drop_unclaimed(self) -> None:
        now = time.monotonic()
        for session_id, session in list(self._by_id.items()):
            if session.closed or (not session.subscribed and now - session.created > UNCLAIMED_SECONDS):
                self.close(session_id)


class NotFound(Exception):
    pass


class TooMany(Exception):
    pass


def _message(exc: RequestValidationError) -> str:
    """Pydantic's errors as one line: 'hidden.0: Input should be less than or equal to 512'."""
    parts = []
    for error in exc.errors():
        loc = list(error.get("loc", ()))
        if loc[:1] == ["body"]:  # ("body", 1) is a position in a body that is not JSON: no field to name
            loc = [p for p in loc[1:] if not isinstance(p, int)] if len(loc) == 2 else loc[1:]
        where = ".".join(str(p) for p in loc)
        text = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        parts.append(f"{where}: {text}" if where else f"request body (a JSON object of settings): {text}")
    return "; ".join(parts) or "invalid request"


def _answer(status: int) -> Any:
    async def handler(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=status)

    return handler


def finite(obj: Any) -> Any:
    """NaN and infinities become null: JSON has no word for them and the page's parser would fail."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [finite(v) for v in obj]
    return obj


def create_app(
    runs_dir: str | Path = "runs", *, allowed_hosts: tuple[str, ...] | None = LOOPBACK,
    frame_interval: float = 0.1,
) -> FastAPI:
    """The playground app; `allowed_hosts` are the host names the Host header may carry (None: any,
    for --allow-remote on a wildcard address)."""
    sessions = Sessions(Path(runs_dir), frame_interval)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        sessions.close_all()  # server stopping: stop every tab's training

    app = FastAPI(title="torchprimer playground", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.sessions = sessions
    hosts = None if allowed_hosts is None else {h.lower().strip("[]") for h in allowed_hosts}

    def host_ok(headers: Any) -> bool:
        host = urlsplit("//" + headers.get("host", "")).hostname or ""
        return hosts is None or host.lower() in hosts

    def origin_ok(headers: Any) -> bool:
        origin = headers.get("origin")
        if origin is None:  # not a browser, or a same-origin GET: nothing to check
            return True
        return urlsplit(origin).netloc.lower() == headers.get("host", "").lower()

    @app.middleware("http")
    async def check_host_and_origin(request: Request, call_next: Any) -> Any:
        if not host_ok(request.headers):
            return JSONResponse({"error": "unexpected Host header; open the page at the address "
                                          "'torchprimer ui' printed"}, status_code=400)
        if request.method not in ("GET", "HEAD") and not origin_ok(request.headers):
            return JSONResponse({"error": "cross-origin request refused"}, status_code=403)
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": _message(exc)}, status_code=422)

    # A user's mistake, an ended session, too many tabs: each a message the page shows, with its status.
    for error, status in ((UserError, 400), (NotFound, 404), (TooMany, 429)):
        app.add_exception_handler(error, _answer(status))

    async def busy(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": "the network is still busy with an earlier request; try again"},
                            status_code=503)

    # A job that waited too long on the worker; before Python 3.11 futures raise their own TimeoutError.
    for timeout in {TimeoutError, concurrent.futures.TimeoutError}:
        app.add_exception_handler(timeout, busy)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/options")
    def options() -> dict[str, Any]:
        """What the page's menus offer, and the bounds it enforces before asking."""
        return {
            "datasets": datasets(), "activations": list(ACTIVATIONS), "optimizers": ["sgd", "adam", "adamw"],
            "defaults": PlaygroundConfig().model_dump(),
            "limits": {"layers": limits.MAX_LAYERS, "units": limits.MAX_UNITS, "samples": limits.MAX_SAMPLES,
                       "batch_size": 4096},
        }

    @app.post("/api/sessions", status_code=201)
    def create(settings: PlaygroundConfig) -> dict[str, Any]:
        return sessions.create(settings).counters()

    @app.get("/api/sessions/{session_id}")
    def show(session_id: str) -> dict[str, Any]:
        return sessions.get(session_id).counters()

    @app.post("/api/sessions/{session_id}/play")
    def play(session_id: str) -> dict[str, Any]:
        session = sessions.get(session_id)
        session.play()
        return session.counters()

    @app.post("/api/sessions/{session_id}/pause")
    def pause(session_id: str) -> dict[str, Any]:
        session = sessions.get(session_id)
        session.pause()
        return session.counters()

    @app.post("/api/sessions/{session_id}/step")
    def step(session_id: str) -> dict[str, Any]:
        return sessions.get(session_id).step()

    @app.post("/api/sessions/{session_id}/reset")
    def reset(session_id: str, settings: PlaygroundConfig | None = None) -> dict[str, Any]:
        return sessions.get(session_id).reset(settings)

    @app.get("/api/sessions/{session_id}/export")
    def export(session_id: str) -> dict[str, Any]:
        session = sessions.get(session_id)
        script = render(session.settings, epochs=session.epoch or 100)
        return {"script": script, "filename": f"torchprimer_{session.settings.dataset.replace('-', '_')}.py"}

    @app.post("/api/sessions/{session_id}/save")
    def save(session_id: str) -> dict[str, Any]:
        run_dir = sessions.get(session_id).save()
        return {"run_dir": str(run_dir), "evaluate": f"torchprimer evaluate {run_dir}"}

    @app.delete("/api/sessions/{session_id}")
    def delete(session_id: str) -> dict[str, Any]:
        sessions.get(session_id)
        sessions.close(session_id)
        return {"closed": session_id}

    @app.websocket("/api/sessions/{session_id}/live")
    async def live(ws: WebSocket, session_id: str) -> None:
        """Frames out, 'ready' in: a new frame goes only after the page drew the last one."""
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

        async def receive() -> None:
            while True:
                message = await ws.receive_json()
                if isinstance(message, dict) and message.get("type") == "ready":
                    session.ready()

        async def send() -> None:
            while True:
                await ws.send_json(finite(await frames.get()))

        tasks = [asyncio.create_task(receive()), asyncio.create_task(send())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            for task in tasks:
                task.cancel()
            # The tab is gone: stop its training, off the event loop (closing waits for the worker).
            await asyncio.to_thread(sessions.close, session_id)

    return app


def serve(host: str, port: int, runs_dir: Path, *, open_browser: bool, allow_remote: bool) -> None:
    """Run the playground until Ctrl-C. Any host but loopback needs allow_remote (and warns)."""
    import sys
    import webbrowser

    import torch
    import uvicorn

    if host not in LOOPBACK and not allow_remote:
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
    if host not in LOOPBACK:
        print(f"warning: the playground is reachable from other machines at {host}:{port}; "
              "anyone who can reach it can train networks and write run folders here", file=sys.stderr)
    # Playground networks are small: one thread each trains them fastest and leaves a core for the browser.
    torch.set_num_threads(1)
    allowed = LOOPBACK if host in LOOPBACK else (None if host in ("0.0.0.0", "::") else (*LOOPBACK, host))
    app = create_app(runs_dir, allowed_hosts=allowed)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/"
    print(f"torchprimer playground: {url}  (runs are saved under {runs_dir}/; Ctrl-C stops)", flush=True)
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(app, host=host, port=port, log_level="warning")
