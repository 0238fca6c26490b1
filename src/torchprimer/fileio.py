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
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from torchprimer.errors import UserError, clip


def make_dirs(path: str | os.PathLike[str], flag: str | None = None) -> Path:
    """`mkdir -p path`; a path that cannot be a folder (a file is there, no permission) is a user
    error: one line and exit 2, not a traceback. `flag` is the option that names the folder
    (--out), for the advice: its default ("runs") is a path the user never typed."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = _blocker(folder, (folder, *folder.parents))
        reason, reason_zh = ((f"{blocker} is a file, not a folder", f"{blocker} 是一个文件，不是文件夹")
                             if blocker is not None else (exc.strerror or str(exc),) * 2)
        advice, advice_zh = another_path(flag)
        raise UserError(f"cannot make the folder {folder}: {reason}; {advice}",
                        zh=f"无法创建文件夹 {folder}：{reason_zh}；{advice_zh}") from None
    return folder


def another_path(flag: str | None) -> tuple[str, str]:
    """The advice for a place that cannot be written, naming the option that chooses it where there is one."""
    if flag is None:
        return "choose another path", "请换一个路径"
    return f"choose another path with {flag}", f"请用 {flag} 换一个路径"


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
        advice, advice_zh = another_path(flag)
        raise UserError(f"cannot write {target}: {blocker} is a file, not a folder; {advice}",
                        zh=f"无法写入 {target}：{blocker} 是一个文件，不是文件夹；{advice_zh}")
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
    check_can_write(target, flag)
    return target


def check_can_write(path: str | os.PathLike[str], flag: str | None = None) -> None:
    """Refuse, before the work, a file path the atomic write would fail on after it: its folder (or the
    nearest one there to make it in) does not take new files, or a file already there may not be replaced.
    `flag` names the option that chose the path, for the advice."""
    target = Path(path)
    advice, advice_zh = another_path(flag)
    check_writable(target, target.parents, advice, advice_zh)
    check_replaceable(target, advice, advice_zh)


def _suggested(target: Path, suffix: str, example: str) -> Path:
    """`target` with `suffix`; a dot name with no suffix of its own (".png") takes the example's stem
    ("lr_find.png"), where with_suffix made ".png.png"."""
    if target.name.startswith(".") and not target.suffix:
        return target.with_name(Path(example).stem + suffix)
    return target.with_suffix(suffix)


def check_output_folder(path: str | os.PathLike[str], files: Iterable[str] = (), *, flag: str | None = None) -> Path:
    """Refuse, before any work, a folder path that `make_dirs` would refuse after it: one that is a
    file or lies under a file, or one that cannot be written in; and any of the `files` to be
    written in it that is there already and cannot be replaced. Nothing is created here. `flag`
    names the option that chose the folder, for the advice."""
    folder = Path(path)
    advice, advice_zh = another_path(flag)
    blocker = _blocker(folder, (folder, *folder.parents))
    if blocker is not None:
        raise UserError(f"cannot make the folder {folder}: {blocker} is a file, not a folder; {advice}",
                        zh=f"无法创建文件夹 {folder}：{blocker} 是一个文件，不是文件夹；{advice_zh}")
    check_writable(folder, (folder, *folder.parents), advice, advice_zh)
    for name in files:
        check_replaceable(folder / name, advice, advice_zh)
    return folder


def check_writable(target: Path, candidates: Iterable[Path], advice: str, advice_zh: str) -> None:
    """Refuse `target` unless a file can be made in the first of `candidates` that is a folder, ending the
    refusal with `advice`. The test creates and removes a file there: one without write permission,
    on a read-only disk or in /proc is refused now, not after the work whose result it was to hold. Asking
    the system (os.access) is not enough: as root it says yes to all of them."""
    folder = _probe(target, lambda: next((p for p in candidates if p.is_dir()), None))
    if folder is None:
        return
    try:
        fd, probe = tempfile.mkstemp(prefix=".torchprimer-probe-", dir=folder)
    except OSError as exc:
        raise UserError(f"cannot write {target}: a file cannot be made in {folder} ({exc.strerror or exc}); "
                        f"{advice}",
                        zh=f"无法写入 {target}：无法在 {folder} 中创建文件（{exc.strerror or exc}）；"
                           f"{advice_zh}") from None
    os.close(fd)
    os.unlink(probe)


def check_replaceable(path: Path, advice: str, advice_zh: str) -> None:
    """Refuse, before the work, a file already at `path` that the atomic write's rename would not replace,
    or should not: without this, the results were computed and then lost at the rename.

    - In a sticky folder such as /tmp (mode 1777) only the owner of a file (or of the folder) may replace it.
    - A read-only file is kept, as `cp` keeps it: its owner made it so, and the rename would not ask.

    Root may do both, so neither applies to root."""
    if not hasattr(os, "geteuid") or os.geteuid() == 0:
        return
    try:
        mine = path.lstat()
        folder = path.parent.stat()
    except OSError:  # nothing there (or nothing to tell): the write says what goes wrong, if anything
        return
    if stat.S_ISDIR(mine.st_mode):
        return  # a folder in the way: the writers' own checks name it
    me = os.geteuid()
    if folder.st_mode & stat.S_ISVTX and me not in (mine.st_uid, folder.st_uid):
        raise UserError(f"cannot replace {path}: another user owns it, and in {path.parent} (a shared folder, "
                        f"like /tmp) only a file's owner may replace it; {advice}",
                        zh=f"无法替换 {path}：它属于另一个用户，而在 {path.parent}（一个共享文件夹，类似 /tmp）中"
                           f"只有文件的所有者才能替换它；{advice_zh}")
    if not stat.S_ISLNK(mine.st_mode) and not os.access(path, os.W_OK):
        raise UserError(f"cannot replace {path}: it is read-only; make it writable (chmod u+w) or remove it, "
                        f"or {advice}",
                        zh=f"无法替换 {path}：它是只读的；请让它可写（chmod u+w）或删除它，或者{advice_zh}")


T = TypeVar("T")


def _probe(target: Path, question: Callable[[], T]) -> T:
    """`question()` about a path, with the OSErrors that asking raises (a name over 255 bytes) as one line."""
    try:
        return question()
    except OSError as exc:
        raise UserError(f"cannot write {target}: {exc.strerror or exc}; choose another path",
                        zh=f"无法写入 {target}：{exc.strerror or exc}；请换一个路径") from None


def os_refusal(exc: OSError) -> UserError | None:
    """The one line for an OSError that the user's machine, not torchprimer, must fix, None for any other.

    - A path longer than the file system takes (ENAMETOOLONG): pathlib's exists() and is_file() raise it
      rather than answer, wherever a path is first looked at.
    - A file or folder this user may not read or write (EACCES, EPERM), wherever a reader or writer
      without a check of its own meets it: another user's data folder, a file made private.
    - No folder for temporary files at all (tempfile's "No usable temporary directory"), which torch's
      compiler meets when it starts.

    The CLI turns these into one line and exit 2 instead of checking every path in its own place."""
    if exc.errno == errno.ENAMETOOLONG:
        shown = clip(os.fsdecode(exc.filename), 60) if exc.filename is not None else "given"
        return UserError(f"the path {shown} is too long for the file system (most allow 255 bytes a name); "
                         "use a shorter path",
                         zh=f"路径 {shown} 超出了文件系统的长度限制（多数文件系统每一级名字最多 255 字节）；"
                            "请用更短的路径")
    if exc.errno == errno.ENOENT and exc.filename is None and str(exc.strerror).startswith("No usable temporary"):
        return UserError("no folder for temporary files can be written (TMPDIR, /tmp, /var/tmp and the current "
                         "folder were tried); set TMPDIR to a folder you can write in",
                         zh="没有可以写入临时文件的文件夹（已尝试 TMPDIR、/tmp、/var/tmp 和当前文件夹）；"
                            "请把 TMPDIR 设为一个你可以写入的文件夹")
    if exc.errno in (errno.EACCES, errno.EPERM) and exc.filename is not None:
        path, reason = clip(os.fsdecode(exc.filename), 200), exc.strerror or "Permission denied"
        return UserError(f"cannot use {path}: {reason}; check the permissions of it and of the folders above it "
                         "(ls -ld), or use a copy you own",
                         zh=f"无法使用 {path}：{reason}；请检查它及其上级文件夹的权限（ls -ld），"
                            "或者使用一份属于你的副本")
    return None


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
