"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every file torchprimer writes goes through here, so a Ctrl-C, a crash or a SIGKILL in
the middle of a write cannot leave a truncated checkpoint, weights file or CSV behind.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from torchprimer.errors import UserError, clip


def make_dirs(path: str | os.PathLike[str]) -> Path:
    """`mkdir -p path`; a path that cannot be a folder (a file is there, no permission) is a user
    error: one line and exit 2, not a traceback."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = _blocker(folder, (folder, *folder.parents))
        reason, reason_zh = ((f"{blocker} is a file, not a folder", f"{blocker} 是一个文件，不是文件夹")
                             if blocker is not None else (exc.strerror or str(exc),) * 2)
        raise UserError(f"cannot make the folder {folder}: {reason}; choose another path",
                        zh=f"无法创建文件夹 {folder}：{reason_zh}；请换一个路径") from None
    return folder


# What a writer meets when the disk, not the data, is at fault: one line, the target named
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync it and rename it into place."""
    target = Path(path)
    make_dirs(target.parent)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise UserError(f"cannot write in {target.parent}: {exc.strerror or exc}; choose another path",
                        zh=f"无法在 {target.parent} 中写入：{exc.strerror or exc}；请换一个路径") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            yield tmp
        except OSError as exc:  # the writer's own write failing: a full disk, a quota; nothing is replaced
            if exc.errno not in WRITE_ERRNOS:
                raise
            raise UserError(f"cannot write {target}: {exc.strerror or exc}; free some space or choose "
                            "another path",
                            zh=f"无法写入 {target}：{exc.strerror or exc}；请腾出一些空间，或者换一个路径") from None
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        try:
            os.replace(tmp, target)
        except OSError as exc:  # e.g. a folder of that name is in the way
            raise UserError(f"cannot write {target}: {exc.strerror or exc}; choose another path",
                            zh=f"无法写入 {target}：{exc.strerror or exc}；请换一个路径") from None
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike[str], writer: Callable[[Path], Any]) -> Path:
    """Call `writer(tmp_path)` and move the result to `path` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike[str], busy: str, busy_zh: str | None = None) -> Iterator[None]:
    """Hold an exclusive lock on `folder` for the block; a process asking for it meanwhile gets UserError(busy),
    with `busy_zh` as its Chinese for a command that speaks Chinese.

    The lock is flock(2) on the folder itself, so nothing is added to it, and the system drops it when its
    holder ends, killed or not: a crash leaves no stale lock to clear by hand. Where flock is missing
    (Windows), the block runs unlocked."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(busy, zh=busy_zh) from None
        yield
    finally:
        os.close(fd)  # which releases the lock


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, then stop as they would have: for files that must
    change together (a run's weights and the summary that describes them), each written atomically.

    The handlers are swapped rather than the signals blocked: a blocked signal may still reach one of
    torch's threads, and Python runs its handler in the main thread all the same."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    caught: list[int] = []
    kinds = [kind for kind in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(kind) is not None]  # None: set in C
    previous = {kind: signal.signal(kind, lambda signum, frame: caught.append(signum)) for kind in kinds}
    try:
        yield
    finally:
        for kind, handler in previous.items():
            signal.signal(kind, handler)
        if caught:  # now as it would have been handled: KeyboardInterrupt, or the end of the process
            signal.raise_signal(caught[0])


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def check_readable(path: str | os.PathLike[str], what: str, what_zh: str | None = None) -> None:
    """One clear UserError when `path` cannot be opened for reading (permissions, a folder in its place):
    read errors otherwise surface as tracebacks, or as "corrupt" where the file is fine. `what` names the
    file ("checkpoint"); `what_zh` is its Chinese name (检查点), for a command that speaks Chinese."""
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        what_zh = what if what_zh is None else what_zh
        raise UserError(f"cannot read the {what} {path}: {exc.strerror or exc}; check its permissions",
                        zh=f"{what_zh} {path} 无法读取：{exc.strerror or exc}；请检查它的权限") from None


def check_output_file(path: str | os.PathLike[str], flag: str, suffixes: tuple[str, ...], example: str) -> Path:
    """Refuse, before any work, an output file path that cannot be what it will hold: an empty name, a
    folder, or a name whose suffix says another format (`--plot notes.txt` would get PNG bytes).
    `suffixes` are lower-case, e.g. (".png",); `example` is a good name to suggest, e.g. "lr_find.png"."""
    target = Path(path)
    if not str(path).strip():  # a Path('') would be '.', the current folder: the CLI's parser refuses it sooner
        raise UserError(f"{flag} names no file (it is empty); give a file name, e.g. {flag} {example}",
                        zh=f"{flag} 没有给出文件名（它是空的）；请给出一个文件名，例如 {flag} {example}")
    if _probe(target, target.is_dir):  # the atomic writer's wording, but now, not after the work
        raise UserError(f"cannot write {target}: Is a directory; choose another path, e.g. {target / example}",
                        zh=f"无法写入 {target}：这是一个文件夹；请换一个路径，例如 {target / example}")
    blocker = _blocker(target, target.parents)
    if blocker is not None:
        raise UserError(f"cannot write {target}: {blocker} is a file, not a folder; choose another path",
                        zh=f"无法写入 {target}：{blocker} 是一个文件，不是文件夹；请换一个路径")
    if target.suffix.lower() not in suffixes:
        if len(suffixes) == 1:
            what = f"is written as a {suffixes[0][1:].upper()} file, so its name must end in {suffixes[0]}"
            what_zh = f"以 {suffixes[0][1:].upper()} 格式写入，所以文件名必须以 {suffixes[0]} 结尾"
        else:
            what = f"takes its format from its name, which must end in {', '.join(suffixes[:-1])} or {suffixes[-1]}"
            what_zh = f"的格式由文件名决定，文件名必须以 {', '.join(suffixes[:-1])} 或 {suffixes[-1]} 结尾"
        suggested = _suggested(target, suffixes[0], example)
        raise UserError(f"{flag} {target}: the file {what} (any case), e.g. {flag} {suggested}",
                        zh=f"{flag} {target}：该文件{what_zh}（不区分大小写），例如 {flag} {suggested}")
    _check_writable(target, target.parents)
    return target


def _suggested(target: Path, suffix: str, example: str) -> Path:
    """`target` with `suffix`; a dot name with no suffix of its own (".png") takes the example's stem
    ("lr_find.png"), where with_suffix made ".png.png"."""
    if target.name.startswith(".") and not target.suffix:
        return target.with_name(Path(example).stem + suffix)
    return target.with_suffix(suffix)


def check_output_folder(path: str | os.PathLike[str]) -> Path:
    """Refuse, before any work, a folder path that `make_dirs` would refuse after it: one that is a
    file or lies under a file. Nothing is created here."""
    folder = Path(path)
    blocker = _blocker(folder, (folder, *folder.parents))
    if blocker is not None:
        raise UserError(f"cannot make the folder {folder}: {blocker} is a file, not a folder; choose another path",
                        zh=f"无法创建文件夹 {folder}：{blocker} 是一个文件，不是文件夹；请换一个路径")
    _check_writable(folder, (folder, *folder.parents))
    return folder


def _check_writable(target: Path, candidates: Iterable[Path]) -> None:
    """Create and remove a file in the first of `candidates` that is a folder: one without write permission,
    on a read-only disk or in /proc is refused now, not after the work whose result it was to hold. Asking
    the system (os.access) is not enough: as root it says yes to all of them."""
    folder = _probe(target, lambda: next((p for p in candidates if p.is_dir()), None))
    if folder is None:
        return
    try:
        fd, probe = tempfile.mkstemp(prefix=".torchprimer-probe-", dir=folder)
    except OSError as exc:
        raise UserError(f"cannot write {target}: a file cannot be made in {folder} ({exc.strerror or exc}); "
                        "choose another path",
                        zh=f"无法写入 {target}：无法在 {folder} 中创建文件（{exc.strerror or exc}）；"
                           "请换一个路径") from None
    os.close(fd)
    os.unlink(probe)


T = TypeVar("T")


def _probe(target: Path, question: Callable[[], T]) -> T:
    """`question()` about a path, with the OSErrors that asking raises (a name over 255 bytes) as one line."""
    try:
        return question()
    except OSError as exc:
        raise UserError(f"cannot write {target}: {exc.strerror or exc}; choose another path",
                        zh=f"无法写入 {target}：{exc.strerror or exc}；请换一个路径") from None


def too_long(exc: OSError) -> UserError | None:
    """The refusal for a path longer than the file system takes (ENAMETOOLONG), None for any other error.
    pathlib's exists() and is_file() raise it rather than answer, wherever a path is first looked at, so
    the CLI turns it into this one line instead of checking every path option in its own place."""
    if exc.errno != errno.ENAMETOOLONG:
        return None
    path = clip(str(exc.filename), 60) if exc.filename is not None else "given"
    return UserError(f"the path {path} is too long for the file system (most allow 255 bytes a name); "
                     "use a shorter path",
                     zh=f"路径 {path} 超出了文件系统的长度限制（多数文件系统每一级名字最多 255 字节）；请用更短的路径")


def _blocker(target: Path, candidates: Iterable[Path]) -> Path | None:
    """The first of `candidates` (the path and/or its parents) that exists and is a file, not a folder."""
    return _probe(target, lambda: next((p for p in candidates if p.exists() and not p.is_dir()), None))


def strict_json(obj: Any, *, as_text: bool = False) -> Any:
    """`obj` with every NaN and infinity as None: strict JSON has no literal for them (Python's `NaN`
    makes JavaScript's JSON.parse, jq and most other readers fail), and null says "no number".
    `as_text` writes them as "nan", "inf" or "-inf" instead, which float() reads back (the CLI's --json)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj) if as_text else None
    if isinstance(obj, dict):
        return {k: strict_json(v, as_text=as_text) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v, as_text=as_text) for v in obj]
    return obj


def write_strict_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """`write_json` for results that may hold NaN or infinity (a diverged run): those become null."""
    return write_text(path, json.dumps(strict_json(obj), indent=2, default=str, allow_nan=False) + "\n")
