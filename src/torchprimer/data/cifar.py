"""CIFAR-10 from its python batches, read through torchvision's CIFAR10 class.

Layout (what the official cifar-10-python.tar.gz unpacks to, torchvision's too):
`DATA_DIR/cifar-10-batches-py/` with `data_batch_1` .. `data_batch_5`, `test_batch` and
`batches.meta`.

The batches are Python pickles, and unpickling can run code. torchvision unpickles them;
before it does, every file is scanned opcode by opcode (`pickletools.genops`, which
executes nothing) and refused unless the only callables it names are numpy's array
reconstruction and `_codecs.encode` - all a genuine batch needs. torchvision also checks
each file's MD5 against the official release; that check is switched off here (files a
user or a test wrote are valid too), and shapes, dtypes and labels are checked instead,
one batch at a time, so an error names the bad file.
"""

from __future__ import annotations

import pickletools
from pathlib import Path

import numpy as np
import torch

from torchprimer.data.cache import DownloadUndo, cached, check_data_dir, data_root, fetch_advice
from torchprimer.data.registry import Dataset, LoadOptions
from torchprimer.errors import UserError, clip
from torchprimer.fileio import check_readable

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
META = "batches.meta"
WHERE = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
# The only callables a CIFAR batch pickle needs (numpy 1 and 2 spell the module differently).
SAFE_GLOBALS = frozenset({
    "numpy.core.multiarray _reconstruct", "numpy._core.multiarray _reconstruct",
    "numpy ndarray", "numpy dtype", "_codecs encode",
})
MAX_BATCH_BYTES = 1 << 30


def folder(options: LoadOptions) -> Path:
    return data_root(options) / FOLDER


def available(options: LoadOptions) -> bool:
    return all((folder(options) / f).is_file() for f in (*TRAIN_BATCHES, *TEST_BATCHES, META))


def check_pickle(path: Path) -> None:
    """Refuse a pickle that names any callable beyond SAFE_GLOBALS, without running it."""
    check_readable(path, "CIFAR-10 batch", "CIFAR-10 批次文件")  # unreadable is not damaged: no new download
    size = path.stat().st_size
    if size > MAX_BATCH_BYTES:
        raise UserError(f"{path} is {size} bytes, far more than a CIFAR-10 batch (~31 MB); is it the right file? "
                        f"Get the batches from {WHERE}",
                        zh=f"{path} 有 {size} 字节，远超一个 CIFAR-10 批次文件（约 31 MB）；是不是放错了文件？"
                           f"请从 {WHERE} 获取这些批次文件")
    try:
        for op, arg, _ in pickletools.genops(path.read_bytes()):
            if op.name in ("GLOBAL", "INST") and arg not in SAFE_GLOBALS:
                raise UserError(f"{path} is not a CIFAR-10 python batch: its pickle names {arg!r}, which a batch "
                                f"never does; refusing to unpickle it; get the batches from {WHERE}",
                                zh=f"{path} 不是 CIFAR-10 的 python 批次文件：它的 pickle 引用了 {arg!r}，"
                                   f"真正的批次文件从不这样做；拒绝反序列化它；请从 {WHERE} 获取这些批次文件")
            if op.name in ("STACK_GLOBAL", "EXT1", "EXT2", "EXT4", "PERSID", "BINPERSID"):
                raise UserError(f"{path} is not an official CIFAR-10 python batch (pickle opcode {op.name}); "
                                f"get the batches from {WHERE}",
                                zh=f"{path} 不是官方的 CIFAR-10 python 批次文件（pickle 操作码 {op.name}）；"
                                   f"请从 {WHERE} 获取这些批次文件")
    except UserError:
        raise
    except Exception as exc:  # genops raises ValueError, UnicodeDecodeError, ... on damaged bytes
        raise UserError(f"{path} is not a readable CIFAR-10 python batch ({exc}); "
                        f"get the batches from {WHERE}",
                        zh=f"{path} 不是可读的 CIFAR-10 python 批次文件（{exc}）；"
                           f"请从 {WHERE} 获取这些批次文件") from None


def _one_batch(root: Path, batch: str) -> tuple[np.ndarray, list[int], list[str]]:
    """torchvision's CIFAR10 reading exactly one batch file, with the MD5 check off."""
    from torchvision.datasets import CIFAR10

    class OneBatch(CIFAR10):
        train_list = [[batch, None]]  # noqa: RUF012 - torchvision's own class attributes
        test_list = []  # noqa: RUF012
        meta = {"filename": META, "key": "label_names", "md5": None}  # noqa: RUF012

    path = root / FOLDER / batch
    try:
        ds = OneBatch(str(root), train=True, download=False)
    except Exception as exc:  # the pickle was vetted; what is left is a wrong structure or shape
        raise UserError(f"{path} is not a CIFAR-10 python batch of 3x32x32 images ({exc}); "
                        f"get the batches from {WHERE}",
                        zh=f"{path} 不是由 3x32x32 图像组成的 CIFAR-10 python 批次文件（{exc}）；"
                           f"请从 {WHERE} 获取这些批次文件") from None
    data, labels = ds.data, ds.targets
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.shape[1:] != (32, 32, 3):
        raise UserError(f"{path}: images must be uint8 of 3x32x32, got {getattr(data, 'dtype', type(data))}; "
                        f"get the batches from {WHERE}",
                        zh=f"{path}：图像必须是 3x32x32 的 uint8，这里却是 {getattr(data, 'dtype', type(data))}；"
                           f"请从 {WHERE} 获取这些批次文件")
    if len(labels) != len(data):
        raise UserError(f"{path} has {len(data)} images but {len(labels)} labels; get the batches from {WHERE}",
                        zh=f"{path} 有 {len(data)} 张图像，却有 {len(labels)} 个标签；请从 {WHERE} 获取这些批次文件")
    return data, labels, list(ds.classes)


def _read(options: LoadOptions) -> Dataset:
    root = data_root(options)
    for name in (*TRAIN_BATCHES, *TEST_BATCHES, META):
        check_pickle(root / FOLDER / name)
    parts: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    classes: list[str] = []
    for split, batches in (("train", TRAIN_BATCHES), ("test", TEST_BATCHES)):
        xs, ys = [], []
        for batch in batches:
            data, labels, classes = _one_batch(root, batch)
            try:
                y = torch.tensor([int(v) for v in labels], dtype=torch.long)
            except (TypeError, ValueError):
                raise UserError(f"{root / FOLDER / batch}: labels are not whole numbers; get the batches from {WHERE}",
                                zh=f"{root / FOLDER / batch}：标签不是整数；请从 {WHERE} 获取这些批次文件") from None
            if len(y) and (int(y.min()) < 0 or int(y.max()) > 9):
                bad = int(y.min()) if int(y.min()) < 0 else int(y.max())  # the label that is out, either end
                raise UserError(f"{root / FOLDER / batch}: label {bad} is outside 0..9; get the batches from {WHERE}",
                                zh=f"{root / FOLDER / batch}：标签 {bad} 不在 0..9 之内；请从 {WHERE} 获取这些批次文件")
            xs.append(torch.from_numpy(np.ascontiguousarray(data)).permute(0, 3, 1, 2))
            ys.append(y)
        parts[split] = (torch.cat(xs).contiguous(), torch.cat(ys))
    if len(classes) != 10 or not all(isinstance(c, str) for c in classes):
        raise UserError(f"{root / FOLDER / META} must list 10 class names under 'label_names'; get the batches "
                        f"from {WHERE}",
                        zh=f"{root / FOLDER / META} 必须在 'label_names' 下列出 10 个类别名；"
                           f"请从 {WHERE} 获取这些批次文件")
    (x, y), (x_test, y_test) = parts["train"], parts["test"]
    return Dataset(
        name="cifar10", x=x, y=y, x_test=x_test, y_test=y_test, classes=classes,
        source=f"CIFAR-10 python batches in {root / FOLDER}, read by torchvision.datasets.CIFAR10",
        kind="image", flip_invariant=True,
    )


def _download(options: LoadOptions) -> None:
    from torchvision.datasets import CIFAR10

    root = data_root(options)
    undo = DownloadUndo(root, (FOLDER,))  # torchvision writes DATA_DIR/cifar-10-python.tar.gz and unpacks it there
    try:
        with undo:  # a failed or interrupted download leaves nothing of its own behind
            CIFAR10(str(root), train=True, download=True)
    except Exception as exc:
        raise UserError(f"could not download CIFAR-10 into {root} ({clip(str(exc), 200)}){undo.note()}; check "
                        f"the internet connection, or unpack {WHERE} into DATA_DIR yourself",
                        zh=f"无法把 CIFAR-10 下载到 {root}（{clip(str(exc), 200)}）{undo.note('zh')}；请检查网络连接，"
                           f"或者自己把 {WHERE} 解压到 DATA_DIR") from None


def load(options: LoadOptions) -> Dataset:
    """CIFAR-10 with its official 50k/10k split, uint8 (N, 3, 32, 32)."""
    if options.download:
        _download(options)
    check_data_dir(options, f"{FOLDER}/")
    base = folder(options)
    files = [base / f for f in (*TRAIN_BATCHES, *TEST_BATCHES, META)]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise UserError(f"cifar10: missing {', '.join(missing)} in {base}; "
                        + fetch_advice("cifar10", f"{WHERE} (unpacked)", f"{FOLDER}/"),
                        zh=f"cifar10：{base} 中缺少 {', '.join(missing)}；"
                           + fetch_advice("cifar10", f"{WHERE}（解压后）", f"{FOLDER}/", "zh"))
    return cached(options, "cifar10", {"loader": "cifar-python"}, files, lambda: _read(options))
