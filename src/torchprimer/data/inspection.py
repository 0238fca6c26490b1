"""`torchprimer data inspect`: pictures of a data set, and linear algebra that says something
true about it (seed §4.2, used on real data instead of random matrices).

Written to the output folder:
  samples.png       a few training samples of each class (images, signals or points)
  class_counts.png  samples per class in each split
  pca.png           the training set projected on its first two principal components,
                    from torch.linalg.svd of the centred data (explained variance printed)
  spectrum.png      the eigenvalues of the feature covariance (torch.linalg.eigvalsh, on a
                    symmetric matrix), before and after standardising each feature
  summary.txt/.json every number printed

The covariance is computed with torch.einsum and checked against torch.cov. Its condition
number (largest over smallest non-zero eigenvalue) says how stretched the loss surface of
a linear model on raw features is; standardising each feature shrinks it, which is why
gradient descent converges faster on normalised data.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from torchprimer.data.registry import Dataset
from torchprimer.data.splits import empty_split_advice, split_indices, to_float
from torchprimer.errors import UserError
from torchprimer.fileio import make_dirs, write_strict_json, write_text
from torchprimer.report import figures, save_figure, shown_channels

MAX_FEATURES = 4096  # a d x d float64 covariance of this size is 128 MiB
SHOWN_CLASSES = 20
PER_CLASS = 8


def sample_budget(d: int, n: int) -> int:
    """How many training samples the linear algebra uses: all up to 5,000, fewer when the
    feature count makes an n x d SVD slow; never under 1,000 (or n)."""
    return min(n, 5000, max(1000, int(4e9 / max(d, 1) ** 2)))


def pick_samples(n_total: int, n: int, seed: int = 0) -> torch.Tensor | None:
    """Sorted indices of `n` of `n_total` samples (seeded), or None to use them all."""
    if n_total <= n:
        return None
    return torch.sort(torch.randperm(n_total, generator=torch.Generator().manual_seed(seed))[:n]).values


def feature_matrix(x: torch.Tensor) -> tuple[torch.Tensor, str]:
    """(n, d) float64 features, and a note on what was done to keep d manageable.

    Images with more than MAX_FEATURES pixel values are average-pooled until they fit;
    other wide inputs keep their first MAX_FEATURES features.
    """
    note = ""
    xf = to_float(x).double()
    if xf.ndim == 4 and xf[0].numel() > MAX_FEATURES:
        c, h, w = xf.shape[1:]
        side = max(1, int(math.sqrt(MAX_FEATURES / c)))
        xf = F.adaptive_avg_pool2d(xf, (min(h, side), min(w, side)))
        note = f"images average-pooled from {h}x{w} to {xf.shape[2]}x{xf.shape[3]} to keep the covariance small"
    xf = xf.flatten(1)
    if xf.shape[1] > MAX_FEATURES:
        note = f"first {MAX_FEATURES} of {xf.shape[1]} features"
        xf = xf[:, :MAX_FEATURES]
    return xf, note


def covariance(x: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Sample covariance (d x d) as an einsum over samples, and its largest difference from torch.cov."""
    xc = x - x.mean(dim=0)
    cov = torch.einsum("ni,nj->ij", xc, xc) / (x.shape[0] - 1)
    reference = torch.cov(x.T)
    return cov, float((cov - reference).abs().max())


def spectrum(cov: torch.Tensor) -> dict[str, Any]:
    """Eigenvalues of a symmetric matrix (ascending) with rank and condition number.

    Eigenvalues within rounding of zero (below d * eps * largest) belong to directions
    the data never varies in (constant pixels, fewer samples than features); the condition
    number is taken over the rest, and `rank` says how many that is.
    """
    eig = torch.linalg.eigvalsh(cov)
    top = float(eig[-1])
    tol = top * cov.shape[0] * torch.finfo(cov.dtype).eps
    nonzero = eig[eig > tol]
    smallest = float(nonzero.min()) if len(nonzero) else 0.0
    return {
        "eigenvalues": eig, "largest": top, "smallest_nonzero": smallest, "rank": len(nonzero),
        "dim": cov.shape[0], "condition_number": top / smallest if smallest > 0 else math.inf,
    }


def standardise(x: torch.Tensor) -> torch.Tensor:
    """Each feature to mean 0, std 1; constant features are only centred."""
    std = x.std(dim=0)
    return (x - x.mean(dim=0)) / torch.where(std > 0, std, torch.ones_like(std))


def pca(x: torch.Tensor, k: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(scores on the first k components, explained-variance ratios, singular values) via SVD.

    With X centred, X = U S Vh; the principal axes are the rows of Vh, the scores U S, and
    component i explains S_i^2 / sum(S^2) of the variance (S_i^2 / (n-1) is the i-th
    eigenvalue of the covariance: the two routes must agree).
    """
    xc = x - x.mean(dim=0)
    _, s, vh = torch.linalg.svd(xc, full_matrices=False)
    explained = s**2 / (s**2).sum()
    return xc @ vh[:k].T, explained, s


def analyse(
    dataset: Dataset, *, val_fraction: float = 0.1, test_fraction: float = 0.1, split_seed: int = 0
) -> dict[str, Any]:
    """Every number of the inspection, computed on (a sample of) the training split `train` would use."""
    train_idx, val_idx, test_idx = split_indices(
        dataset, val_fraction=val_fraction, test_fraction=test_fraction, split_seed=split_seed
    )
    if len(train_idx) < 2:  # a covariance divides by n - 1; `data stats` shows such a split with a note
        advice = empty_split_advice(dataset, train_idx, val_idx, test_idx, val_fraction, test_fraction, split_seed)
        raise UserError(advice or f"the training split of {dataset.name} holds 1 sample, and a covariance needs "
                        "at least 2; use a larger data set or a smaller --val-fraction/--test-fraction")
    x_all = dataset.x[train_idx]
    y_all = dataset.y[train_idx]
    d = x_all[0].numel()
    n = sample_budget(d, len(x_all))
    idx = pick_samples(len(x_all), n, seed=split_seed)
    x, note = feature_matrix(x_all if idx is None else x_all[idx])
    y = y_all if idx is None else y_all[idx]
    if idx is not None:
        note = f"{n:,} training samples drawn at random (seed {split_seed})" + (f"; {note}" if note else "")
    cov, einsum_diff = covariance(x)
    before = spectrum(cov)
    after = spectrum(covariance(standardise(x))[0])
    scores, explained, singular = pca(x, k=2)
    # S^2/(n-1) are the covariance eigenvalues: a check that SVD and eigvalsh tell the same story. Only those
    # above rounding (the rank's) are compared: past the rank both routes give noise around zero, whose relative
    # difference is anything (a feature that was the sum of two others read "max rel. diff 8.0e-02").
    top = min(10, len(singular), before["rank"])
    from_svd = singular[:top] ** 2 / (x.shape[0] - 1)
    from_eig = before["eigenvalues"].flip(0)[:top]
    svd_eig_diff = float(((from_svd - from_eig).abs() / from_eig).max()) if top else 0.0
    y_test = dataset.y_test if test_idx is None else dataset.y[test_idx]
    assert y_test is not None
    k = dataset.num_classes
    return {
        "name": dataset.name, "kind": dataset.kind, "input_shape": list(dataset.input_shape),
        "classes": list(dataset.classes),
        "counts": {
            "train": torch.bincount(y_all, minlength=k).tolist(),
            "val": torch.bincount(dataset.y[val_idx], minlength=k).tolist(),
            "test": torch.bincount(y_test, minlength=k).tolist(),
        },
        "samples_used": x.shape[0], "features_used": x.shape[1], "sampling_note": note,
        "einsum_vs_torch_cov_max_abs_diff": einsum_diff,
        "covariance_max_abs": float(cov.abs().max()),
        "explained_variance": explained[:10].tolist(),
        "svd_vs_eigvalsh_max_rel_diff": svd_eig_diff,
        "before": {k2: v for k2, v in before.items() if k2 != "eigenvalues"},
        "after": {k2: v for k2, v in after.items() if k2 != "eigenvalues"},
        "_eig_before": before["eigenvalues"], "_eig_after": after["eigenvalues"],
        "_scores": scores, "_y": y, "_train_x": x_all, "_train_y": y_all,
    }


def _smallest(spectrum: dict[str, Any]) -> str:
    """The smallest non-zero eigenvalue, or "none" where every one is zero ("smallest non-zero 0" said)."""
    return f"{spectrum['smallest_nonzero']:.4g}" if spectrum["rank"] else "none"


def _condition(spectrum: dict[str, Any]) -> str:
    """The condition number, or why there is none: with rank 0 no direction varies at all."""
    return f"{spectrum['condition_number']:.4g}" if spectrum["rank"] else "undefined (no direction varies)"


def format_summary(a: dict[str, Any]) -> str:
    ev = a["explained_variance"]
    b, f = a["before"], a["after"]
    lines = [
        f"{a['name']}: {a['kind']} {tuple(a['input_shape'])}, {len(a['classes'])} classes",
        f"  linear algebra on {a['samples_used']:,} training samples x {a['features_used']:,} features"
        + (f" ({a['sampling_note']})" if a["sampling_note"] else ""),
        f"  covariance by torch.einsum('ni,nj->ij') / (n-1): max |einsum - torch.cov| = "
        f"{a['einsum_vs_torch_cov_max_abs_diff']:.2e} (entries up to {a['covariance_max_abs']:.3g})",
        (f"  PCA by torch.linalg.svd: PC1 explains {ev[0]:.1%}, PC2 {ev[1]:.1%}, first {len(ev)} together "
         f"{sum(ev):.1%}" if len(ev) > 1 else f"  PCA by torch.linalg.svd: one feature, so one component: PC1 "
         f"explains {ev[0]:.1%}") if all(map(math.isfinite, ev)) else
        "  PCA by torch.linalg.svd: every feature is constant in the training split, so there is no variance to "
        "explain",
        f"    S^2/(n-1) matches the top eigenvalues of the covariance (max rel. diff "
        f"{a['svd_vs_eigvalsh_max_rel_diff']:.1e})",
        "  eigenvalues of the feature covariance (torch.linalg.eigvalsh):",
        f"    raw features:          largest {b['largest']:.4g}, smallest non-zero {_smallest(b)}, "
        f"rank {b['rank']}/{b['dim']}, condition number {_condition(b)}",
        f"    standardised features: largest {f['largest']:.4g}, smallest non-zero {_smallest(f)}, "
        f"rank {f['rank']}/{f['dim']}, condition number {_condition(f)}",
    ]
    if a["samples_used"] <= b["dim"]:  # n samples span at most n-1 directions: the rank is the sample's, not the data's
        lines.append(f"    (with {a['samples_used']:,} samples of {b['dim']:,} features the rank is at most "
                     f"{a['samples_used'] - 1:,} and the smallest eigenvalues are the sample's, so the rank and "
                     "condition numbers describe this sample, not the whole split)")
    if b["rank"] and f["rank"]:
        lines.append(f"    standardising divides the condition number by "
                     f"{b['condition_number'] / f['condition_number']:.3g}; plain gradient descent on a linear "
                     "least-squares model needs steps in proportion to it")
    if a["kind"] == "table":
        lines.append("    (`train` normalises tables per feature: exactly this standardisation)")
    else:
        lines.append("    (`train` normalises with one mean/std per channel: that rescales all of a channel's values "
                     "alike, so a one-channel set keeps its raw condition number; it fixes the scale, not the shape)")
    return "\n".join(lines)


def plot_samples(x: torch.Tensor, y: torch.Tensor, classes: list[str], kind: str, path: Path) -> None:
    plt = figures()
    shown = list(range(min(len(classes), SHOWN_CLASSES)))
    picks = [torch.nonzero(y == c).flatten()[:PER_CLASS] for c in shown]
    if kind == "image" and x.ndim == 4:
        # One mosaic and one imshow: 80 small subplots take seconds to draw.
        c, h, w = x.shape[1:]
        gap = max(1, h // 8)
        k = shown_channels(c)
        mosaic = torch.ones(len(shown) * (h + gap), PER_CLASS * (w + gap), k)
        for r in range(len(shown)):
            for j, i in enumerate(picks[r].tolist()):
                img = to_float(x[i])[:k]
                if x.dtype != torch.uint8:  # floats of any range: stretch each image to [0, 1] to show it
                    img = (img - img.min()) / (img.max() - img.min()).clamp_min(1e-12)
                mosaic[r * (h + gap) : r * (h + gap) + h, j * (w + gap) : j * (w + gap) + w] = img.permute(1, 2, 0)
        fig, ax = plt.subplots(figsize=(PER_CLASS * 0.8 + 1.2, len(shown) * 0.8 * h / w + 0.5))
        ax.imshow(mosaic.squeeze(-1).clamp(0, 1).numpy(), cmap="gray" if k == 1 else None, vmin=0, vmax=1,
                  interpolation="nearest")
        ax.set_yticks([r * (h + gap) + h / 2 for r in range(len(shown))], [classes[k] for k in shown], fontsize=7)
        ax.set_xticks([])
        ax.set_title(f"{PER_CLASS} training samples per class", fontsize=9)
    elif kind == "signal":
        cols = min(5, len(shown))
        rows = math.ceil(len(shown) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(cols * 2.6, rows * 1.8), squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for r, c in enumerate(shown):
            ax = axes.flat[r]
            ax.axis("on")
            for i in picks[r]:
                ax.plot(to_float(x[i]).flatten().numpy(), lw=0.8)
            ax.set_title(f"class {classes[c]}", fontsize=8)
            ax.tick_params(labelsize=6)
    elif x.ndim == 2 and x.shape[1] == 2:
        fig, ax = plt.subplots(figsize=(5, 5))
        for c in shown:
            pts = x[y == c].float()
            ax.scatter(pts[:, 0], pts[:, 1], s=6, alpha=0.7, label=classes[c])
        ax.legend(fontsize=7, markerscale=2)
        ax.set(xlabel="feature 1", ylabel="feature 2", title="training samples")
    else:
        rows = torch.cat(picks)
        fig, ax = plt.subplots(figsize=(8, 0.12 * len(rows) + 1.5))
        ax.imshow(to_float(x[rows]).flatten(1).numpy(), aspect="auto", cmap="viridis", interpolation="nearest")
        ax.set(xlabel="feature", ylabel="sample (grouped by class)", title=f"{PER_CLASS} samples per class")
    save_figure(fig, path, dpi=100)


def plot_counts(counts: dict[str, list[int]], classes: list[str], path: Path) -> None:
    plt = figures()
    k = len(classes)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.5 * k + 2), 3.5))
    width = 0.27
    for i, split in enumerate(("train", "val", "test")):
        ax.bar([c + (i - 1) * width for c in range(k)], counts[split], width, label=split)
    ax.set_xticks(range(k), classes if k <= 30 else [str(c) for c in range(k)], rotation=45 if k > 10 else 0,
                  fontsize=7, ha="right" if k > 10 else "center")
    ax.set(ylabel="samples", title="samples per class and split")
    ax.set_ylim(0, 1.25 * max(max(v) for v in counts.values()))
    ax.legend(ncol=3, loc="upper center")
    save_figure(fig, path, dpi=100)


def plot_pca(scores: torch.Tensor, y: torch.Tensor, classes: list[str], explained: list[float], path: Path) -> None:
    plt = figures()
    fig, ax = plt.subplots(figsize=(6, 5))
    for c in range(min(len(classes), SHOWN_CLASSES)):
        pts = scores[y == c]
        if len(pts):
            ax.scatter(pts[:, 0], pts[:, 1] if pts.shape[1] > 1 else torch.zeros(len(pts)), s=4, alpha=0.6,
                       label=classes[c])
    ax.set(xlabel=f"PC1 ({explained[0]:.1%} of variance)",
           ylabel=f"PC2 ({explained[1]:.1%})" if len(explained) > 1 else "", title="PCA of the training split (SVD)")
    ax.legend(fontsize=6, markerscale=3, ncol=2)
    save_figure(fig, path, dpi=100)


def plot_spectrum(eig_before: torch.Tensor, eig_after: torch.Tensor, a: dict[str, Any], path: Path) -> None:
    plt = figures()
    fig, ax = plt.subplots(figsize=(6, 4))
    for eig, label, info in ((eig_before, "raw", a["before"]), (eig_after, "standardised", a["after"])):
        values = eig.flip(0)
        values = values[values >= info["smallest_nonzero"]]  # below it is rounding noise around zero
        if info["rank"]:  # a constant set has no positive eigenvalue to draw on a log scale
            ax.semilogy(range(1, len(values) + 1), values.numpy(),
                        label=f"{label}: condition number {_condition(info)}")
    if not a["before"]["rank"]:
        ax.text(0.5, 0.5, "every feature is constant:\nno eigenvalue above zero", ha="center", va="center",
                transform=ax.transAxes)
    ax.set(xlabel="eigenvalue rank", ylabel="eigenvalue (log scale)", title="spectrum of the feature covariance")
    ax.grid(alpha=0.3, which="both")
    if a["before"]["rank"]:
        ax.legend()
    save_figure(fig, path, dpi=100)


INSPECT_FILES = ("samples.png", "class_counts.png", "pca.png", "spectrum.png", "summary.txt", "summary.json")


def inspect_dataset(
    dataset: Dataset, out: str | Path, *, val_fraction: float = 0.1, test_fraction: float = 0.1, split_seed: int = 0
) -> dict[str, Any]:
    """Write the pictures and the summary to `out`; return the summary (JSON-ready)."""
    a = analyse(dataset, val_fraction=val_fraction, test_fraction=test_fraction, split_seed=split_seed)
    out = make_dirs(out)  # after the analysis, whose refusals leave no empty folder behind
    plot_samples(a["_train_x"], a["_train_y"], a["classes"], a["kind"], out / "samples.png")
    plot_counts(a["counts"], a["classes"], out / "class_counts.png")
    plot_pca(a["_scores"], a["_y"], a["classes"], a["explained_variance"], out / "pca.png")
    plot_spectrum(a["_eig_before"], a["_eig_after"], a, out / "spectrum.png")
    summary = {k: v for k, v in a.items() if not k.startswith("_")}
    summary["files"] = [str(out / f) for f in INSPECT_FILES]
    text = format_summary(summary)
    summary["text"] = text
    write_text(out / "summary.txt", text + "\n")
    write_strict_json(out / "summary.json", summary)
    return summary
