"""A processed-tensor cache, so raw files are parsed once and every later load is fast.

One file per data set under the cache folder (`LoadOptions.cache_dir`, else
$TORCHPRIMER_CACHE, else ~/.cache/torchprimer). Its name carries a hash of what the
tensors were made from: the loader's own settings plus each source file's name, size and
modification time, so changing, replacing or touching a source file makes a new entry.

The entry is written only after the loader has checked the raw files completely, and
atomically, so a bad or half-read source never leaves anything behind. It is read back
with `torch.load(weights_only=True)`, which refuses anything but tensors and plain
containers; an entry that fails to read is ignored and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import torch

from torchprimer.data.registry import Dataset, LoadOptions
from torchprimer.errors import UserError, clip
from torchprimer.fileio import write_atomic

# Bump when the layout of the stored tensors changes, so old entries are never misread.
CACHE_FORMAT = 1


def cache_root(options: LoadOptions | None = None) -> Path:
    """Where processed tensors go: the option, then $TORCHPRIMER_CACHE, then ~/.cache/torchprimer."""
    if options is not None and options.cache_dir is not None:
        return Path(options.cache_dir).expanduser()
    env = os.environ.get("TORCHPRIMER_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "torchprimer"


def data_root(options: LoadOptions) -> Path:
    """Where downloadable sets live: --data-dir, else a folder inside the cache, so a set
    fetched once with --download is found again without flags."""
    if options.data_dir is not None:
        return Path(options.data_dir).expanduser()
    return cache_root(options) / "datasets"


def check_data_dir(options: LoadOptions, holds: str, otherwise: str = "add --download",
                   otherwise_zh: str | None = None) -> None:
    """A --data-dir that is missing, a file, or a name the system refuses (over 255 bytes) is named as
    what it is, with the folder it should be; `otherwise` is the command's other way to get the data
    (`otherwise_zh` in Chinese, for the commands that speak it; the default's is built in)."""
    if options.data_dir is None:
        return
    if otherwise_zh is None:
        otherwise_zh = "加上 --download" if otherwise == "add --download" else otherwise
    path = Path(options.data_dir).expanduser()
    try:
        problem, problem_zh = (("does not exist", "不存在") if not path.exists() else (None, None) if path.is_dir()
                               else ("is a file", "是一个文件，不是文件夹"))
    except OSError as exc:
        problem = f"cannot be used ({exc.strerror or exc})"
        problem_zh = f"无法使用（{exc.strerror or exc}）"
    if problem is not None:
        raise UserError(f"--data-dir {options.data_dir} {problem}; pass the folder that holds {holds} "
                        f"(torchvision's layout), or {otherwise}",
                        zh=f"--data-dir {options.data_dir} {problem_zh}；请传入含有 {holds} 的文件夹"
                           f"（torchvision 的布局），或者{otherwise_zh}")


def fetch_advice(name: str, where: str, layout: str, lang: str = "en") -> str:
    """How to get a downloadable set's files, for every command: train, compare and data take
    --data-dir/--download; the others (lr-find, gradcheck, graph, activations) read the default folder.
    In English or Chinese (`lang`), for the commands that speak it."""
    if lang == "zh":
        return (f"请把 {where} 的文件放进 DATA_DIR/{layout} 并传入 --data-dir DATA_DIR，或者加上 --download"
                f"（命令没有这些选项时，用 `torchprimer data stats {name} --download` 先把它们下载到 "
                f"{data_root(LoadOptions())}）")
    return (f"put the files from {where} in DATA_DIR/{layout} and pass --data-dir DATA_DIR, or add --download "
            f"(where a command has no such options, fetch them once into {data_root(LoadOptions())} with "
            f"`torchprimer data stats {name} --download`)")


def fingerprint(files: Sequence[Path]) -> list[list[Any]]:
    """Name, size and mtime (ns) of each source file: cheap to take, and any edit changes it."""
    rows = []
    for f in files:
        st = Path(f).stat()
        rows.append([str(Path(f).resolve()), st.st_size, st.st_mtime_ns])
    return rows


def cache_key(slug: str, identity: dict[str, Any], files: Sequence[Path]) -> str:
    blob = json.dumps(
        {"format": CACHE_FORMAT, "slug": slug, "identity": identity, "files": fingerprint(files)},
        sort_keys=True, default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _payload(ds: Dataset) -> dict[str, Any]:
    return {
        "format": CACHE_FORMAT, "name": ds.name, "x": ds.x.contiguous(), "y": ds.y.contiguous(),
        "x_test": None if ds.x_test is None else ds.x_test.contiguous(),
        "y_test": None if ds.y_test is None else ds.y_test.contiguous(),
        "classes": list(ds.classes), "source": ds.source, "kind": ds.kind,
        "flip_invariant": bool(ds.flip_invariant),
    }


def _from_payload(p: dict[str, Any]) -> Dataset:
    if p.get("format") != CACHE_FORMAT or not isinstance(p.get("x"), torch.Tensor):
        raise ValueError("not a torchprimer cache entry of this format")
    return Dataset(
        name=p["name"], x=p["x"], y=p["y"], classes=list(p["classes"]), x_test=p["x_test"], y_test=p["y_test"],
        source=p["source"], kind=p["kind"], flip_invariant=bool(p["flip_invariant"]), from_cache=True,
    )


def cached(
    options: LoadOptions,
    slug: str,
    identity: dict[str, Any],
    files: Sequence[Path],
    build: Callable[[], Dataset],
) -> Dataset:
    """Return the cached tensors for (slug, identity, files), or `build()` them and store them.

    `build` must raise UserError on any bad input; nothing is stored then. `slug` names the
    source (one live entry per slug: a rebuilt entry replaces the stale ones).
    """
    root = cache_root(options)
    path = root / f"{slug}-{cache_key(slug, identity, files)}.pt"
    if path.is_file():
        try:
            return _from_payload(torch.load(path, map_location="cpu", weights_only=True))
        except Exception:  # a damaged or foreign entry is only a cache miss: rebuild it
            pass
    before = fingerprint(files)
    dataset = build()
    if fingerprint(files) != before:  # the files changed while we read them: do not cache a mix
        return dataset
    try:
        payload = _payload(dataset)
        write_atomic(path, lambda tmp: torch.save(payload, tmp))
        for stale in root.glob(f"{slug}-*.pt"):
            if stale != path:
                stale.unlink(missing_ok=True)
    except (OSError, UserError) as exc:  # a read-only home must not stop the data from loading (write_atomic
        # turns a folder it cannot write in into a UserError)
        reason = exc.strerror if isinstance(exc, OSError) else str(exc).partition("; ")[0]
        warnings.warn(f"could not write the data cache {path} ({reason}); the data loaded all the same: "
                      "set TORCHPRIMER_CACHE to a writable folder to cache it", stacklevel=2)
    return dataset


def path_slug(kind: str, path: Path) -> str:
    """A cache name for a path-based source: its kind plus a short hash of the absolute path."""
    digest = hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:12]
    return f"{kind}-{digest}"


class DownloadUndo:
    """`with DownloadUndo(root, inside):` around a torchvision download into `root`: if it fails or is
    interrupted (Ctrl-C too; the exception goes on), what it created is removed, and only that.

    torchvision downloads straight into the data folder: it makes `root` (and any missing parents)
    and the set's own folders, and writes each file in place, so a failure leaves empty folders, a
    half-written archive or part of an unpacked set, which a later run would find. Before the
    download this notes the folders of `root`'s path that are missing, the entries at the top of
    `root`, and everything under the folders `inside` (names relative to `root`: where torchvision
    writes besides the top). Afterwards, anything there that was not there before is deleted
    (files, then the folders they leave empty) and so are the folders it made; nothing that existed
    before is touched. `rewritten` then lists the files that existed before and that torchvision
    changed all the same (it rewrites in place a file whose checksum is not the official one).
    """

    def __init__(self, root: Path, inside: Sequence[str]) -> None:
        self.root = root
        self.inside = [root / name for name in inside]
        self.made: list[Path] = []  # root and missing parents, deepest first
        self.before: dict[Path, tuple[int, int, int] | None] = {}
        self.rewritten: list[Path] = []

    def __enter__(self) -> DownloadUndo:
        folder = self.root
        while not os.path.lexists(folder) and folder != folder.parent:
            self.made.append(folder)
            folder = folder.parent
        self.before = {path: _stamp(path) for path in self._watched()}
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is not None:
            self.undo()

    def _watched(self) -> Iterator[Path]:
        yield from _entries(self.root)
        for folder in self.inside:
            yield from _tree(folder)

    def undo(self) -> None:
        """Remove what is new since __enter__ (a path that cannot be removed is left, silently)."""
        new_at_top = [path for path in _entries(self.root) if path not in self.before]
        for top in (*self.inside, *new_at_top):
            # children before their folder; a new link is removed, never what it points to
            for path in reversed(list(_tree(top, follow=top in self.before))):
                if path not in self.before:
                    _remove(path)
        for folder in self.made:  # deepest first; each only when empty (what someone else put there stays)
            try:
                folder.rmdir()
            except FileNotFoundError:  # torchvision stopped before making it
                continue
            except OSError:
                break
        self.rewritten = [path for path, stamp in self.before.items()
                          if stamp is not None and _stamp(path) not in (stamp, None)]

    def note(self, lang: str = "en") -> str:
        """For the error message: the files that existed before and were rewritten, if any (in English,
        or in Chinese with `lang` "zh")."""
        if not self.rewritten:
            return ""
        names = ", ".join(str(path) for path in sorted(self.rewritten))
        if lang == "zh":
            return f"；它已经改写了 {clip(names, 300)}，这些文件在下载前就已存在（保留为现在的样子）"
        return f"; it had already rewritten {clip(names, 300)}, which existed before (kept as they are now)"


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """A file's identity, size and mtime (to see it rewritten); None for a folder or a missing path."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return None if os.path.isdir(path) and not os.path.islink(path) else (st.st_ino, st.st_size, st.st_mtime_ns)


def _entries(folder: Path) -> list[Path]:
    """The entries directly in `folder` ([] where it is no folder)."""
    try:
        with os.scandir(folder) as it:
            return [folder / entry.name for entry in it]
    except OSError:
        return []


def _tree(top: Path, follow: bool = True) -> Iterator[Path]:
    """`top` and, when it is a folder, everything under it, each folder before its contents. A link to
    a folder inside is listed, not followed; `top` itself, when a link, is followed only if `follow`."""
    if not os.path.lexists(top):
        return
    yield top
    if not top.is_dir() or (top.is_symlink() and not follow):
        return
    for dirpath, dirnames, filenames in os.walk(top):
        for name in (*dirnames, *filenames):
            yield Path(dirpath) / name


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            path.rmdir()  # its new contents went first; one that is not empty holds something old
        else:
            path.unlink()
    except OSError:
        pass
