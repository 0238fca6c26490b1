"""`torchprimer data stats`: what a data set holds, from the data itself.

Counts per split are the ones `torchprimer train` uses (same fractions and split seed);
per-channel mean and std come from the training split alone, on the scale training sees
before normalisation (bytes divided by 255). For RGB images the seed's ImageNet constants
(§4.1) are set beside the data's own, with what normalising by them really gives: a
per-channel mean of (m - m_ImageNet) / s_ImageNet and std of s / s_ImageNet, not 0 and 1.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from torchprimer.data.registry import Dataset
from torchprimer.data.splits import channel_stats, empty_split_advice, split_indices

# The constants the seed's §4.1 uses for CIFAR-10: ImageNet's (torchvision's model zoo).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SHOWN_CHANNELS = 8  # a wide table's per-feature figures are cut here in text; --json has all


def channel_range(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel min and max, bytes scaled to [0, 1]."""
    dims = [d for d in range(x.ndim) if d != 1]
    lo, hi = x.amin(dim=dims), x.amax(dim=dims)
    if x.dtype == torch.uint8:
        return lo.float() / 255.0, hi.float() / 255.0
    return lo.float(), hi.float()


def imagenet_comparison(mean: torch.Tensor, std: torch.Tensor) -> dict[str, Any]:
    """What normalising this data with ImageNet's constants gives, per channel.

    Normalising is affine per channel, so the result's mean and std follow exactly from
    the data's own: ((m - m_I) / s_I, s / s_I).
    """
    m_i, s_i = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    return {
        "imagenet_mean": list(IMAGENET_MEAN), "imagenet_std": list(IMAGENET_STD),
        "data_mean": mean.tolist(), "data_std": std.tolist(),
        "after_imagenet_mean": ((mean - m_i) / s_i).tolist(), "after_imagenet_std": (std / s_i).tolist(),
        "after_own_mean": [0.0] * 3, "after_own_std": [1.0] * 3,
    }


def dataset_stats(
    dataset: Dataset, *, val_fraction: float = 0.1, test_fraction: float = 0.1, split_seed: int = 0
) -> dict[str, Any]:
    """Counts, shape, classes and channel statistics of `dataset` as `train` would split it."""
    train_idx, val_idx, test_idx = split_indices(
        dataset, val_fraction=val_fraction, test_fraction=test_fraction, split_seed=split_seed
    )
    y_test = dataset.y_test if test_idx is None else dataset.y[test_idx]
    assert y_test is not None
    k = dataset.num_classes
    counts = {
        "train": torch.bincount(dataset.y[train_idx], minlength=k),
        "val": torch.bincount(dataset.y[val_idx], minlength=k),
        "test": torch.bincount(y_test, minlength=k),
    }
    x_train = dataset.x[train_idx]
    if len(x_train):
        mean, std = channel_stats(x_train)
        lo, hi = channel_range(x_train)
    else:  # an empty training split (train_would_refuse says so) has no statistics
        mean = std = lo = hi = torch.full((x_train.shape[1],), float("nan"))
    out: dict[str, Any] = {
        "name": dataset.name,
        "source": dataset.source,
        "kind": dataset.kind,
        "stored_as": str(dataset.x.dtype).removeprefix("torch."),
        "input_shape": list(dataset.input_shape),
        "splits": {s: int(c.sum()) for s, c in counts.items()},
        "official_test_split": test_idx is None,
        # What `train` says when a split comes out empty: this command only describes the split, so it exits 0.
        "train_would_refuse": empty_split_advice(dataset, train_idx, val_idx, test_idx, val_fraction, test_fraction,
                                                 split_seed),
        "split": {"val_fraction": val_fraction, "test_fraction": test_fraction, "seed": split_seed},
        "classes": [
            {"index": i, "name": name, **{s: int(c[i]) for s, c in counts.items()},
             "total": int(sum(int(c[i]) for c in counts.values()))}
            for i, name in enumerate(dataset.classes)
        ],
        "channels": {"mean": mean.tolist(), "std": std.tolist(), "min": lo.tolist(), "max": hi.tolist()},
        "scale": "bytes / 255" if dataset.x.dtype == torch.uint8 else "as stored",
        "from_cache": dataset.from_cache,
    }
    if dataset.kind == "image" and len(dataset.input_shape) == 3 and dataset.input_shape[0] == 3:
        out["imagenet"] = imagenet_comparison(mean, std)
    return out


def _number(value: float) -> str:
    """Four decimals where they show the value, else scientific notation: a feature measured in 1e-5 read
    "std 0.0000", a constant feature to the eye, and one in 1e30 as a 35-digit integer."""
    if value == 0:
        return f"{0.0:.4f}"  # not "-0.0000"
    if 1e-3 <= abs(value) < 1e5 or not math.isfinite(value):
        return f"{value:.4f}"
    return f"{value:.3e}"


def _row(values: list[float]) -> str:
    shown = " ".join(_number(v) for v in values[:SHOWN_CHANNELS])
    return shown + (f" ... ({len(values)} in all; see --json)" if len(values) > SHOWN_CHANNELS else "")


def _shares(stats: dict[str, Any]) -> str:
    """The split shares asked for, where they are not train's defaults: the counts beside them follow them."""
    split = stats["split"]
    shares = [f"val {split['val_fraction']:g}"] if split["val_fraction"] != 0.1 else []
    if not stats["official_test_split"] and split["test_fraction"] != 0.1:
        shares.append(f"test {split['test_fraction']:g}")
    return ", ".join(shares) + ", " if shares else ""


def format_stats(stats: dict[str, Any]) -> str:
    """The human-readable report of `dataset_stats`."""
    s, ch = stats["splits"], stats["channels"]
    per = "feature" if stats["kind"] == "table" else "channel"
    test_note = "official test split" if stats["official_test_split"] else "test split made here, stratified"
    lines = [
        f"{stats['name']}: {stats['source']}",
        f"  kind {stats['kind']}, input shape {tuple(stats['input_shape'])}, stored as {stats['stored_as']}",
        f"  samples: train {s['train']:,}  val {s['val']:,}  test {s['test']:,}  ({test_note}; "
        f"{_shares(stats)}split seed {stats['split']['seed']}, as `torchprimer train` splits it)",
    ]
    if stats.get("train_would_refuse"):
        lines.append(f"  note: `torchprimer train` refuses this split: {stats['train_would_refuse']}")
    lines.append(f"  classes ({len(stats['classes'])}):")
    numbered = all(c["name"] == str(c["index"]) for c in stats["classes"])
    # Index numbers right-aligned, names left-aligned after them: a name column aligned to the right
    # pushed each index out of its column ("  0 -1" above "   1 1").
    name_width = max(len(c["name"]) for c in stats["classes"])
    labels = [f"{c['name']:>{name_width}}" if numbered else f"{c['index']:>3} {c['name']:<{name_width}}"
              for c in stats["classes"]]
    for label, c in zip(labels, stats["classes"], strict=True):
        lines.append(f"    {label}  total {c['total']:>7,}  train {c['train']:>7,}  "
                     f"val {c['val']:>6,}  test {c['test']:>6,}")
    lines += [
        f"  per-{per} statistics of the training split ({stats['scale']}):",
        f"    mean {_row(ch['mean'])}",
        f"    std  {_row(ch['std'])}",
        f"    min  {_row(ch['min'])}",
        f"    max  {_row(ch['max'])}",
    ]
    if "imagenet" in stats:
        im = stats["imagenet"]
        lines += [
            "  the seed (§4.1) normalises with ImageNet's constants, not this data's own:",
            "                 mean (R G B)              std (R G B)",
            f"    ImageNet     {_row(im['imagenet_mean'])}    {_row(im['imagenet_std'])}",
            f"    this data    {_row(im['data_mean'])}    {_row(im['data_std'])}",
            f"  normalised with ImageNet's, the data has mean {_row(im['after_imagenet_mean'])} "
            f"and std {_row(im['after_imagenet_std'])}",
            "  normalised with its own (what `torchprimer train` does): mean 0 and std 1 in every channel",
        ]
    return "\n".join(lines)
