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
