"""MNIST, Fashion-MNIST and KMNIST: IDX files read through torchvision's dataset classes.

The files live in torchvision's layout, `DATA_DIR/<Folder>/raw/`, gzipped or not:
`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
`t10k-labels-idx1-ubyte` (each optionally with `.gz`). torchvision reads only the
uncompressed files, so a `.gz` without its uncompressed twin (or newer than it) is
unpacked beside it first, as torchvision's own download does.

torchvision's IDX reader checks the header with `assert` and fails on short files with
whatever numpy or torch says; every file is therefore checked here first (magic number,
dimensions, exact length), so a bad file gets one line that names it and says what to do.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch

from torchprimer.data.cache import DownloadUndo, cached, check_data_dir, data_root, fetch_advice
from torchprimer.data.registry import Dataset, LoadOptions
from torchprimer.errors import UserError, clip
from torchprimer.fileio import write_atomic


class Family(NamedTuple):
    folder: str  # torchvision's class name, which is also its folder under DATA_DIR
    title: str
    classes: tuple[str, ...]
    flip_invariant: bool
    where: str  # where a person can get the files by hand


FAMILIES: dict[str, Family] = {
    "mnist": Family("MNIST", "MNIST handwritten digits", tuple(str(d) for d in range(10)), False,
                    "https://ossci-datasets.s3.amazonaws.com/mnist/"),
    "fashion-mnist": Family("FashionMNIST", "Fashion-MNIST clothing images",
                            ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                             "Bag", "Ankle boot"), True,
                            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
    "kmnist": Family("KMNIST", "Kuzushiji-MNIST cursive Japanese characters",
                     ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"), False,
                     "http://codh.rois.ac.jp/kmnist/dataset/kmnist/"),
}

# (split, images file, labels file), as torchvision names them.
FILES = (
    ("train", "train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    ("test", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
)
MAX_HEADER = 4 + 4 * 3
# The advice for a damaged file (bench swaps in its own). Deleted first: torchvision's download skips a set
# whose four files are all there, damaged or not, and then fails reading the damaged one.
# graph, gradcheck and activations have no --download: they are told the command that fetches the files.
REFETCH = ("delete it, then download it again: add --download (where a command has none, "
           "'torchprimer data stats DATASET --download')")
REFETCH_ZH = ("请先删除它，再重新下载：加上 --download（命令没有这个选项时，用 "
              "'torchprimer data stats DATASET --download'）")


def describe(name: str) -> str:
    fam = FAMILIES[name]
    return f"{fam.title}: IDX files in DIR/{fam.folder}/raw/, read by torchvision"


def raw_folder(name: str, options: LoadOptions) -> Path:
    return data_root(options) / FAMILIES[name].folder / "raw"


def missing_files(raw: Path) -> list[str]:
    """The IDX files of FILES that `raw` holds neither plain nor gzipped, in FILES' order."""
    return [f for _, *pair in FILES for f in pair if not (raw / f).is_file() and not (raw / f"{f}.gz").is_file()]


def availability(name: str) -> Callable[[LoadOptions], bool]:
    def available(options: LoadOptions) -> bool:
        return not missing_files(raw_folder(name, options))

    return available


def loader(name: str) -> Callable[[LoadOptions], Dataset]:
    def load_family(options: LoadOptions) -> Dataset:
        return load(name, options)

    load_family.__doc__ = f"Load {name} from its IDX files (see the module docstring)."
    return load_family


def check_idx(head: bytes, size: int, ndim: int, where: str) -> tuple[int, ...]:
    """Check an IDX header (magic 0x0000 08 ndim, big-endian dims) against the file's size.

    `head` is at least the first 4 + 4*ndim bytes when the file has them; `size` is the
    whole file's length. Returns the dimensions.
    """
    what, what_zh = ("images", "图像") if ndim == 3 else ("labels", "标签")
    fix, fix_zh = REFETCH, REFETCH_ZH
    if len(head) < 4:
        raise UserError(f"{where} is truncated ({size} bytes, not even an IDX header); {fix}",
                        zh=f"{where} 不完整（只有 {size} 字节，连 IDX 文件头都不够）；{fix_zh}")
    if head[:4] != bytes((0, 0, 0x08, ndim)):
        raise UserError(
            f"{where} has the wrong magic number 0x{head[:4].hex()} (expected 0x000008{ndim:02x}, "
            f"unsigned-byte {what} with {ndim} dimension{'s' if ndim > 1 else ''}); is it the right file? {fix}",
            zh=f"{where} 的魔数 0x{head[:4].hex()} 不对（应为 0x000008{ndim:02x}，即 {ndim} 维的无符号字节"
               f"{what_zh}）；是不是放错了文件？{fix_zh}",
        )
    header = 4 + 4 * ndim
    if len(head) < header:
        raise UserError(f"{where} is truncated inside its header ({size} bytes); {fix}",
                        zh=f"{where} 不完整，文件头就断了（{size} 字节）；{fix_zh}")
    dims = struct.unpack(f">{ndim}I", head[4:header])
    expected = header + math.prod(dims)
    if any(d == 0 for d in dims):
        raise UserError(f"{where} holds no data (dimensions {dims}); {fix}",
                        zh=f"{where} 不含任何数据（维度为 {dims}）；{fix_zh}")
    if size < expected:
        raise UserError(f"{where} is truncated: {size} bytes, but its header promises {expected} {dims}; {fix}",
                        zh=f"{where} 不完整：只有 {size} 字节，但它的文件头 {dims} 表明应有 {expected} 字节；{fix_zh}")
    if size > expected:
        raise UserError(f"{where} has {size - expected} bytes after the {dims} data its header describes; {fix}",
                        zh=f"{where} 在文件头所描述的 {dims} 数据之后还多出 {size - expected} 字节；{fix_zh}")
    return dims


def _unpack_gz(gz: Path, plain: Path, ndim: int) -> None:
    """Decompress `gz` to `plain` (atomically), checking the result before it is written."""
    try:
        data = gzip.decompress(gz.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:
        raise UserError(f"{gz} is not a readable gzip file ({exc}); {REFETCH}",
                        zh=f"{gz} 不是可读的 gzip 文件（{exc}）；{REFETCH_ZH}") from None
    check_idx(data[:MAX_HEADER], len(data), ndim, str(gz))
    try:
        write_atomic(plain, lambda tmp: tmp.write_bytes(data))
    except (OSError, UserError) as exc:  # the atomic writer's own refusal too: a folder this user may not write in
        reason, reason_zh = ((exc.strerror,) * 2 if isinstance(exc, OSError)
                             else ("no new file can be made there", "那里无法创建新文件"))
        raise UserError(
            f"cannot unpack {gz.name} into {plain.parent} ({reason}); torchvision reads only uncompressed "
            f"files: gunzip it there yourself or copy the folder somewhere writable",
            zh=f"无法把 {gz.name} 解压到 {plain.parent}（{reason_zh}）；torchvision 只读取未压缩的文件："
               f"请自己在那里用 gunzip 解压它，或者把整个文件夹复制到可写的位置",
        ) from None


def locate(name: str, options: LoadOptions) -> list[Path]:
    """The four uncompressed IDX files, unpacking .gz files where needed; clear errors if absent."""
    fam = FAMILIES[name]
    check_data_dir(options, f"{fam.folder}/raw/")
    raw = raw_folder(name, options)
    missing = missing_files(raw)
    if missing:
        raise UserError(f"{name}: missing {', '.join(missing)} (gzipped or not) in {raw}; "
                        + fetch_advice(name, fam.where, f"{fam.folder}/raw/"),
                        zh=f"{name}：{raw} 中缺少 {', '.join(missing)}（压缩或未压缩均可）；"
                           + fetch_advice(name, fam.where, f"{fam.folder}/raw/", "zh"))
    plain_files = []
    for _, images, labels in FILES:
        for stem, ndim in ((images, 3), (labels, 1)):
            plain, gz = raw / stem, raw / f"{stem}.gz"
            if gz.is_file() and (not plain.is_file() or gz.stat().st_mtime_ns > plain.stat().st_mtime_ns):
                _unpack_gz(gz, plain, ndim)
            plain_files.append(plain)
    return plain_files


def _download(name: str, options: LoadOptions) -> None:
    import torchvision.datasets as tvd

    root = data_root(options)
    folder = FAMILIES[name].folder
    undo = DownloadUndo(root, (folder,))  # torchvision writes DATA_DIR/<folder>/raw/*.gz and unpacks them there
    try:
        with undo:  # a failed or interrupted download leaves nothing of its own behind
            getattr(tvd, folder)(str(root), train=True, download=True)
    except Exception as exc:  # urllib, md5 and HTTP errors all mean the same thing to the user
        raise UserError(
            f"could not download {name} into {root} ({clip(str(exc), 200)}){undo.note()}; check the internet "
            f"connection, or put the IDX files in DATA_DIR/{folder}/raw/ yourself",
            zh=f"无法把 {name} 下载到 {root}（{clip(str(exc), 200)}）{undo.note('zh')}；请检查网络连接，"
               f"或者自己把 IDX 文件放进 DATA_DIR/{folder}/raw/",
        ) from None


def _read(name: str, options: LoadOptions, files: list[Path]) -> Dataset:
    import torchvision.datasets as tvd

    fam = FAMILIES[name]
    dims = {}
    for path, ndim in zip(files, (3, 1, 3, 1), strict=True):
        with open(path, "rb") as fh:
            head = fh.read(MAX_HEADER)
        dims[path.name] = check_idx(head, path.stat().st_size, ndim, str(path))
    cls = getattr(tvd, fam.folder)
    parts = {}
    for split, images, labels in FILES:
        n_img, n_lab = dims[images][0], dims[labels][0]
        if n_img != n_lab:
            raise UserError(f"{name}: {images} holds {n_img} images but {labels} holds {n_lab} labels; "
                            f"the files do not belong together: replace them with the pair from {fam.where}",
                            zh=f"{name}：{images} 有 {n_img} 张图像，但 {labels} 有 {n_lab} 个标签；"
                               f"这两个文件不是一套：请换成 {fam.where} 上配套的两个文件")
        try:
            ds = cls(str(data_root(options)), train=(split == "train"), download=False)
        except Exception as exc:  # the files were checked above; anything left is still the files' fault
            raise UserError(f"torchvision could not read {name} from {files[0].parent} ({exc}); replace the files "
                            f"with those from {fam.where}",
                            zh=f"torchvision 无法从 {files[0].parent} 读取 {name}（{exc}）；"
                               f"请换成 {fam.where} 上的文件") from None
        y = ds.targets.long()
        if int(y.max()) >= len(fam.classes):
            raise UserError(f"{name}: {labels} has label {int(y.max())}, but {name} has {len(fam.classes)} classes "
                            f"(0..{len(fam.classes) - 1}); is it the right file? Replace it with the one from "
                            f"{fam.where}",
                            zh=f"{name}：{labels} 中有标签 {int(y.max())}，但 {name} 只有 {len(fam.classes)} 个类别"
                               f"（0..{len(fam.classes) - 1}）；是不是放错了文件？请换成 {fam.where} 上的文件")
        parts[split] = (ds.data.to(torch.uint8).unsqueeze(1).contiguous(), y)
    (x, y), (x_test, y_test) = parts["train"], parts["test"]
    if x.shape[1:] != x_test.shape[1:]:
        raise UserError(f"{name}: training images are {tuple(x.shape[2:])} but test images {tuple(x_test.shape[2:])}; "
                        f"the files do not belong together: replace them with those from {fam.where}",
                        zh=f"{name}：训练图像是 {tuple(x.shape[2:])}，测试图像却是 {tuple(x_test.shape[2:])}；"
                           f"这些文件不是一套：请换成 {fam.where} 上的文件")
    return Dataset(
        name=name, x=x, y=y, x_test=x_test, y_test=y_test, classes=list(fam.classes),
        source=f"{fam.title}: IDX files in {files[0].parent}, read by torchvision.datasets.{fam.folder}",
        kind="image", flip_invariant=fam.flip_invariant,
    )


def read_checked(name: str, options: LoadOptions) -> Dataset:
    """The IDX files read and checked (headers, lengths, counts that agree, labels in range), with no
    download and no cache: for a caller that hands the same files to another reader afterwards."""
    return _read(name, options, locate(name, options))


def load(name: str, options: LoadOptions) -> Dataset:
    """Load `name` (mnist, fashion-mnist or kmnist) with its official 60k/10k split."""
    if options.download:
        _download(name, options)
    files = locate(name, options)
    return cached(options, name, {"loader": "idx"}, files, lambda: _read(name, options, files))
