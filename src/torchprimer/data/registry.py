"""Data sets by name: every source returns the same `Dataset`, whatever its file format.

To add a data set, write a loader `load_x(options) -> Dataset` in its own module and add
one `Source` line to `sources()`. Nothing else in torchprimer needs to change.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from torchprimer.errors import UserError, refuse_unused


@dataclass
class Dataset:
    """A data set as its source gives it: raw samples, before any split or normalisation.

    `x` is (N, *input_shape), channels first for images and signals, (N, F) for tables;
    uint8 where the files hold bytes, float32 otherwise. `y` is (N,) int64 class indices.
    `x_test`/`y_test` hold the official test split where the data set publishes one.
    """

    name: str
    x: torch.Tensor
    y: torch.Tensor
    classes: list[str]
    x_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None
    source: str = ""
    kind: str = "table"  # "image", "signal" or "table": decides pictures and augmentation
    # Whether a mirror image keeps the label: true for photos and clothes, false for
    # digits and characters (a flipped 2 is not a 2). Augmentation reads it.
    flip_invariant: bool = False
    from_cache: bool = False  # True when the tensors came from torchprimer's cache

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclass
class LoadOptions:
    """Everything a loader may need; each loader reads only the fields it uses."""

    data_dir: Path | None = None
    download: bool = False
    data_seed: int | None = None
    image_size: int = 32
    noise: float | None = None
    n_samples: int | None = None
    cache_dir: Path | None = None
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    """One registered data set: how to load it and how to tell whether it is here now."""

    name: str
    load: Callable[[LoadOptions], Dataset]
    description: str
    available: Callable[[LoadOptions], bool] = lambda options: True
    takes_path: bool = False  # registered as "name:PATH"
    size: str = ""  # how many samples of what shape, for `data list`
    own_test: bool = False  # ships its own test split; validation then comes out of the training part
    # The shape of one sample and the number of classes, where they are fixed: `models` builds
    # from them without the files, which may not be downloaded yet (tests check them against loading).
    shape: tuple[int, ...] | None = None
    num_classes: int | None = None
    # The LoadOptions fields its loader reads: any other data option given for it is refused
    # (`check_data_options`), since it would silently do nothing.
    reads: tuple[str, ...] = ()


# The data options as the commands spell them, by LoadOptions field.
DATA_FLAGS = {"data_dir": "--data-dir", "download": "--download", "data_seed": "--data-seed",
              "image_size": "--image-size", "noise": "--noise", "n_samples": "--n-samples"}


def fixed(total: str, shape: tuple[int, ...], classes: int, note: str = "") -> dict[str, object]:
    """A fixed-shape set's `shape`, `num_classes` and the `size` text made from them, e.g.
    "70,000 x 1x28x28 (60,000/10,000), 10 classes"."""
    dims = "x".join(map(str, shape))
    return {"shape": shape, "num_classes": classes,
            "size": f"{total} x {dims}{f' ({note})' if note else ''}, {classes} classes"}


def sources() -> dict[str, Source]:
    """The registry: one entry per data set name."""
    from torchprimer.data import cifar, csvfile, digits, imagefolder, mnist, mnist1d, npz, toy

    entries = [
        Source("digits", digits.load, "scikit-learn's bundled 8x8 handwritten digits",
               **fixed("1,797", (1, 8, 8), 10)),
        Source("mnist1d", mnist1d.load, "MNIST-1D, generated offline by the mnist1d package (seed 42)",
               own_test=True, reads=("data_seed", "n_samples"), **fixed("5,000", (1, 40), 10, "4,000/1,000")),
        *(Source(name, mnist.loader(name), mnist.describe(name), available=mnist.availability(name),
                 own_test=True, reads=("data_dir", "download"), **fixed("70,000", (1, 28, 28), 10, "60,000/10,000"))
          for name in mnist.FAMILIES),
        Source("cifar10", cifar.load, "CIFAR-10: python batches in DIR/cifar-10-batches-py/, read by torchvision",
               available=cifar.available, own_test=True, reads=("data_dir", "download"),
               **fixed("60,000", (3, 32, 32), 10, "50,000/10,000")),
        Source("imagefolder", imagefolder.load, "a folder with one sub-folder of images per class (PNG, JPEG, ...)",
               takes_path=True, size="any; resized to --image-size", reads=("image_size",)),
        Source("npz", npz.load, "a NumPy .npz with arrays x and y (optional x_test, y_test, classes)",
               takes_path=True, size="any"),
        Source("csv", csvfile.load, "a CSV file of numbers, one sample a row, label in the column named label, y, "
               "target or class, else the last", takes_path=True, size="any"),
        *(Source(name, toy.loader(name), toy.describe(name), reads=("data_seed", "n_samples", "noise"),
                 **fixed(f"{toy.DEFAULT_SAMPLES:,}", (2,), toy.TOYS[name][1], "--n-samples"))
          for name in toy.TOYS),
    ]
    return {s.name: s for s in entries}


def parse_name(name: str) -> tuple[Source, str | None]:
    """Split "imagefolder:PATH" into its source and its path; plain names have no path."""
    known = sources()
    base, sep, arg = name.partition(":")
    source = known.get(base)
    if source is None:
        names = ", ".join(s.name + (":PATH" if s.takes_path else "") for s in known.values())
        raise UserError(f"unknown data set {name!r}; known data sets: {names}",
                        zh=f"没有名为 {name!r} 的数据集；已知的数据集：{names}")
    if source.takes_path and not arg:
        raise UserError(f"data set {base!r} needs a path: use {base}:PATH",
                        zh=f"数据集 {base!r} 需要一个路径：请写成 {base}:PATH")
    if sep and not source.takes_path:
        raise UserError(f"data set {base!r} takes no path; use plain {base!r}",
                        zh=f"数据集 {base!r} 不接受路径；请只写 {base!r}")
    return source, (arg or None)


def absolute_name(name: str) -> str:
    """"npz:iris.npz" -> "npz:/home/me/iris.npz": a run's config.json keeps the path that works from
    any folder (evaluate, predict and --resume are often run elsewhere). Other names stay as given."""
    base, sep, arg = name.partition(":")
    source = sources().get(base)
    if not sep or not arg or source is None or not source.takes_path:
        return name
    return f"{base}:{os.path.abspath(os.path.expanduser(arg))}"


def file_slug(name: str) -> str:
    """A data set's name as part of a file or folder name: "digits", or for a path-based set its
    kind and the path's stem ("npz:data/iris.npz" -> "npz-iris"), so two such sets do not share
    the default folder of `data inspect` or a run folder's name."""
    base, _, arg = name.partition(":")
    stem = Path(arg.rstrip("/\\")).stem if arg else ""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{base}-{stem}" if stem else base).strip("-") or "data"


def check_data_options(name: str, given: Iterable[str]) -> None:
    """Refuse the data options in `given` (LoadOptions field names the user set) that `name`'s
    loader does not read, e.g. --noise for digits: one line naming the sets that do read them."""
    source, _ = parse_name(name)
    unused = [option for option in DATA_FLAGS if option in given and option not in source.reads]
    read_by = {option: [s.name for s in sources().values() if option in s.reads] for option in unused}
    readers = "; ".join(f"{DATA_FLAGS[option]} is read by {', '.join(read_by[option])}" for option in unused)
    readers_zh = "；".join(f"{DATA_FLAGS[option]} 只用于 {'、'.join(read_by[option])}" for option in unused)
    refuse_unused([DATA_FLAGS[option] for option in unused], f"for {source.name} ({readers})",
                  f"对 {source.name} 不起作用（{readers_zh}）")


def ships_test_split(name: str) -> bool:
    """Whether `name` brings its own test split (so --test-fraction does nothing for it): the
    published sets always, an npz archive when it holds x_test."""
    source, path = parse_name(name)
    if source.name == "npz" and path is not None:
        from torchprimer.data.npz import holds_test_split

        return holds_test_split(path)
    return source.own_test


def load(name: str, options: LoadOptions | None = None) -> Dataset:
    """Load a registered data set by name, with its raw samples on the CPU."""
    source, arg = parse_name(name)
    options = options or LoadOptions()
    if arg is not None:
        options.extra["path"] = arg
    return source.load(options)
