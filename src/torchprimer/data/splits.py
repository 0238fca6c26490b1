"""Seeded stratified splits, statistics from the training split alone, normalisation once.

The training split's per-channel mean and std are the only statistics used: computing
them on validation or test data would leak those sets into training.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from torchprimer.data.registry import Dataset
from torchprimer.errors import UserError


@dataclass
class Splits:
    """Train/validation/test tensors, normalised and on their device, ready for batching."""

    name: str
    classes: list[str]
    input_shape: tuple[int, ...]
    kind: str
    mean: torch.Tensor  # (C,) per channel, from the training split
    std: torch.Tensor
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    flip_invariant: bool = False  # a mirror image keeps its label (see Dataset.flip_invariant)
    fingerprint: str = ""  # of the raw validation and test samples and every label (`fingerprint`)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


def to_float(x: torch.Tensor) -> torch.Tensor:
    """Bytes become [0, 1] floats (as torchvision's ToTensor does); floats stay as they are."""
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x.float()


def channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (population) std per channel (dimension 1), over samples and every other dimension.

    Bytes are counted with a 256-bin histogram per channel, which is exact and needs no
    float copy of the data; floats are summed in float64, because a 60,000-image set in
    float32 loses digits in the sum.
    """
    if x.dtype == torch.uint8:
        hist = byte_histograms(x)
        levels = torch.arange(256, dtype=torch.float64, device=hist.device) / 255.0
        total = hist.sum(dim=1)
        mean = (hist * levels).sum(dim=1) / total
        var = (hist * (levels - mean[:, None]) ** 2).sum(dim=1) / total
        return mean.float(), var.sqrt().float()
    x64 = x.double()
    dims = [d for d in range(x.ndim) if d != 1]
    return x64.mean(dim=dims).float(), x64.std(dim=dims, unbiased=False).float()


def byte_histograms(x: torch.Tensor) -> torch.Tensor:
    """(C, 256) float64 counts of each byte value per channel of a uint8 tensor (N, C, ...)."""
    counts = [torch.bincount(x.select(1, c).reshape(-1), minlength=256) for c in range(x.shape[1])]
    return torch.stack(counts).double()


def as_tensors(*values: object) -> tuple[object, ...]:
    """Each NumPy array, list or tuple as a tensor, anything else as it is (for the caller to check): what the
    functions the README shows (normalize, gradcheck) take from a Python user beside tensors."""
    return tuple(torch.as_tensor(v) if isinstance(v, (np.ndarray, list, tuple)) else v for v in values)


def normalize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(x - mean) / std per channel (dimension 1 of a batch); a constant channel (std 0) is only centred.

    The README's recipe for feeding a trained model, so what a user hands it is checked: NumPy arrays and
    lists are taken as tensors; a batch whose channels do not match mean and std, or a negative or
    non-finite std, is a UserError, not torch's broadcasting message or a channel silently left unscaled."""
    x, mean, std = as_tensors(x, mean, std)
    if not all(isinstance(v, torch.Tensor) for v in (x, mean, std)):
        raise UserError("normalize(x, mean, std) takes tensors (or NumPy arrays or lists), e.g. "
                        "normalize(x, result.data.mean, result.data.std)",
                        zh="normalize(x, mean, std) 接受张量（或 NumPy 数组、列表），例如 "
                           "normalize(x, result.data.mean, result.data.std)")
    mean, std = mean.reshape(-1).float(), std.reshape(-1).float()
    if x.ndim < 2 or not x.shape[1] == len(mean) == len(std):
        shape, channels = tuple(x.shape), x.shape[1] if x.ndim >= 2 else 0
        raise UserError(f"normalize: x of shape {shape} has {channels} channel(s) in dimension 1 (a batch: samples "
                        f"first), but mean has {len(mean)} and std {len(std)}; pass a batch, e.g. x[None] for one "
                        "sample, with the run's own result.data.mean and .std",
                        zh=f"normalize：形状为 {shape} 的 x 在第 1 维上有 {channels} 个通道（一批数据：样本在前），"
                           f"但 mean 有 {len(mean)} 个、std 有 {len(std)} 个；请传入一批数据（单个样本用 x[None]），"
                           "并使用该运行自己的 result.data.mean 和 .std")
    if not bool(torch.isfinite(std).all() and (std >= 0).all()):
        values = std.tolist()
        raise UserError(f"normalize: std {values} must be finite and not negative (the training split's "
                        "standard deviations: result.data.std)",
                        zh=f"normalize：std {values} 必须是有限的非负数（训练集的标准差：result.data.std）")
    shape = (1, -1) + (1,) * (x.ndim - 2)
    safe_std = torch.where(std > 0, std, torch.ones_like(std))
    return (to_float(x) - mean.view(shape).to(x.device)) / safe_std.view(shape).to(x.device)


def raw_range(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> list[float]:
    """[min, max] of normalised inputs `x` in their raw scale, over every channel: `predict`
    compares new inputs with the training split's, to catch a file in another scale (sklearn's
    digits count ink 0..16, where training saw 0..1)."""
    channels = x.transpose(0, 1).reshape(len(mean), -1)
    safe_std = torch.where(std > 0, std, torch.ones_like(std))
    lo = channels.amin(1).cpu() * safe_std + mean
    hi = channels.amax(1).cpu() * safe_std + mean
    return [round(float(lo.min()), 6), round(float(hi.max()), 6)]


def stratified_split(
    y: torch.Tensor, fractions: list[float], seed: int
) -> list[torch.Tensor]:
    """Split indices so that every part keeps the class proportions of `y`.

    `fractions` are the shares of all parts but the last, which takes the rest. Each
    class's indices are shuffled with a generator seeded by `seed`, so the split is the
    same on every machine and independent of the training seed's other uses.
    """
    generator = torch.Generator().manual_seed(seed)
    parts: list[list[torch.Tensor]] = [[] for _ in range(len(fractions) + 1)]
    for cls in torch.unique(y):
        idx = torch.nonzero(y == cls).flatten()
        idx = idx[torch.randperm(len(idx), generator=generator)]
        start = 0
        for i, frac in enumerate(fractions):
            count = round(frac * len(idx))
            parts[i].append(idx[start : start + count])
            start += count
        parts[-1].append(idx[start:])
    return [torch.sort(torch.cat(p)).values for p in parts]


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    """The shares `train` accepts: validation in (0, 1), test in [0, 1), data left to train on."""
    if not (0 < val_fraction < 1 and 0 <= test_fraction < 1):
        raise UserError("--val-fraction must be in (0, 1) and --test-fraction in [0, 1); e.g. --val-fraction 0.1",
                        zh="--val-fraction 必须在 (0, 1) 之内，--test-fraction 必须在 [0, 1) 之内；"
                           "例如 --val-fraction 0.1")
    if val_fraction + test_fraction >= 1:
        raise UserError("--val-fraction plus --test-fraction must leave data to train on (< 1)",
                        zh="--val-fraction 加 --test-fraction 必须给训练留下数据（两者之和 < 1）")


def split_indices(
    dataset: Dataset, *, val_fraction: float = 0.1, test_fraction: float = 0.1, split_seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(train, val, test) indices into `dataset.x`; test is None when the set has its own test split."""
    if dataset.x_test is not None and dataset.y_test is not None:
        train_idx, val_idx = stratified_split(dataset.y, [1.0 - val_fraction], split_seed)
        return train_idx, val_idx, None
    train_idx, val_idx, test_idx = stratified_split(
        dataset.y, [1.0 - val_fraction - test_fraction, val_fraction], split_seed
    )
    return train_idx, val_idx, test_idx


def _empty_parts(*parts: torch.Tensor | None) -> list[str]:
    names = ("training", "validation", "test")
    return [name for name, idx in zip(names, parts, strict=True) if idx is not None and len(idx) == 0]


PART_ZH = {"training": "训练集", "validation": "验证集", "test": "测试集"}


def _empty_split_refusal(dataset: Dataset, part: str, val_fraction: float, test_fraction: float,
                         seed: int) -> UserError:
    """Why a split would be empty and a setting that fills every split, found by splitting with it
    (each class is split on its own, so a small set needs a larger share than its size suggests),
    as the refusal `prepare` raises, in English and Chinese."""
    own_test = dataset.x_test is not None
    given = f"--val-fraction {val_fraction:g}" + ("" if own_test else f", --test-fraction {test_fraction:g}")
    given_zh = given.replace(", ", "，")
    part_zh = PART_ZH[part]
    shares = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)
    if part == "training":
        tries = [(v, t) for v in shares for t in ((0.0,) if own_test else shares) if v <= val_fraction
                 and t <= test_fraction and (v, t) != (val_fraction, test_fraction)]
        tries.sort(key=lambda vt: -(vt[0] + vt[1]))  # the least change first
    elif part == "validation":
        tries = [(v, test_fraction) for v in shares if v > val_fraction]
    else:
        tries = [(val_fraction, t) for t in shares if t > test_fraction]
    advice = ", and no split of it fills all three; use a larger data set (--n-samples for generated ones)"
    advice_zh = "，而且怎样划分都无法让三部分都有样本；请换一个更大的数据集（生成的数据集可以加大 --n-samples）"
    for v, t in tries:
        if v + t < 1 and v > 0 and not _empty_parts(*split_indices(dataset, val_fraction=v, test_fraction=t,
                                                                    split_seed=seed)):
            fix = " ".join(f"--{name}-fraction {new:g}" for name, new, old in
                           (("val", v, val_fraction), ("test", t, test_fraction)) if new != old)
            advice, advice_zh = f"; use {fix}", f"；请改用 {fix}"
            break
    return UserError(
        f"the {part} split of {dataset.name} would hold no samples ({len(dataset.y):,} samples, {given}){advice}",
        zh=f"{dataset.name} 的{part_zh}将没有任何样本（共 {len(dataset.y):,} 个样本，{given_zh}）{advice_zh}",
    )


def empty_split_advice(dataset: Dataset, train_idx: torch.Tensor, val_idx: torch.Tensor, test_idx: torch.Tensor | None,
                       val_fraction: float, test_fraction: float, seed: int) -> str | None:
    """Why `train` would refuse this split (a split that holds no samples) and a setting that fills
    every split; None when every split holds samples."""
    empty = _empty_parts(train_idx, val_idx, test_idx)
    return str(_empty_split_refusal(dataset, empty[0], val_fraction, test_fraction, seed)) if empty else None


def prepare(
    dataset: Dataset,
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    split_seed: int = 0,
    device: torch.device | str = "cpu",
) -> Splits:
    """Split, compute statistics on the training split, normalise once, move to `device`.

    The official test split is used where the data set has one (`dataset.x_test`); the
    validation split then comes out of the training data.
    """
    train_idx, val_idx, test_idx = split_indices(
        dataset, val_fraction=val_fraction, test_fraction=test_fraction, split_seed=split_seed
    )
    if test_idx is None:
        assert dataset.x_test is not None and dataset.y_test is not None
        x_test, y_test = dataset.x_test, dataset.y_test
    else:
        x_test, y_test = dataset.x[test_idx], dataset.y[test_idx]
    empty = _empty_parts(train_idx, val_idx, test_idx)
    if empty:  # a mean over no samples is NaN: the run would "finish" with meaningless figures
        raise _empty_split_refusal(dataset, empty[0], val_fraction, test_fraction, split_seed)
    x_train, y_train = dataset.x[train_idx], dataset.y[train_idx]
    x_val, y_val = dataset.x[val_idx], dataset.y[val_idx]
    mean, std = channel_stats(x_train)

    def place(x: torch.Tensor) -> torch.Tensor:
        return normalize(x, mean, std).contiguous().to(device)

    data_print = fingerprint(x_val, y_val, x_test, y_test, y_train)

    return Splits(
        name=dataset.name,
        classes=list(dataset.classes),
        input_shape=dataset.input_shape,
        kind=dataset.kind,
        mean=mean,
        std=std,
        x_train=place(x_train),
        y_train=y_train.to(device),
        x_val=place(x_val),
        y_val=y_val.to(device),
        x_test=place(x_test),
        y_test=y_test.to(device),
        flip_invariant=dataset.flip_invariant,
        fingerprint=data_print,
    )


def fingerprint(*tensors: torch.Tensor) -> str:
    """SHA-256 (first 16 hex digits) of tensors' bytes as loaded, before normalisation, so the same
    files give the same value on any device and thread count. A run keeps the one of its
    validation and test samples and of every label; evaluate and --resume compare it, so data
    files edited since training (new test labels, other test images) are refused rather than
    scored as if they were the same. The training samples are left out (the training split's
    mean and std, compared too, stand for them), so the hash reads only the smaller splits."""
    digest = hashlib.sha256()
    for t in tensors:
        digest.update(str((t.dtype, tuple(t.shape))).encode())
        digest.update(t.detach().cpu().contiguous().numpy().data)
    return digest.hexdigest()[:16]
