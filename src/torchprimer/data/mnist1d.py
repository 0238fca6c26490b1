"""MNIST-1D (Greydanus & Kobak): 10 classes of 1-D signals of length 40, generated offline.

The `mnist1d` package's own generator (`make_dataset` with `get_dataset_args()`) makes
the set; with its default seed 42 that is the published set, 4,000 training and 1,000
test signals. `--data-seed` draws a fresh set, `--n-samples` changes its size (80% train).
The package's `get_dataset` is never used: it downloads and unpickles a file.

The generator seeds Python's and NumPy's global random state; both are put back
afterwards, so loading the data never changes a caller's random numbers. Generation takes
a few seconds, so the result is cached like a file-backed set.
"""

from __future__ import annotations

import random
from importlib.metadata import version

import numpy as np
import torch

from torchprimer.data.cache import cached
from torchprimer.data.registry import Dataset, LoadOptions
from torchprimer.errors import UserError

PUBLISHED_SEED = 42


def _generate(seed: int, n_samples: int | None) -> Dataset:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.seed = seed
    if n_samples is not None:
        args.num_samples = n_samples
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)

    def signals(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(a, dtype=np.float32)).unsqueeze(1).contiguous()  # (N, 1, 40)

    published = seed == PUBLISHED_SEED and n_samples is None
    return Dataset(
        name="mnist1d", x=signals(data["x"]), y=torch.from_numpy(np.asarray(data["y"])).long(),
        x_test=signals(data["x_test"]), y_test=torch.from_numpy(np.asarray(data["y_test"])).long(),
        classes=[str(d) for d in range(10)],
        source=f"mnist1d {version('mnist1d')} make_dataset, seed {seed}"
        + (" (the published set)" if published else " (a fresh draw, not the published set)"),
        kind="signal", flip_invariant=False,
    )


def load(options: LoadOptions) -> Dataset:
    seed = PUBLISHED_SEED if options.data_seed is None else int(options.data_seed)
    n = options.n_samples
    if n is not None and not 20 <= n <= 1_000_000:
        raise UserError(f"--n-samples {n} for mnist1d must be from 20 to 1,000,000 (the published set has 5,000)",
                        zh=f"mnist1d 的 --n-samples {n} 必须在 20 到 1,000,000 之间（发布的数据集有 5,000 个样本）")
    if not 0 <= seed < 2**32:  # numpy's seeding, inside make_dataset, takes 32 bits
        raise UserError(f"--data-seed {seed} must be from 0 to 2**32 - 1",
                        zh=f"--data-seed {seed} 必须在 0 到 2**32 - 1 之间")
    identity = {"seed": seed, "n_samples": n, "mnist1d": version("mnist1d")}
    return cached(options, f"mnist1d-s{seed}-n{n or 5000}", identity, [], lambda: _generate(seed, n))
