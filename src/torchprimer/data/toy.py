"""Two-dimensional toy sets for teaching: moons, circles, spirals, xor, blobs.

Each is a (N, 2) float32 table drawn from a seeded generator (`--data-seed`, default 0),
with `--n-samples` points (default 1,000) and `--noise` (Gaussian jitter; for blobs the
clusters' standard deviation). moons, circles and blobs come from scikit-learn; spirals
and xor are drawn here. Nothing is cached: drawing them is faster than reading a file.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from torchprimer.data.registry import Dataset, LoadOptions
from torchprimer.errors import UserError

# name -> (default noise, classes, description)
TOYS: dict[str, tuple[float, int, str]] = {
    "moons": (0.2, 2, "two interleaving half circles (scikit-learn make_moons)"),
    "circles": (0.1, 2, "a small circle inside a large one (scikit-learn make_circles, factor 0.5)"),
    "spirals": (0.1, 2, "two interleaved spirals, 1.5 turns each"),
    "xor": (0.1, 2, "points in [-1, 1]^2, class = whether x and y have the same sign"),
    "blobs": (1.0, 3, "three Gaussian clusters (scikit-learn make_blobs); --noise is their std"),
}
DEFAULT_SAMPLES = 1000


def describe(name: str) -> str:
    return f"2-D toy set: {TOYS[name][2]}"


def _spirals(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = np.arange(n) % 2
    t = np.sqrt(rng.uniform(0.02, 1.0, n)) * 3 * math.pi  # sqrt: even density along the arm
    r = t / (3 * math.pi)
    angle = t + math.pi * y
    x = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)
    return x + noise * rng.standard_normal((n, 2)), y


def _xor(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(-1.0, 1.0, (n, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    return x + noise * rng.standard_normal((n, 2)), y


def draw(name: str, n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    if name == "moons":
        return datasets.make_moons(n, noise=noise, random_state=seed)
    if name == "circles":
        return datasets.make_circles(n, noise=noise, factor=0.5, random_state=seed)
    if name == "blobs":
        return datasets.make_blobs(n, n_features=2, centers=3, cluster_std=noise, random_state=seed)
    rng = np.random.default_rng(seed)
    return _spirals(n, noise, rng) if name == "spirals" else _xor(n, noise, rng)


MAX_NOISE = 100.0  # far past where the classes vanish; float32 coordinates overflow near 1e38


def load_toy(name: str, options: LoadOptions) -> Dataset:
    default_noise, n_classes, _ = TOYS[name]
    n = DEFAULT_SAMPLES if options.n_samples is None else options.n_samples
    noise = default_noise if options.noise is None else options.noise
    seed = 0 if options.data_seed is None else options.data_seed
    if not isinstance(n, int) or not 10 * n_classes <= n <= 10_000_000:
        raise UserError(f"--n-samples {n} for {name} must be from {10 * n_classes} to 10,000,000, e.g. 1000",
                        zh=f"{name} 的 --n-samples {n} 必须在 {10 * n_classes} 到 10,000,000 之间，例如 1000")
    if not (math.isfinite(noise) and 0 <= noise <= MAX_NOISE) or (name == "blobs" and noise == 0):
        raise UserError(f"--noise {noise:g} must be from 0 to {MAX_NOISE:g} (> 0 for blobs), e.g. {default_noise}: "
                        "the points lie within a few units of 0, so more noise only hides the classes",
                        zh=f"--noise {noise:g} 必须在 0 到 {MAX_NOISE:g} 之间（blobs 须 > 0），例如 {default_noise}："
                           "这些点都落在 0 附近几个单位之内，噪声再大只会淹没类别")
    if not 0 <= seed < 2**32:
        raise UserError(f"--data-seed {seed} must be from 0 to 2**32 - 1",
                        zh=f"--data-seed {seed} 必须在 0 到 2**32 - 1 之间")
    x, y = draw(name, n, noise, seed)
    return Dataset(
        name=name, x=torch.from_numpy(np.asarray(x, dtype=np.float32)),
        y=torch.from_numpy(np.asarray(y, dtype=np.int64)), classes=[str(c) for c in range(n_classes)],
        source=f"{describe(name)}; {n} points, noise {noise}, seed {seed}", kind="table",
    )


def loader(name: str) -> Callable[[LoadOptions], Dataset]:
    def load(options: LoadOptions) -> Dataset:
        return load_toy(name, options)

    load.__doc__ = f"Draw the {name} toy set."
    return load
