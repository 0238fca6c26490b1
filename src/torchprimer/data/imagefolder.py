"""`imagefolder:PATH`: one sub-folder of images per class, by torchvision's ImageFolder rules.

PATH/cat/001.png, PATH/dog/xyz.jpg, ...: class names are the sub-folder names in sorted
order; files count when their extension is one ImageFolder accepts (.jpg .jpeg .png .ppm
.bmp .pgm .tif .tiff .webp). Every image is decoded once with Pillow (16-bit grayscale scaled
to 8 bits), converted to RGB,
resized to `--image-size` x `--image-size` (bilinear, aspect ratio not kept) and stored as
uint8. The set is grayscale (1 channel) when every image is grayscale or has equal red,
green and blue everywhere; otherwise RGB (3 channels, alpha dropped).

There is no official test split: `prepare` makes a stratified one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from torchprimer.data.cache import cached, path_slug
from torchprimer.data.registry import Dataset, LoadOptions
from torchprimer.errors import UserError

GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})
WIDE_GRAY_MODES = frozenset({"I", "I;16", "I;16B", "I;16L"})  # 16-bit grayscale PNG/TIFF opens as one of these
DECODER = 2  # cache identity: 1 clipped 16-bit grayscale at 255


def eight_bit(image: Any) -> Any:
    """A 16-bit grayscale image scaled to 8 bits (value / 257, so 65535 is 255); other images as
    they are. Pillow's convert("L") or ("RGB") clips such an image at 255 of 65535, turning
    nearly every pixel white; for 16-bit RGB it keeps the high byte, which this matches."""
    from PIL import Image

    if image.mode == "F":  # 32-bit float gray (TIFF): convert() clips it at 255 as for 16 bits
        return _float_gray(image)
    if image.mode not in WIDE_GRAY_MODES:
        return image
    values = np.asarray(image, dtype=np.float64)
    return Image.fromarray(np.clip(np.rint(values / 257.0), 0, 255).astype(np.uint8), mode="L")


def _float_gray(image: Any) -> Any:
    """A float gray image in 8 bits: values in [0, 1] times 255, values in [0, 255] as they are;
    any other range cannot be read as brightness without a guess, so it is refused. Pillow's
    convert() turned [0, 1] floats into a black image without a word."""
    from PIL import Image

    values = np.asarray(image, dtype=np.float64)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if not (np.isfinite(low) and np.isfinite(high)) or low < 0 or high > 255:
        raise ValueError(f"a 32-bit float image with values {low:g}..{high:g}; save it with values in [0, 1] or "
                         "[0, 255], or as an 8- or 16-bit image")
    scale = 255.0 if high <= 1.0 else 1.0
    return Image.fromarray(np.clip(np.rint(values * scale), 0, 255).astype(np.uint8), mode="L")


def check_image_size(size: int) -> int:
    if not isinstance(size, int) or not 2 <= size <= 1024:
        raise UserError(f"--image-size {size} must be a whole number of pixels from 2 to 1024, e.g. 32",
                        zh=f"--image-size {size} 必须是 2 到 1024 之间的整数（单位为像素），例如 32")
    return size


def list_images(root: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """(classes, [(file, class index)]) exactly as torchvision's ImageFolder finds them."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

    if not root.is_dir():
        raise UserError(f"imagefolder: {root} is not a folder; pass imagefolder:PATH with one sub-folder per class",
                        zh=f"imagefolder: {root} 不是文件夹；请用 imagefolder:PATH 指向一个文件夹，"
                           "其中每个类别各占一个子文件夹")
    try:
        classes, class_to_idx = find_classes(str(root))
    except FileNotFoundError:
        raise UserError(f"imagefolder: {root} has no class sub-folders; put each class's images in its own "
                        f"folder, e.g. {root}/cat/1.png and {root}/dog/1.jpg",
                        zh=f"imagefolder: {root} 中没有类别子文件夹；请把每个类别的图像放进它自己的文件夹，"
                           f"例如 {root}/cat/1.png 和 {root}/dog/1.jpg") from None
    try:
        samples = make_dataset(str(root), class_to_idx, extensions=IMG_EXTENSIONS)
    except FileNotFoundError:  # torchvision refuses a class folder without a single image
        found = {cls for _, cls in make_dataset(str(root), class_to_idx, extensions=IMG_EXTENSIONS,
                                                 allow_empty=True)}
        empty = [c for c in classes if class_to_idx[c] not in found]
        for name in empty:  # torchvision's walk passes over a folder it may not read as if it were empty
            try:
                os.listdir(root / name)
            except OSError as exc:
                folder, reason = root / name, exc.strerror or exc
                raise UserError(f"imagefolder: cannot read the class folder {folder}: {reason}; check its "
                                f"permissions (ls -ld {folder})",
                                zh=f"imagefolder: 无法读取类别文件夹 {folder}：{reason}；请检查它的权限"
                                   f"（ls -ld {folder}）") from None
        raise UserError(f"imagefolder: the class folder(s) {', '.join(empty)} in {root} hold no images "
                        f"({', '.join(IMG_EXTENSIONS[:4])}, ...); add some or remove the folder",
                        zh=f"imagefolder: {root} 中的类别文件夹 {'、'.join(empty)} 里没有图像（例如 "
                           f"{', '.join(IMG_EXTENSIONS[:4])} 等格式）；请放入一些图像，或者删掉这样的文件夹") from None
    if len(classes) < 2:
        raise UserError(f"imagefolder: {root} has only the class folder {classes[0]!r}; a classifier needs at "
                        f"least two classes, one sub-folder each",
                        zh=f"imagefolder: {root} 中只有一个类别文件夹 {classes[0]!r}；分类器至少需要两个类别，"
                           f"每个类别一个子文件夹")
    return [readable_name(c) for c in classes], samples


def readable_name(name: str) -> str:
    """A folder name as text: a name that is not UTF-8 (café from an old zip, b'caf\\xe9') reaches
    Python with surrogate escapes, which no figure or terminal can draw (matplotlib stopped a run
    after its weights were written); its bytes are read as Latin-1 instead, a one-byte code page."""
    raw = os.fsencode(name)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_image(path: str, size: int) -> tuple[np.ndarray, bool]:
    """One image as uint8 (size, size, 3) RGB, and whether its file was grayscale."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            gray = im.mode in GRAY_MODES
            rgb = training_picture(im, size)
    except Exception as exc:  # Pillow raises many types on damaged files; all mean "unreadable"
        raise UserError(f"imagefolder: cannot read image {path} ({type(exc).__name__}: {exc}); "
                        f"fix or remove it",
                        zh=f"imagefolder: 无法读取图像 {path}（{type(exc).__name__}: {exc}）；请修复或删除它") from None
    return np.asarray(rgb, dtype=np.uint8), gray


def training_picture(image: Any, size: int) -> Any:
    """The RGB picture training learns from for an opened image: 8 bits, alpha dropped, stretched to
    size x size (bilinear). `predict` reads an imagefolder run's inputs through this too, so a model
    sees the very pixels its training images became."""
    from PIL import Image

    return eight_bit(image).convert("RGB").resize((size, size), Image.Resampling.BILINEAR)


def _read(root: Path, classes: list[str], samples: list[tuple[str, int]], size: int) -> Dataset:
    images, grays = zip(*(read_image(p, size) for p, _ in samples), strict=True)
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    if all(grays) or (torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])):
        x = x[:, :1].contiguous()
    y = torch.tensor([label for _, label in samples], dtype=torch.long)
    return Dataset(
        name=f"imagefolder:{root}", x=x, y=y, classes=list(classes),
        source=f"image folder {root} ({len(samples)} files), resized to {size}x{size}",
        kind="image", flip_invariant=True,
    )


def load(options: LoadOptions) -> Dataset:
    root = Path(str(options.extra["path"])).expanduser()
    size = check_image_size(options.image_size)
    classes, samples = list_images(root)
    files = [Path(p) for p, _ in samples]
    identity = {"image_size": size, "classes": classes, "decoder": DECODER}
    return cached(options, path_slug("imagefolder", root), identity, files, lambda: _read(root, classes, samples, size))
