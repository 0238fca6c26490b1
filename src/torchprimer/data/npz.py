"""`npz:PATH`: a NumPy .npz archive (as written by `numpy.savez` or `savez_compressed`).

Layout:
  x        features, (N, F) for a table, (N, C, L) for signals, (N, C, H, W) for images;
           any numeric dtype (uint8 is kept as bytes and scaled to [0, 1] like images,
           everything else becomes float32 and must be finite)
  y        labels, (N,), whole numbers
  x_test   optional: an official test split, same layout as x
  y_test   optional: its labels (needed when x_test is given)
  classes  optional: class names, a string array; labels are then indices into it

Read with `allow_pickle=False`: an archive holding Python objects is refused, never
unpickled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from torchprimer.data.arrays import KINDS, check_features, check_labels, encode_labels
from torchprimer.data.cache import cached, path_slug
from torchprimer.data.registry import Dataset, LoadOptions
from torchprimer.data.splits import to_float
from torchprimer.errors import UserError

KEYS = ("x", "y", "x_test", "y_test", "classes")


def holds_test_split(path: str | Path) -> bool:
    """Whether the archive has its own x_test (read from its list of names, not its arrays);
    an unreadable file says no here and gets its clear error when it is loaded."""
    try:
        with np.load(Path(path).expanduser(), allow_pickle=False) as archive:
            return "x_test" in archive.files
    except Exception:  # any damage is reported by read_arrays, with its reason
        return False


def read_arrays(path: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    """The archive's arrays that torchprimer reads, by name, and the names of all it holds (for an
    error that shows what to rename); any damage is one UserError that names the file."""
    try:
        with open(path, "rb") as fh:
            start = fh.read(6)
    except OSError as exc:
        raise UserError(f"npz: cannot read {path}: {exc.strerror or exc}; check that it is a file you may read "
                        f"(ls -l {path})",
                        zh=f"npz: 无法读取 {path}：{exc.strerror or exc}；请检查它是不是一个你可以读取的文件"
                           f"（ls -l {path}）") from None
    if not start.startswith((b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")):
        # numpy would take any other file for a pickle and suggest allow_pickle=True: never for data
        raise UserError(f"npz: {path} is not an .npz archive (no zip header); write it with "
                        "numpy.savez(path, x=x, y=y)",
                        zh=f"npz: {path} 不是 .npz 归档文件（没有 zip 文件头）；"
                           "请用 numpy.savez(path, x=x, y=y) 写出它")
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise UserError(f"npz: {path} is a single .npy array, not an archive; save x and y with "
                            f"numpy.savez(path, x=x, y=y)",
                            zh=f"npz: {path} 是单个 .npy 数组，不是归档文件；请用 numpy.savez(path, x=x, y=y) "
                               f"把 x 和 y 一起保存")
        with archive:
            return {k: archive[k] for k in archive.files if k in KEYS}, sorted(archive.files)
    except UserError:
        raise
    except Exception as exc:  # numpy, zipfile and zlib raise many types on damaged archives
        raise UserError(f"npz: {path} is not a readable .npz archive ({type(exc).__name__}: {exc}); "
                        f"write it with numpy.savez(path, x=x, y=y)",
                        zh=f"npz: {path} 不是可读的 .npz 归档文件（{type(exc).__name__}: {exc}）；"
                           f"请用 numpy.savez(path, x=x, y=y) 重新写出它") from None


def _read(path: Path) -> Dataset:
    arrays, names = read_arrays(path)
    where = f"npz: {path}"
    for key in ("x", "y"):
        if key not in arrays:
            held = ", ".join(repr(n) for n in names) or "no arrays"
            held_zh = f"其中有 {'、'.join(repr(n) for n in names)}" if names else "其中没有任何数组"
            raise UserError(f"{where} has no array {key!r} (it holds {held}); "
                            f"save with numpy.savez(path, x=features, y=labels)",
                            zh=f"{where} 中没有名为 {key!r} 的数组（{held_zh}）；"
                               f"请用 numpy.savez(path, x=features, y=labels) 保存")
    x = check_features(arrays["x"], f"{where} x")
    y = check_labels(arrays["y"], f"{where} y")
    if len(y) != len(x):
        raise UserError(f"{where}: x has {len(x)} samples but y has {len(y)} labels; give one label per sample",
                        zh=f"{where}：x 有 {len(x)} 个样本，但 y 有 {len(y)} 个标签；请为每个样本给出一个标签")
    x_test = y_test = None
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise UserError(f"{where}: give both x_test and y_test, or neither",
                        zh=f"{where}：请同时给出 x_test 和 y_test，或者两者都不给")
    if "x_test" in arrays:
        x_test = check_features(arrays["x_test"], f"{where} x_test")
        y_test = check_labels(arrays["y_test"], f"{where} y_test")
        if x_test.shape[1:] != x.shape[1:]:
            raise UserError(f"{where}: x_test samples are {tuple(x_test.shape[1:])} but x samples "
                            f"{tuple(x.shape[1:])}; save x_test with the sample shape of x",
                            zh=f"{where}：x_test 的样本形状是 {tuple(x_test.shape[1:])}，而 x 的样本形状是 "
                               f"{tuple(x.shape[1:])}；请按 x 的样本形状保存 x_test")
        if len(y_test) != len(x_test):
            raise UserError(f"{where}: x_test has {len(x_test)} samples but y_test has {len(y_test)} labels; "
                            "give one label per test sample",
                            zh=f"{where}：x_test 有 {len(x_test)} 个样本，但 y_test 有 {len(y_test)} 个标签；"
                               "请为每个测试样本给出一个标签")
    if "classes" in arrays:
        if arrays["classes"].dtype.kind not in "US" or arrays["classes"].ndim != 1:
            raise UserError(f"{where}: 'classes' must be a 1-D array of strings",
                            zh=f"{where}：'classes' 必须是由字符串组成的 1 维数组")
        # bytes (numpy's S dtype) are names too: b"cat" is shown as cat, not as "b'cat'"
        class_names = [c.decode("utf-8", errors="replace") if isinstance(c, bytes) else str(c)
                       for c in arrays["classes"].tolist()]
    else:
        class_names = None
    y_t, y_test_t, classes = encode_labels(y, y_test, class_names, where)
    if x_test is not None and x_test.dtype != x.dtype:
        # one dtype for both splits, bytes only when both are bytes; a bytes split is scaled to
        # [0, 1] as bytes always are (to_float), else it would sit 255 times off the other
        x_test, x = to_float(x_test), to_float(x)
    return Dataset(
        name=f"npz:{path}", x=x, y=y_t, x_test=x_test, y_test=y_test_t, classes=classes,
        source=f"NumPy archive {path}", kind=KINDS[x.ndim], flip_invariant=False,
    )


def load(options: LoadOptions) -> Dataset:
    path = Path(str(options.extra["path"])).expanduser()
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        what_zh = "是文件夹，不是文件" if path.is_dir() else "不存在"
        raise UserError(f"npz: {path} {what}; pass npz:PATH to a .npz written by numpy.savez(path, x=x, y=y)",
                        zh=f"npz: {path} {what_zh}；请用 npz:PATH 指向由 numpy.savez(path, x=x, y=y) 写出的 .npz 文件")
    return cached(options, path_slug("npz", path), {"loader": "npz"}, [path], lambda: _read(path))
