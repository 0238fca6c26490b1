"""Pictures and tables of a run: loss/accuracy curves, confusion matrices.

matplotlib runs headless (Agg); each figure is written atomically.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch

from torchprimer.errors import UserError
from torchprimer.fileio import write_atomic

T = TypeVar("T")


def in_language(texts: Mapping[str, T], lang: str) -> T:
    """A renderer's strings for `lang` ("en" or "zh"), or one clear error for any other language."""
    if lang not in texts:
        raise UserError(f"unknown language {lang!r}; use en or zh")
    return texts[lang]


def display_width(text: str) -> int:
    """Columns a terminal gives `text`: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, width: int, right: bool = False) -> str:
    """`text` padded with spaces to `width` terminal columns (on the left when `right`), for tables
    in English and Chinese alike."""
    fill = " " * max(0, width - display_width(text))
    return fill + text if right else text + fill


def counted(n: int, word: str, words: str | None = None) -> str:
    """`n` with its noun, singular for one: "1 epoch", "1,200 samples" (`words` where the plural is not word + s)."""
    return f"{n:,} {word if n == 1 else words or word + 's'}"


class Figures:
    """pyplot's `subplots` and `Rectangle` without pyplot: figures made as matplotlib.figure.Figure
    objects need no backend and no display, and saving them as PNG uses Agg by itself. pyplot would
    have needed a backend, and switching it to Agg (as torchprimer did) took a notebook's inline or a
    GUI's backend from its caller: `train()` in Jupyter left `plt.show()` showing nothing."""

    @staticmethod
    def subplots(nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Any, Any]:
        from matplotlib.figure import Figure

        grid = {k: kwargs.pop(k) for k in ("sharex", "sharey", "squeeze", "width_ratios", "height_ratios",
                                           "subplot_kw", "gridspec_kw") if k in kwargs}
        fig = Figure(**kwargs)  # what is left is the figure's: figsize, dpi, layout, ...
        return fig, fig.subplots(nrows, ncols, **grid)

    @staticmethod
    def Rectangle(*args: Any, **kwargs: Any) -> Any:
        from matplotlib.patches import Rectangle

        return Rectangle(*args, **kwargs)


def figures() -> type[Figures]:
    """What the plotting code calls `plt`: see Figures."""
    return Figures


# Fonts with Chinese glyphs, in order of preference; matplotlib's default (DejaVu Sans) has none.
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
             "SimHei", "Microsoft YaHei", "PingFang SC", "Heiti SC", "AR PL UMing CN")


def cjk_font() -> str | None:
    """An installed font family that draws Chinese, or None: without one, matplotlib draws empty boxes."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def shown_channels(channels: int) -> int:
    """How many of an image's channels a picture shows: 3 (RGB) from images with 3 or more, else the
    first alone, in gray. Matplotlib draws only 1, 3 or 4 channels: a 2-channel image stopped
    `data inspect` and `evaluate` with a TypeError."""
    return 3 if channels >= 3 else 1


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Write `fig` as a PNG atomically and close it."""
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight"))
    return Path(path)


def plot_curves(history: Sequence[dict[str, float]], path: str | Path, title: str = "") -> Path:
    """Loss and accuracy per epoch, training beside validation."""
    plt = figures()
    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [r["train_loss"] for r in history], "o-", label="train (epoch mean)")
    ax_loss.plot(epochs, [r["val_loss"] for r in history], "s-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.plot(epochs, [r["train_acc"] for r in history], "o-", label="train")
    ax_acc.plot(epochs, [r["val_acc"] for r in history], "s-", label="validation")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts[i, j] = samples of true class i predicted as j."""
    idx = y_true.long().cpu() * num_classes + y_pred.long().cpu()
    return torch.bincount(idx, minlength=num_classes**2).reshape(num_classes, num_classes)


def plot_confusion(matrix: torch.Tensor, classes: Sequence[str], path: str | Path, title: str = "") -> Path:
    plt = figures()
    k = len(classes)
    size = max(4.0, 0.45 * k + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix.numpy(), cmap="Blues")
    ax.set(xticks=range(k), yticks=range(k), xlabel="predicted", ylabel="true", title=title or "confusion matrix")
    ax.set_xticklabels(classes, rotation=90 if k > 10 else 0)
    ax.set_yticklabels(classes)
    if k <= 20:
        top = matrix.max().item() or 1
        for i in range(k):
            for j in range(k):
                v = int(matrix[i, j])
                ax.text(j, i, str(v), ha="center", va="center", fontsize=8,
                        color="white" if v > top / 2 else "black")
    return save_figure(fig, path)
