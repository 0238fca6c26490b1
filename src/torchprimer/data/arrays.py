"""Turning a user's feature array and label column into a `Dataset`: shared by npz and csv.

Labels may be any whole numbers (3, 7, 42, -1, or 3.0): the distinct values, sorted,
become classes 0..K-1 and their names are the values themselves, so a file labelled
0..9 keeps its numbering.
"""

from __future__ import annotations

import numpy as np
import torch

from torchprimer.errors import UserError

KINDS = {2: "table", 3: "signal", 4: "image"}


def check_features(x: np.ndarray, where: str) -> torch.Tensor:
    """Numbers, finite, (N, F), (N, C, L) or (N, C, H, W); uint8 kept as bytes, the rest float32."""
    if x.dtype.kind not in "biuf":
        raise UserError(f"{where}: features must be numbers, not {x.dtype}",
                        zh=f"{where}：特征必须是数字，而不是 {x.dtype}")
    if x.ndim not in KINDS:
        raise UserError(f"{where}: features have shape {x.shape}; use (N, F) for tables, (N, C, L) for signals "
                        f"or (N, C, H, W) for images",
                        zh=f"{where}：特征的形状是 {x.shape}；表格请用 (N, F)，信号请用 (N, C, L)，"
                           f"图像请用 (N, C, H, W)")
    if x.shape[0] == 0 or 0 in x.shape[1:]:
        raise UserError(f"{where}: features have shape {x.shape}, which holds no data; save at least one sample "
                        "with at least one value",
                        zh=f"{where}：特征的形状是 {x.shape}，其中没有任何数据；请至少保存一个样本，每个样本至少一个值")
    if x.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(x))
    with np.errstate(over="ignore", invalid="ignore"):  # values past float32's range become inf, refused below
        x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise UserError(f"{where}: features contain NaN or infinity (or numbers too large for float32); "
                        f"clean or impute them first",
                        zh=f"{where}：特征中含有 NaN 或无穷大（或超出 float32 范围的数）；请先清洗数据，或填补这些值")
    return torch.from_numpy(np.ascontiguousarray(x))


def check_labels(y: np.ndarray, where: str) -> np.ndarray:
    """A 1-D array of whole numbers, as int64."""
    if y.ndim != 1:
        raise UserError(f"{where}: labels must be one number per sample, got shape {y.shape}",
                        zh=f"{where}：标签必须是每个样本一个数，得到的形状却是 {y.shape}")
    if y.dtype.kind in "biu":
        return y.astype(np.int64)
    if y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all() and np.abs(y).max(initial=0) < 2**53:
        return y.astype(np.int64)
    raise UserError(f"{where}: labels must be whole numbers (class indices), got {y.dtype} values such as {y[:3]}",
                    zh=f"{where}：标签必须是整数（类别编号），得到的却是 {y.dtype} 类型的值，例如 {y[:3]}")


def encode_labels(
    y: np.ndarray, y_test: np.ndarray | None, names: list[str] | None, where: str
) -> tuple[torch.Tensor, torch.Tensor | None, list[str]]:
    """Class indices 0..K-1 and class names; test labels must be classes seen in training."""
    values = np.unique(y)
    if len(values) < 2:
        raise UserError(f"{where}: every sample has label {values[0] if len(values) else '?'}; "
                        f"a classifier needs at least two classes",
                        zh=f"{where}：每个样本的标签都是 {values[0] if len(values) else '?'}；分类器至少需要两个类别")
    if names is not None:
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:  # two classes of one name: predictions naming it could mean either
            raise UserError(f"{where}: class names must differ; {', '.join(map(repr, repeated))} names more than "
                            "one class",
                            zh=f"{where}：类别名称必须互不相同；{'、'.join(map(repr, repeated))} 被用作多个类别的名称")
        if values.min() < 0 or values.max() >= len(names):
            raise UserError(f"{where}: labels must be 0..{len(names) - 1} to match the {len(names)} class names",
                            zh=f"{where}：标签必须在 0..{len(names) - 1} 之内，才能对应 {len(names)} 个类别名称")
        values = np.arange(len(names))
    if y_test is not None:
        unseen = np.setdiff1d(y_test, values)
        if len(unseen):
            raise UserError(f"{where}: test labels {unseen[:5].tolist()} never occur in the training labels; "
                            "add training samples of those classes, or drop them from the test split",
                            zh=f"{where}：测试标签 {unseen[:5].tolist()} 从未出现在训练标签中；"
                               "请为这些类别加入训练样本，或者把它们从测试集中去掉")
    classes = names if names is not None else [str(int(v)) for v in values]
    # `values` is sorted and holds every label, so searchsorted is an exact lookup.
    encoded = torch.from_numpy(np.searchsorted(values, y).astype(np.int64))
    encoded_test = None if y_test is None else torch.from_numpy(np.searchsorted(values, y_test).astype(np.int64))
    return encoded, encoded_test, classes
