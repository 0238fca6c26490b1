"""scikit-learn's 8x8 handwritten digits: bundled with scikit-learn, so no download."""

from __future__ import annotations

import torch

from torchprimer.data.registry import Dataset, LoadOptions


def load(options: LoadOptions) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Pixels are counts 0..16; scale to [0, 1] like torchvision's ToTensor does for bytes.
    x = torch.from_numpy(bunch.images).float().div_(16.0).unsqueeze(1)  # (N, 1, 8, 8)
    y = torch.from_numpy(bunch.target).long()
    return Dataset(
        name="digits",
        x=x,
        y=y,
        classes=[str(c) for c in bunch.target_names],
        source="sklearn.datasets.load_digits (UCI optical recognition of handwritten digits)",
        kind="image",
    )
