"""`torchprimer evaluate RUN_DIR`: how good the trained model is on the test split, in detail.

Accuracy alone hides which classes fail; per-class precision, recall and F1, the confusion
matrix and the most confidently wrong samples ("top losses", fast.ai's name) show where.
Loss and accuracy are computed exactly as training computed them (same split, same
objective, same batching), so they equal the figures in summary.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from torchprimer import report
from torchprimer.errors import UserError, check_whole
from torchprimer.runfolder import TOP_LOSSES_PNG, Run
from torchprimer.training.loop import predict_outputs
from torchprimer.training.run import float32_default, wilson_interval

CONFUSION_PNG = "confusion.png"


def class_scores(matrix: torch.Tensor, classes: list[str]) -> list[dict[str, Any]]:
    """Precision, recall, F1 and support per class from a confusion matrix (rows = true).

    A class never predicted has precision 0, and one never present has recall 0, as
    scikit-learn reports with zero_division=0: a score of 0 there is honest, NaN is not useful.
    """
    m = matrix.double()
    tp = m.diagonal()
    predicted, actual = m.sum(dim=0), m.sum(dim=1)
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(actual > 0, tp / actual.clamp(min=1), torch.zeros_like(tp))
    both = precision + recall
    f1 = torch.where(both > 0, 2 * precision * recall / both.clamp(min=1e-300), torch.zeros_like(tp))
    return [
        {"class": name, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(classes, precision, recall, f1, actual, strict=True)
    ]


def top_losses(
    probabilities: torch.Tensor, y: torch.Tensor, predicted: torch.Tensor, count: int
) -> list[dict[str, Any]]:
    """The `count` wrongly predicted samples with the highest loss −log p(true class)."""
    p_true = probabilities.gather(1, y.long().unsqueeze(1)).squeeze(1)
    losses = -p_true.clamp(min=1e-12).log()
    wrong = (predicted != y).nonzero().flatten()
    order = wrong[losses[wrong].argsort(descending=True)][:count]
    return [
        {"index": int(i), "true": int(y[i]), "predicted": int(predicted[i]),
         "confidence": float(probabilities[i, predicted[i]]), "loss": float(losses[i])}
        for i in order
    ]


@float32_default()
def evaluate_run(run: Run, *, top: int = 16, figures: bool = True) -> dict[str, Any]:
    """Test-split metrics of a loaded run; with `figures`, writes confusion.png and top_losses.png.

    `top` = 0 lists and draws no top losses. A top_losses.png this evaluation does not redraw (top 0,
    or no wrong sample) is removed: left in place, an earlier evaluation's figure would pass for this one.
    """
    if not isinstance(run, Run) or run.x_test is None or run.y_test is None:
        raise UserError("evaluate_run takes a run loaded with its test split: "
                        "evaluate_run(load_run(run_dir)), not with_data=False")
    top = check_whole("evaluate_run's top", top, 0, 16)
    x, y = run.x_test, run.y_test
    outputs = predict_outputs(run.model, x, amp=run.config.amp)
    predicted = run.objective.predict(outputs)
    probabilities = run.objective.probabilities(outputs)
    matrix = report.confusion_matrix(y, predicted, len(run.classes))
    accuracy = float((predicted == y).sum()) / max(1, len(y))
    scores = class_scores(matrix, run.classes)
    worst = top_losses(probabilities.cpu(), y.cpu(), predicted.cpu(), top)
    for item in worst:
        item["true_class"], item["predicted_class"] = run.classes[item["true"]], run.classes[item["predicted"]]
    result: dict[str, Any] = {
        "run_dir": str(run.run_dir),
        "dataset": run.config.dataset,
        "model": run.config.model,
        "samples": len(y),
        "accuracy": accuracy,
        "loss": float(run.objective.loss(outputs, y)),
        "label_smoothing": run.config.label_smoothing,  # the loss above is the smoothed one, as training's
        "accuracy_ci95": list(wilson_interval(accuracy, len(y))),  # as train reports it
        "macro_f1": sum(s["f1"] for s in scores) / max(1, len(scores)),
        "per_class": scores,
        "confusion_matrix": matrix.tolist(),
        "top_losses": worst,
        "top_losses_asked": top,
        "files": {},
        "removed": [],
    }
    if figures:
        try:
            _write_figures(run, result, matrix, worst)
        except UserError as exc:
            # A run folder evaluate may not write in (another user's, a read-only copy): the figures are a
            # by-product, so the metrics are still reported, with the reason the figures are missing.
            # (the writer's "choose another path" does not apply: evaluate writes only into the run folder)
            reason = str(exc).removesuffix("; choose another path")
            result["not_written"] = f"{reason}; copy the run folder somewhere you can write to get them"
    return result


def _write_figures(run: Run, result: dict[str, Any], matrix: torch.Tensor, worst: list[dict[str, Any]]) -> None:
    """confusion.png and, for images, top_losses.png into the run folder, named in result["files"]."""
    title = f"test confusion · accuracy {result['accuracy']:.4f}"
    result["files"]["confusion"] = str(report.plot_confusion(matrix, run.classes, run.run_dir / CONFUSION_PNG,
                                                             title=title))
    if run.kind == "image" and worst:
        x = run.x_test
        assert x is not None
        images = x[torch.tensor([w["index"] for w in worst], device=x.device)].cpu()
        result["files"]["top_losses"] = str(plot_top_losses(
            _denormalize(images, run.mean, run.std), worst, run.run_dir / TOP_LOSSES_PNG))
    elif run.kind == "image" and (run.run_dir / TOP_LOSSES_PNG).is_file():
        try:
            (run.run_dir / TOP_LOSSES_PNG).unlink()
        except OSError as exc:
            raise UserError(f"cannot remove {run.run_dir / TOP_LOSSES_PNG}: {exc.strerror or exc}") from None
        result["removed"].append(str(run.run_dir / TOP_LOSSES_PNG))


def _denormalize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Back to the raw [0, 1] pixel scale so the pictures look like the data set's images."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    safe_std = torch.where(std > 0, std, torch.ones_like(std))
    return (x * safe_std.view(shape) + mean.view(shape)).clamp(0, 1)


def plot_top_losses(images: torch.Tensor, worst: list[dict[str, Any]], path: Path) -> Path:
    """A grid of (N, C, H, W) images titled 'true → predicted', confidence and loss."""
    plt = report.figures()
    n = len(worst)
    cols = min(n, 8)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.9 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, item in zip(axes.flat, images, worst, strict=False):
        if report.shown_channels(image.shape[0]) == 1:
            ax.imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=1)
        else:
            ax.imshow(image[:3].permute(1, 2, 0).numpy())
        ax.set_title(f"{item['true_class']} → {item['predicted_class']}\n"
                     f"p={item['confidence']:.2f} loss {item['loss']:.1f}", fontsize=7)
    fig.suptitle("top losses: wrong test samples with the highest loss (true → predicted, p of the prediction)",
                 fontsize=9)
    return report.save_figure(fig, path)


def loss_name(label_smoothing: float, split: str = "test") -> str:
    """"test loss", or "test loss (label smoothing 0.2)": the figure is the smoothed objective training
    minimised, larger than plain cross-entropy, so it must not be compared with a run without it."""
    return f"{split} loss" + (f" (label smoothing {label_smoothing:g})" if label_smoothing else "")


def interval_line(ci95: list[float], samples: int) -> str:
    """The accuracy's 95% interval as one line, the same in `train` and `evaluate`."""
    return f"95% interval for the accuracy on {samples} test samples (Wilson score): {ci95[0]:.3f} to {ci95[1]:.3f}"


def format_report(result: dict[str, Any]) -> str:
    """The evaluation as plain text: headline, per-class table, confusion matrix, top losses."""
    lines = [
        f"{result['dataset']} · {result['model']} · {result['samples']} test samples",
        f"test accuracy {result['accuracy']:.4f}  {loss_name(result['label_smoothing'])} {result['loss']:.4f}  "
        f"macro F1 {result['macro_f1']:.4f}",
        interval_line(result["accuracy_ci95"], result["samples"]),
        "",
    ]
    scores = result["per_class"]
    width = max([5, *(len(s["class"]) for s in scores)])
    lines.append(f"{'class':>{width}}  precision  recall      f1  support")
    for s in scores:
        lines.append(f"{s['class']:>{width}}  {s['precision']:9.4f}  {s['recall']:6.4f}  {s['f1']:6.4f}  "
                     f"{s['support']:7d}")
    lines += ["", "confusion matrix (rows: true class, columns: predicted)"]
    matrix = result["confusion_matrix"]
    names = [s["class"] for s in scores]
    cell = max([3, *(len(str(v)) for row in matrix for v in row), *(len(n) for n in names)])
    lines.append(" " * width + "  " + " ".join(f"{n:>{cell}}" for n in names))
    for name, row in zip(names, matrix, strict=True):
        lines.append(f"{name:>{width}}  " + " ".join(f"{v:>{cell}}" for v in row))
    if result["top_losses"]:
        lines += ["", "top losses (test index: true → predicted, p of the prediction, loss −log p(true))"]
        lines += [f"  #{w['index']}: {w['true_class']} → {w['predicted_class']}  p={w['confidence']:.3f}  "
                  f"loss {w['loss']:.3f}" for w in result["top_losses"]]  # all asked for, as the figure shows
    elif result.get("top_losses_asked", 1) == 0:
        lines += ["", "top losses: none listed or drawn (--top-losses 0)"]
    else:
        lines += ["", "no test sample is wrong"]
    lines += [""] + [f"wrote {path}" for path in result["files"].values()]
    if result.get("not_written"):
        lines.append(f"figures not written: {result['not_written']}")
    lines += [f"removed {path}: an earlier evaluation's figure, not redrawn now" for path in result.get("removed", [])]
    return "\n".join(lines).rstrip("\n")
