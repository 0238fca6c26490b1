"""Write small data sets in the exact on-disk formats torchvision reads.

Used by the tests (real files, no download) and by `torchprimer bench` (MNIST-size IDX
files whose pixel values do not matter for speed).
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

# IDX magic numbers: 0x08 = unsigned byte, then the number of dimensions.
IDX_UBYTE = 0x08

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: magic (0, 0, type, ndim), big-endian dims, data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, IDX_UBYTE, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_mnist(
    root: str | Path,
    *,
    folder: str = "MNIST",
    n_train: int = 600,
    n_test: int = 100,
    gzipped: bool = False,
    seed: int = 0,
    size: int = 28,
) -> Path:
    """Write MNIST-format IDX files under root/<folder>/raw/ as torchvision expects.

    Images are random bytes with a class-dependent bright square, so a model can learn
    them and statistics are known; labels cycle through 0..9 so every class appears.
    Returns the raw folder.
    """
    raw = Path(root) / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        rng.shuffle(labels)
        images = rng.integers(0, 64, size=(n, size, size), dtype=np.uint8)
        for i, label in enumerate(labels):
            r, c = divmod(int(label), 4)
            images[i, 2 + 6 * r : 7 + 6 * r, 2 + 6 * c : 7 + 6 * c] = 255
        image_name, label_name = MNIST_FILES[split]
        for name, arr in ((image_name, images), (label_name, labels)):
            data = idx_bytes(arr)
            if gzipped:
                (raw / f"{name}.gz").write_bytes(gzip.compress(data, compresslevel=1))
            else:
                (raw / name).write_bytes(data)
    return raw


CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def cifar_images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3072) uint8 rows in CIFAR's order (1024 red, 1024 green, 1024 blue) and labels
    cycling through 0..9; each class has its own dominant colour channel and a bright band."""
    labels = (np.arange(n) % 10).astype(np.int64)
    rng.shuffle(labels)
    images = rng.integers(0, 128, size=(n, 3, 32, 32), dtype=np.uint8)
    for i, label in enumerate(labels):
        images[i, label % 3] += 100
        images[i, :, 3 * label : 3 * label + 3, :] = 250
    return images.reshape(n, 3072), labels


def write_cifar10(
    root: str | Path, *, n_train: int = 500, n_test: int = 100, seed: int = 0, protocol: int = 2
) -> Path:
    """Write CIFAR-10 python batches under root/cifar-10-batches-py/ as torchvision reads them.

    Five training batches of n_train/5 images, one test batch, and batches.meta; each a
    pickle of the dict the official files hold (protocol 2, like the originals). Returns
    the batch folder.
    """
    import pickle

    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    per_batch = n_train // 5
    batches = [(f"data_batch_{i + 1}", per_batch) for i in range(5)] + [("test_batch", n_test)]
    for name, n in batches:
        data, labels = cifar_images(n, rng)
        entry = {"batch_label": name, "labels": labels.tolist(), "data": data,
                 "filenames": [f"{name}_{i}.png" for i in range(n)]}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=protocol))
    meta = {"num_cases_per_batch": per_batch, "label_names": CIFAR_CLASSES, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=protocol))
    return folder


def write_image_folder(
    root: str | Path,
    *,
    classes: tuple[str, ...] = ("cat", "dog", "fox"),
    per_class: int = 6,
    size: tuple[int, int] = (20, 16),
    mode: str = "RGB",
    formats: tuple[str, ...] = ("png", "jpg"),
    seed: int = 0,
) -> Path:
    """Write root/<class>/<i>.<format> images (PNG and JPEG by default) with Pillow.

    Each class has its own colour (or grey level) plus noise, so statistics differ by
    class; the formats alternate between files. Returns root.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    root = Path(root)
    for k, cls in enumerate(classes):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            channels = 3 if mode == "RGB" else 1
            base = np.zeros((size[1], size[0], channels), dtype=np.int64)
            base[..., k % channels] = 60 + 60 * k
            pixels = np.clip(base + rng.integers(0, 40, base.shape), 0, 255).astype(np.uint8)
            image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode=mode)
            image.save(root / cls / f"{i}.{formats[i % len(formats)]}")
    return root


def write_npz(
    path: str | Path, *, n: int = 200, features: int = 5, n_test: int = 0, classes: int = 3, seed: int = 0
) -> Path:
    """An .npz with x (n, features) float32 and y (n,) int64 whose class shifts the mean;
    with n_test > 0 also x_test/y_test."""
    rng = np.random.default_rng(seed)

    def draw(m: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(m) % classes
        x = (rng.standard_normal((m, features)) + 2.0 * y[:, None]).astype(np.float32)
        return x, y.astype(np.int64)

    x, y = draw(n)
    arrays = {"x": x, "y": y}
    if n_test:
        arrays["x_test"], arrays["y_test"] = draw(n_test)
    path = Path(path)
    np.savez(path, **arrays)
    return path


def write_csv(
    path: str | Path, *, n: int = 120, features: int = 3, classes: int = 2, header: bool = True, seed: int = 0
) -> Path:
    """A CSV of n rows: `features` numeric columns, then the integer label (header x1..xF,label)."""
    rng = np.random.default_rng(seed)
    lines = [",".join([f"x{j + 1}" for j in range(features)] + ["label"])] if header else []
    for i in range(n):
        label = i % classes
        values = rng.standard_normal(features) + label
        lines.append(",".join([f"{v:.6g}" for v in values] + [str(label)]))
    path = Path(path)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
