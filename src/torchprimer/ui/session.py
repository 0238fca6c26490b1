"""One playground tab: a real network, its data and optimiser, trained in a worker thread.

Only the worker thread touches the model. The server's handlers hand it jobs (one epoch,
reset, save) and wait for the answer, and flip play/pause; so a step or a save never
sees half an optimiser update. Frames (what the page draws) are built by the worker too,
only when the page has said it is ready for one and at most every `frame_interval`
seconds: the page is never sent more than it can draw.

The training step is the one `torchprimer train` runs (`loop.make_train_step`, the same
batching, optimiser and loss), cut into chunks of about 30 ms so that pause, frames and jobs
are answered promptly.
"""

from __future__ import annotations

import math
import queue
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from torchprimer.data.batches import device_batches, num_batches
from torchprimer.errors import UserError
from torchprimer.models import count_parameters, objective_for
from torchprimer.training.loop import evaluate, make_optimizer, make_train_step, predict_outputs, scores
from torchprimer.training.run import (
    TrainResult,
    build,
    new_run_dir,
    write_config,
    write_metrics,
    write_outputs,
)
from torchprimer.ui import views
from torchprimer.ui.settings import PlaygroundConfig

CHUNK_SECONDS = 0.03
EVAL_ROWS = 10_000  # frames measure the training loss on at most this many rows (the test split is measured whole)
POINTS_SHOWN = 2_000  # 2-D points sent to the page per split
_BUILD_LOCK = threading.Lock()  # building seeds torch's global generator: one build at a time
MAX_WAITING = 4  # requests one session answers at once: each waiting one holds one of the server's threads


class SessionEnded(Exception):
    """The session was closed before a request's job ran, or while it waited for it."""


class Busy(Exception):
    """MAX_WAITING requests wait on the session's worker already."""


@dataclass(frozen=True)
class Progress:
    """Where a session's training is: `epochs` whole epochs, then `batches` of the `per_epoch` batches of the
    next one; `step` optimiser steps in all. `diverged` is the loss of that last step, "nan" or "inf", when it was
    not finite (training stopped there); None otherwise."""

    settings: PlaygroundConfig
    epochs: int
    batches: int
    per_epoch: int
    step: int
    diverged: str | None = None


class Session:
    """A tab's training state; create it, `subscribe` a frame sink, then play/pause/step/reset."""

    def __init__(self, settings: PlaygroundConfig, runs_dir: Path, *, frame_interval: float = 0.1) -> None:
        self.id = secrets.token_urlsafe(12)
        self.runs_dir = Path(runs_dir)
        self.frame_interval = frame_interval
        self.created = time.monotonic()
        self.last_seen = self.created  # refreshed by every request (`touch`, `call`); see `idle_seconds`
        self._in_use = 0  # requests waiting on the worker now: a long step must not count as idle time
        self._in_use_lock = threading.Lock()
        self._jobs: queue.Queue[tuple[Callable[[], Any], Future[Any]]] = queue.Queue()
        self._playing = threading.Event()
        self._closed = threading.Event()
        self._want_frame = threading.Event()
        self._pauses = 0  # pauses asked for so far: one asked for while a step trains stops that step (`_one_epoch`)
        self._sink: Callable[[dict[str, Any]], None] | None = None
        self._subscriptions = 0
        self._last_frame = 0.0
        self.data_version = 0
        self._sent_version = -1
        self._build(settings)
        self._thread = threading.Thread(target=self._work, name=f"playground-{self.id}", daemon=True)
        self._thread.start()

    # ----- what the server calls -----------------------------------------------------------

    @property
    def playing(self) -> bool:
        return self._playing.is_set()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def subscribed(self) -> bool:
        return self._sink is not None

    def touch(self) -> None:
        """Someone used this session just now (an HTTP request to it): it is not idle."""
        self.last_seen = time.monotonic()

    def idle_seconds(self, now: float | None = None) -> float:
        """How long nobody has used this session: 0 while a live socket is open or a request is being
        answered, else the time since the last request. The server drops sessions idle too long, so
        that a tab or script that went away without a word stops training and frees its place."""
        if self.subscribed or self._in_use:
            return 0.0
        return max(0.0, (time.monotonic() if now is None else now) - self.last_seen)

    def subscribe(self, sink: Callable[[dict[str, Any]], None] | None) -> None:
        """Frames go to `sink` (called from the worker thread); None stops them."""
        self._sink = sink
        self.touch()  # unsubscribing starts the idle clock now, not at the last request
        self._subscriptions += 1
        self._sent_version = -1  # a new page needs the data again
        self.dirty = True

    def ready(self) -> None:
        """The page has drawn the last frame and can take another."""
        self._want_frame.set()

    def play(self) -> None:
        if self.message:
            raise UserError(self.message)
        self._playing.set()

    def pause(self) -> None:
        """Stop training: playing, and a step (or a save's finishing epoch) under way, which stops where it is."""
        self._playing.clear()
        self._pauses += 1
        self.dirty = True

    def step(self, timeout: float = 120.0) -> dict[str, Any]:
        """Pause, then train to the end of the current epoch: one whole epoch from a fresh or
        stepped network, as TensorFlow Playground's step button does, the rest of it after a
        pause mid-epoch. Either way the epoch counter goes up by one, unless the loss becomes
        NaN or infinite on the way, which stops training there and sets `message`, or a pause (or reset,
        or save) is asked for meanwhile, which stops it where it is: an epoch of 16,000 batches of one
        takes minutes on a laptop, and the learner who pressed step must be able to stop it. Frames go
        out while it trains, as while playing, so the page shows it moving. Once it has diverged,
        stepping is refused as `play` is (UserError, "... press reset"): another step could
        only leave the counters where they are."""
        self._playing.clear()  # not `pause`: a second step queued behind a first one does not stop it
        self.dirty = True
        return self.call(self._one_epoch, timeout)

    def reset(self, settings: PlaygroundConfig | None = None, timeout: float = 120.0) -> dict[str, Any]:
        """Pause and start again from fresh weights, with new settings if given."""
        self.pause()
        return self.call(lambda: self._build(settings or self.settings), timeout)

    def save(self, timeout: float = 120.0) -> Path:
        """Pause and write a run folder in `torchprimer train`'s format; `torchprimer evaluate` reads it.
        A network part-way through an epoch first trains to its end, as `step` does: the folder's
        epoch count, metrics and weights then describe the same network (the weights of 2.23 epochs
        had been saved as a 2-epoch run, whose config.json reruns to other numbers)."""
        self.pause()
        return self.call(self._save, timeout)

    def progress(self, timeout: float = 120.0) -> Progress:
        """How far the network has trained, with the settings it trains with, read on the worker: while it
        plays, an epoch's end changes the epoch and the position in it one after the other, and a read from
        another thread could see the one changed and not the other.

        Counted from the steps, not from `epoch`: an epoch whose last step diverged is not counted there (it has
        no metrics row), yet it was trained to its end, and "6 epochs and 1 of the 1 batches of epoch 7" is
        7 epochs."""
        def read() -> Progress:
            per_epoch = num_batches(len(self.splits.y_train), self.cfg.batch_size)
            epochs, batches = divmod(self.step_count, per_epoch)
            return Progress(self.settings, epochs, batches, per_epoch, self.step_count, self.diverged)

        return self.call(read, timeout)

    def counters(self) -> dict[str, Any]:
        return {"id": self.id, "epoch": self.epoch, "step": self.step_count, "playing": self.playing,
                "message": self.message}

    def call(self, job: Callable[[], Any], timeout: float) -> Any:
        """Run `job` on the worker thread and return its result (or raise its error)."""
        if self.closed:
            raise SessionEnded
        future: Future[Any] = Future()
        with self._in_use_lock:
            # 44 requests waiting on one long step held 44 of the server's 40 threads: every other route of
            # every tab (pause and delete too) waited behind them for up to a minute
            if self._in_use >= MAX_WAITING:
                raise Busy(f"{MAX_WAITING} requests to this session are waiting for its network already (a long "
                           "step holds it); wait for their answers, or pause")
            self._in_use += 1
        try:
            self._jobs.put((job, future))
            result = future.result(timeout=timeout)
            if self.closed:  # closed while its job ran (a step stops its epoch there): no counters of an ended one
                raise SessionEnded
            return result
        except CancelledError:  # closed while this waited: the worker dropped the job
            raise SessionEnded from None
        finally:
            with self._in_use_lock:
                self._in_use -= 1
            self.touch()  # the idle clock starts when the answer goes, not when the request came

    def close(self) -> None:
        """Stop training and the worker; what is queued is cancelled."""
        self._closed.set()
        self._playing.clear()
        self._sink = None
        self._jobs.put((lambda: None, Future()))  # wakes the worker
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)
        while True:
            try:
                _, future = self._jobs.get_nowait()
            except queue.Empty:
                break
            future.cancel()

    # ----- the worker thread ---------------------------------------------------------------

    def _work(self) -> None:
        while not self.closed:
            try:
                job = self._jobs.get_nowait() if self.playing else self._jobs.get(timeout=0.02)
            except queue.Empty:
                job = None
            if self.closed:
                if job is not None:  # taken as the session closed: its caller hears that it ended, not a timeout
                    job[1].cancel()
                break
            if job is not None:
                fn, future = job
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn())
                    except BaseException as exc:  # handed to the caller, who turns it into a message
                        future.set_exception(exc)
            try:
                if job is None and self.playing:
                    self._train_for(CHUNK_SECONDS)
                self._publish()
            except Exception as exc:  # a bug must not leave a silent, frozen page: show it and pause
                self._playing.clear()
                self.message = f"training stopped: {type(exc).__name__}: {exc}"
                self.dirty = True

    def _build(self, settings: PlaygroundConfig) -> dict[str, Any]:
        cfg = settings.train_config()
        with _BUILD_LOCK:
            _, splits, model = build(cfg)
        self.settings, self.cfg, self.splits, self.model = settings, cfg, splits, model
        self.objective = objective_for(model)
        self.optimizer = make_optimizer(model, cfg)
        self.train_step = make_train_step(model, self.optimizer, self.objective, cfg)  # train's own step
        self.epoch = self.step_count = self.position = 0
        self.batches = self._epoch_batches()
        self.history: list[dict[str, float]] = []
        self.train_seconds = 0.0
        self._epoch_seconds = 0.0  # the time this epoch's steps took: paused time is no training time
        self._epoch_loss = torch.zeros(())
        self._epoch_correct = torch.zeros((), dtype=torch.long)
        self._last_loss = torch.zeros(())
        self.message: str | None = None
        self.diverged: str | None = None  # the last step's loss, "nan" or "inf", when it was not finite
        self.is_2d = tuple(splits.input_shape) == (2,)
        self.box = views.extent(self._raw(torch.cat([splits.x_train, splits.x_test]))) if self.is_2d else None
        self.data_version += 1
        self.dirty = True
        return self.counters()

    def _epoch_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This epoch's batches, the ones `torchprimer train` would take (same order, same gathers)."""
        s = self.splits
        return device_batches(s.x_train, s.y_train, self.cfg.batch_size, seed=self.cfg.seed, epoch=self.epoch)

    def _train_step(self) -> None:
        started = time.perf_counter()
        n, bs = len(self.splits.y_train), self.cfg.batch_size
        xb, yb = next(self.batches)
        output, loss = self.train_step(xb, yb)
        self._last_loss = loss.detach()
        self._epoch_loss += self._last_loss * len(yb)
        self._epoch_correct += (self.objective.predict(output.detach()) == yb).sum()
        self.step_count += 1
        self.position += bs
        # Checked every step (one read of a CPU scalar), so training stops at the first bad step and
        # the message names it; a check per chunk named the chunk's last step and trained on NaN weights.
        # Before the epoch's end: an epoch whose last step diverged is not counted, nor given a NaN row.
        value = float(self._last_loss)
        self._epoch_seconds += time.perf_counter() - started
        if not math.isfinite(value):
            self._playing.clear()
            self.diverged = str(value)
            self.message = (f"the loss became {value} at step {self.step_count}: lower the learning rate "
                            f"(now {self.cfg.lr:g}) and press reset")
        elif self.position >= n:
            self._end_epoch()

    def _end_epoch(self) -> None:
        """One metrics.csv row, as `torchprimer train` writes it, and the next epoch's batches. Its seconds are
        `train`'s too: the epoch's steps and its validation, not the time the page sat paused in between (a saved
        run's epoch_seconds said 1.4 s, or minutes, for an epoch `train` runs in 0.04 s)."""
        n = len(self.splits.y_train)
        started = time.perf_counter()
        val = evaluate(self.model, self.splits.x_val, self.splits.y_val, self.objective)
        self.epoch += 1
        self.history.append({
            "epoch": self.epoch, "train_loss": float(self._epoch_loss) / n,
            "train_acc": float(self._epoch_correct) / n, "val_loss": val["loss"], "val_acc": val["accuracy"],
            "lr": self.cfg.lr, "seconds": self._epoch_seconds + time.perf_counter() - started,
        })
        self._epoch_seconds = 0.0
        self._epoch_loss.zero_()
        self._epoch_correct.zero_()
        self.position = 0
        self.batches = self._epoch_batches()

    def _train_for(self, seconds: float) -> None:
        started = time.perf_counter()
        while time.perf_counter() - started < seconds and self.playing and not self.message:
            self._train_step()
        self._after_training(time.perf_counter() - started)

    def _one_epoch(self) -> dict[str, Any]:
        if self.message:  # checked here, on the worker, so a play that diverged just now is seen too
            raise UserError(self.message)
        started, epoch, pauses = time.perf_counter(), self.epoch, self._pauses
        chunk = started
        # Closing stops it at once, and so does a pause asked for since the job began (not the step's own).
        while self.epoch == epoch and not self.message and not self._closed.is_set() and self._pauses == pauses:
            self._train_step()
            if time.perf_counter() - chunk >= CHUNK_SECONDS:  # frames while it trains, as while playing
                now = time.perf_counter()
                self._after_training(now - chunk)
                chunk = now
                self._publish()
        self._after_training(time.perf_counter() - chunk)
        return self.counters()

    def _after_training(self, seconds: float) -> None:
        self.train_seconds += seconds
        self.dirty = True

    def _publish(self) -> None:
        sink = self._sink
        if sink is None or not self.dirty or not self._want_frame.is_set():
            return
        if time.monotonic() - self._last_frame < self.frame_interval:
            return
        self._want_frame.clear()
        self.dirty = False
        self._last_frame = time.monotonic()
        subscription = self._subscriptions
        frame = self.frame()
        if subscription != self._subscriptions:  # a new page subscribed meanwhile: it still needs the data
            self._sent_version = -1
            self.dirty = True
            return
        sink(frame)

    # ----- what the page sees --------------------------------------------------------------

    def _raw(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised inputs back in the data set's own units."""
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return x * self.splits.std.view(shape) + self.splits.mean.view(shape)

    def frame(self) -> dict[str, Any]:
        """Counters, losses on the training and test splits, and the pictures of this moment."""
        s = self.splits
        train = evaluate(self.model, s.x_train[:EVAL_ROWS], s.y_train[:EVAL_ROWS], self.objective)
        # the whole test split, as the exported script and `torchprimer evaluate` measure it (a first 10,000
        # rows of a 16,000-point toy set gave the page other figures than both); once, for the pictures too
        outputs = predict_outputs(self.model, s.x_test)
        test = scores(outputs, s.y_test, self.objective)
        frame: dict[str, Any] = {
            "type": "frame", **self.counters(), "data_version": self.data_version,
            "train": train, "test": test, "grad_norms": views.gradient_norms(self.model),  # of the last step
            # at most a whole epoch: an epoch whose last step diverged keeps its position (a last batch of
            # 4,096 rows of 101 had made it epoch 46.5)
            "point": [self.step_count, self.epoch + min(self.position, len(s.y_train)) / max(1, len(s.y_train)),
                      train["loss"], test["loss"]],
        }
        if self._sent_version != self.data_version:
            frame["data"] = self._data()
            self._sent_version = self.data_version
        if self.is_2d:
            assert self.box is not None
            frame["boundary"] = views.boundary(self.model, self.objective, self.box, s.mean, s.std)
        else:
            predicted = self.objective.predict(outputs)
            probs = self.objective.probabilities(outputs[: views.STRIP])
            frame["confusion"] = views.confusion(s.y_test, predicted, s.num_classes)
            frame["strip"] = {"predicted": predicted[: views.STRIP].tolist(),
                              "confidence": [round(float(p), 3) for p in probs.max(dim=1).values]}
        return frame

    def _data(self) -> dict[str, Any]:
        """What changes only on reset: the data set's description, its points or sample strip."""
        s = self.splits
        data: dict[str, Any] = {"dataset": s.name, "kind": s.kind, "classes": s.classes,
                                "input_shape": list(s.input_shape), "sizes": s.sizes(), "is_2d": self.is_2d,
                                "parameters": count_parameters(self.model),
                                "settings": self.settings.model_dump()}
        if self.is_2d:
            data["points"] = {
                split: [[round(float(a), 4), round(float(b), 4), int(c)]
                        for (a, b), c in zip(self._raw(x[:POINTS_SHOWN]).tolist(), y[:POINTS_SHOWN].tolist(),
                                             strict=True)]
                for split, x, y in (("train", s.x_train, s.y_train), ("test", s.x_test, s.y_test))
            }
        else:
            data["strip"] = views.strip_samples(s.x_test, s.y_test, s.mean, s.std, s.kind)
        return data

    def _save(self) -> Path:
        if self.message:  # NaN weights would be a run that evaluate calls corrupted (before the epoch count:
            # a run that diverged in its first epoch was told to press play or step, which it refuses)
            raise UserError(f"nothing worth saving: {self.message}")
        if self.epoch < 1:
            raise UserError("train at least one full epoch before saving (press play or step)")
        if self.position:
            self._one_epoch()
            if self.message:
                raise UserError(f"nothing worth saving: {self.message}")
            if self.closed:  # closed while finishing the epoch: its weights are of no whole epoch
                raise SessionEnded
            if self.position:  # paused (or reset) while finishing it: nothing saved, the network as it was
                raise UserError("saving stopped: the network was paused before the end of its epoch; "
                                "press save again to finish the epoch and save")
        cfg = self.settings.train_config(epochs=self.epoch)
        run_dir = new_run_dir(self.runs_dir, cfg)
        try:
            write_config(run_dir, cfg, self.splits, "cpu", source="torchprimer ui")
            write_metrics(run_dir, self.history)
            test = evaluate(self.model, self.splits.x_test, self.splits.y_test, self.objective)
            best = min(self.history, key=lambda record: record["val_loss"])  # as `train` reports it
            result = TrainResult(config=cfg, history=list(self.history), test=test, model=self.model,
                                 run_dir=run_dir, best_epoch=int(best["epoch"]), train_seconds=self.train_seconds,
                                 data=self.splits)
            write_outputs(result, self.objective)
        except BaseException:  # a full disk: no half-written run folder for evaluate to stumble on later
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        return run_dir
