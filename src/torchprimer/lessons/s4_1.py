"""§4.1 Standardising data: the seed's snippet fails on a missing import, uses ImageNet's
statistics for CIFAR-10, and normalises one PIL image at a time. The tour computes the
data's own per-channel statistics and normalises the whole set in one call, offline, on
CIFAR-shaped crops of the two photos scikit-learn ships."""

from __future__ import annotations

import numpy as np
import torch

from torchprimer.lessons.runner import Run, bilingual

SECTION = "4.1"

IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
# Published CIFAR-10 training-set statistics (as the seed's English notes give them); cited, not measured.
CIFAR10_PUBLISHED = ([0.491, 0.482, 0.447], [0.247, 0.243, 0.262])

def _standardised_by(mean: list[float], std: list[float], data_mean: list[float], data_std: list[float]) -> tuple:
    """Mean and std a channel ends up with when data of (data_mean, data_std) is normalised by (mean, std)."""
    means = [(dm - m) / s for dm, m, s in zip(data_mean, mean, std, strict=True)]
    stds = [ds / s for ds, s in zip(data_std, std, strict=True)]
    return means, stds


def _verdict_figures() -> dict[str, str]:
    """The verdict's numbers, from the constants above rather than typed into its sentences: ImageNet's
    statistics, CIFAR-10's published ones, and how far off ImageNet's leave CIFAR-10's worst channel."""
    means, stds = _standardised_by(*IMAGENET, *CIFAR10_PUBLISHED)
    return {
        "imagenet_mean": str(IMAGENET[0]), "imagenet_std": str(IMAGENET[1]),
        "cifar_mean": str(tuple(CIFAR10_PUBLISHED[0])), "cifar_std": str(tuple(CIFAR10_PUBLISHED[1])),
        "worst_mean": f"{max(abs(m) for m in means):.2f}", "worst_std": f"{max(stds):.2f}",
    }


TEXT = {
    "en": {
        "title": "Standardising data",
        "intro": """
Standardising maps each channel to mean 0 and standard deviation 1: x' = (x − mean) / std.
It keeps inputs in the range where weights start out useful, so training converges faster.
The statistics must be the training data's own.""",
        "verdict": """
The seed's snippet stops at `datasets`, which it never imported. Fixing the import is not
enough: mean={imagenet_mean} and std={imagenet_std} are ImageNet's. CIFAR-10's
own are about {cifar_mean} and {cifar_std}, so with ImageNet's numbers
CIFAR-10 comes out with channel means up to {worst_mean} and stds up to {worst_std}, not 0 and 1. Compute
the statistics from your training split (`torchprimer data stats NAME` does). And since a
small data set fits in memory as one tensor, normalise it once, as a batch: the same
numbers as the per-image PIL pipeline, without a Python call per image (the last check times
both, on this machine; it checks the numbers, not the speed). The tour
cannot download CIFAR-10, so it uses 32×32 RGB crops of the two photos bundled with
scikit-learn.""",
        "fixed_title": "Corrected: the import, the data's own statistics, one batched call:",
    },
    "zh": {
        "title": "数据标准化",
        "intro": """
标准化把每个通道变换为均值 0、标准差 1：x' = (x − mean) / std。这让输入落在初始权重
能发挥作用的范围里，训练收敛更快。所用的统计量必须来自训练数据本身。""",
        "verdict": """
原教程的代码在 `datasets` 处就停下了，因为它从没导入过。补上导入还不够：
mean={imagenet_mean}、std={imagenet_std} 是 ImageNet 的统计量。CIFAR-10
自己的大约是 {cifar_mean} 和 {cifar_std}，所以用 ImageNet 的数值处理
CIFAR-10，各通道均值最大偏到 {worst_mean}、标准差最大到 {worst_std}，而不是 0 和 1。请从自己的训练集
计算统计量（`torchprimer data stats NAME` 就能算）。另外，小数据集可以整个放进内存成为
一个张量，那就一次性按批标准化：结果与逐张图片的 PIL 流水线相同，又不必每张图片调用一次
Python（最后一项检查在本机给出两者的用时；它检查的是数值，不是速度）。导览无法下载
CIFAR-10，因此改用 scikit-learn 自带的两张照片切成的 32×32 RGB 小块。""",
        "fixed_title": "修正：补上导入，用数据自己的统计量，一次按批处理：",
    },
}

for _text in TEXT.values():
    _text["verdict"] = _text["verdict"].format(**_verdict_figures())

SEED = {
    "zh": """\
from torchvision import transforms
transform = transforms.Compose([
    transforms.ToTensor(),
    transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
])
# 应用到数据集
dataset = datasets.CIFAR10(..., transform=transform)
""",
    "en": """\
from torchvision import transforms
transform = transforms.Compose([
    transforms.ToTensor(),
    transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
])
# apply to a data set
dataset = datasets.CIFAR10(..., transform=transform)
""",
}

FIXED = bilingual(
    """\
import time
import torch
from torchvision import datasets, transforms  # the import the seed forgot
from torchvision.transforms import v2
from torchprimer.data import channel_stats
from torchprimer.lessons.s4_1 import photo_patches
# with a network: datasets.CIFAR10("data", train=True, download=True)
images = photo_patches()  # (N, 3, 32, 32) uint8, like CIFAR-10
mean, std = channel_stats(images)  # per channel, from this data
print(len(images), "images; mean", [round(v, 3) for v in mean.tolist()], "std", [round(v, 3) for v in std.tolist()])

started = time.perf_counter()
x = v2.Normalize(mean.tolist(), std.tolist())(images.float() / 255)  # the whole set at once
batched_seconds = time.perf_counter() - started
print("after: mean", [round(v, 4) for v in x.mean((0, 2, 3)).tolist()],
      "std", [round(v, 4) for v in x.std((0, 2, 3), correction=0).tolist()])

# the seed's way: one PIL image at a time
per_image = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean.tolist(), std.tolist())])
pil_images = [transforms.ToPILImage()(img) for img in images]
started = time.perf_counter()
x_slow = torch.stack([per_image(img) for img in pil_images])
per_image_seconds = time.perf_counter() - started
print(f"per image {per_image_seconds * 1000:.1f} ms, batched {batched_seconds * 1000:.1f} ms")
""",
    zh={
        "the import the seed forgot": "原教程漏掉的导入",
        'with a network: datasets.CIFAR10("data", train=True, download=True)':
            '有网络时：datasets.CIFAR10("data", train=True, download=True)',
        "(N, 3, 32, 32) uint8, like CIFAR-10": "(N, 3, 32, 32) uint8，与 CIFAR-10 同形状",
        "per channel, from this data": "按通道，取自这份数据本身",
        "the whole set at once": "整个数据集一次完成",
        "the seed's way: one PIL image at a time": "原教程的做法：一次处理一张 PIL 图片",
    },
)

CHECKS = {
    "missing_import": {
        "en": "the seed's code stops with NameError: 'datasets' is never imported",
        "zh": "原教程的代码因 NameError 停止：'datasets' 从未导入",
    },
    "own_statistics": {
        "en": "with the data's own statistics every channel has mean 0 (1e-4) and std 1 (1e-3)",
        "zh": "用数据自己的统计量后，每个通道均值为 0（误差 1e-4）、标准差为 1（误差 1e-3）",
    },
    "imagenet_statistics": {
        "en": "ImageNet's numbers do not standardise CIFAR-10 (published statistics) nor the photo crops",
        "zh": "ImageNet 的数值既不能标准化 CIFAR-10（按公开的统计量），也不能标准化照片小块",
    },
    "batch_equals_per_image": {
        "en": "one batched Normalize gives the per-image PIL pipeline's numbers (1e-5)",
        "zh": "一次按批 Normalize 与逐张 PIL 流水线的结果相同（1e-5）",
    },
}


def photo_patches(size: int = 32) -> torch.Tensor:
    """Non-overlapping size×size crops of scikit-learn's two bundled photos, (N, 3, size, size) uint8.

    Real RGB pixels of CIFAR-10's shape that need no download, so the lesson runs offline.
    """
    from sklearn.datasets import load_sample_images

    crops = [
        photo[i : i + size, j : j + size]
        for photo in load_sample_images().images
        for i in range(0, photo.shape[0] - size + 1, size)
        for j in range(0, photo.shape[1] - size + 1, size)
    ]
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()


def _off(means: list[float], stds: list[float]) -> bool:
    return max(abs(m) for m in means) > 0.05 or max(abs(s - 1) for s in stds) > 0.05


def check(seed: Run | None, fixed: Run | None) -> dict[str, tuple[bool, str | dict[str, str]]]:
    assert seed is not None and fixed is not None
    fx = fixed.namespace
    error = seed.error or ""
    x, x_slow = fx["x"], fx["x_slow"]
    means = x.double().mean((0, 2, 3))
    stds = x.double().std((0, 2, 3), correction=0)
    own_ok = bool((means.abs() < 1e-4).all() and ((stds - 1).abs() < 1e-3).all())
    cifar = _standardised_by(*IMAGENET, *CIFAR10_PUBLISHED)
    photos = _standardised_by(*IMAGENET, fx["mean"].tolist(), fx["std"].tolist())
    diff = (x - x_slow).abs().max().item()
    per_image_ms, batched_ms = fx["per_image_seconds"] * 1000, fx["batched_seconds"] * 1000

    def show(means: list, stds: list, lang: str) -> str:
        listed = ["[" + ", ".join(map(str, values)) + "]" for values in (means, stds)]  # numbers, not quoted strings
        if lang == "zh":
            return f"均值 {listed[0]}，标准差 {listed[1]}"
        return f"mean {listed[0]}, std {listed[1]}"

    def rounded(pair: tuple, lang: str) -> str:
        return show([round(v, 3) for v in pair[0]], [round(v, 3) for v in pair[1]], lang)

    own = ([f"{v:+.1e}" for v in means.tolist()], [round(v, 5) for v in stds.tolist()])
    return {
        "missing_import": ("NameError" in error and "'datasets'" in error, error),
        "own_statistics": (own_ok, {lang: show(*own, lang) for lang in ("en", "zh")}),
        "imagenet_statistics": (_off(*cifar) and _off(*photos), {
            "en": f"CIFAR-10 (published stats): {rounded(cifar, 'en')};  photo crops: {rounded(photos, 'en')}",
            "zh": f"CIFAR-10（公开的统计量）：{rounded(cifar, 'zh')}；照片小块：{rounded(photos, 'zh')}",
        }),
        "batch_equals_per_image": (diff < 1e-5, {
            "en": f"max |difference| {diff:.1e};  per image {per_image_ms:.1f} ms, "
                  f"batched {batched_ms:.1f} ms for {len(x)} images",
            "zh": f"最大 |差值| {diff:.1e}；{len(x)} 张图片，逐张处理 {per_image_ms:.1f} ms，"
                  f"按批处理 {batched_ms:.1f} ms",
        }),
    }
