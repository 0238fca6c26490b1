"""The learning-rate range test (Smith 2017, as popularised by fastai's `lr_find`).

Train a fresh model for a few hundred steps while the learning rate grows exponentially;
the loss first falls faster and faster, then blows up. A good learning rate sits where
the loss falls fastest, well before the minimum: that is the suggestion.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from torchprimer.data.batches import device_batches
from torchprimer.errors import UserError
from torchprimer.models import objective_for
from torchprimer.training.config import TrainConfig
from torchprimer.training.loop import make_optimizer


@dataclass
class LRFinderResult:
    lrs: list[float]
    losses: list[float]  # exponentially smoothed, as plotted
    suggestion: float | None  # None when the loss never fell meaningfully: `no_suggestion` says why
    min_loss_lr: float
    no_suggestion: str | None = None


MIN_FALL = 0.05  # the smoothed loss must fall this share below its first value to suggest a rate


MAX_END = 1000.0  # a learning rate beyond this only diverges; an infinite one is a typo
# A rate below this moves no float32 weight (a step of 1e-12 is under a weight of 1e-4's rounding), and one of
# 1e-320 made the sweep's growth factor overflow: `"lrs": [1e-320, inf]`, read as "it stayed flat".
MIN_START = 1e-12
MAX_STEPS = 100_000  # more only crawls: each step multiplies the rate by a factor that rounds towards 1


def lr_range_test(
    cfg: TrainConfig, *, start: float = 1e-7, end: float = 10.0, steps: int = 100, smoothing: float = 0.05,
) -> LRFinderResult:
    """Run the range test for the model and data of `cfg`; the model is thrown away after."""
    from torchprimer.training.run import build

    if not (MIN_START <= start < end <= MAX_END) or not 10 <= steps <= MAX_STEPS:
        raise UserError(f"lr-find needs {MIN_START:g} <= --start < --end <= {MAX_END:g} and 10 to {MAX_STEPS:,} "
                        f"--steps, got --start {start:g} --end {end:g} --steps {steps}")
    _, splits, model = build(cfg)
    objective = objective_for(model, cfg.label_smoothing)
    optimizer = make_optimizer(model, dataclasses.replace(cfg, lr=start))
    factor = (end / start) ** (1 / (steps - 1))
    lrs: list[float] = []
    losses: list[float] = []
    smooth, best = 0.0, math.inf
    step, epoch = 0, 0
    model.train()
    while step < steps:
        for xb, yb in device_batches(splits.x_train, splits.y_train, cfg.batch_size, seed=cfg.seed, epoch=epoch):
            lr = end if step == steps - 1 else start * factor**step  # factor's rounding ended at 10.000000000000073
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            loss = objective.loss(model(xb), yb)
            loss.backward()
            optimizer.step()
            value = float(loss.detach())
            smooth = value if step == 0 else smoothing * value + (1 - smoothing) * smooth
            # the first steps are noise, not divergence: at most 10, fewer in a short sweep
            if not math.isfinite(value) or (step > min(10, steps // 4) and smooth > 4 * best):
                step = steps  # diverged: the rest of the curve says nothing
                break
            best = min(best, smooth)
            lrs.append(lr)
            losses.append(smooth)
            step += 1
            if step >= steps:
                break
        epoch += 1
    if not losses:
        raise UserError(f"the loss was not finite at the first step, at --start {start:g}; lower --start")
    lowest = min(range(len(losses)), key=losses.__getitem__)
    why = _why_no_suggestion(lrs, losses, diverged=len(losses) < steps, steps=steps)
    return LRFinderResult(lrs=lrs, losses=losses, suggestion=None if why else _steepest(lrs, losses),
                          min_loss_lr=lrs[lowest], no_suggestion=why)


def _why_no_suggestion(lrs: list[float], losses: list[float], *, diverged: bool, steps: int) -> str | None:
    """Why no rate can be suggested, or None: the steepest point of a curve that never falls is noise,
    and a rate picked from it would not train (e.g. --start 100, where the loss only explodes).

    The advice follows the curve's shape: rising from the start means every rate was too high; flat
    and then rising means the rates in between got too few steps each to show a fall (a short sweep,
    --steps 10); flat throughout means the rates were too small."""
    first, lowest = losses[0], min(losses)
    if first - lowest > MIN_FALL * abs(first):
        return None
    seen = (f"the loss never fell {MIN_FALL:.0%} below its first value ({first:.4g}) between {lrs[0]:.2e} and "
            f"{lrs[-1]:.2e}")
    rose = diverged or losses[-1] > (1 + MIN_FALL) * first
    flat_start = all(abs(value - first) <= MIN_FALL * abs(first) for value in losses[: max(2, len(losses) // 2)])
    if rose and not flat_start:
        return (f"{seen}{' before it diverged' if diverged else ''}: it rose from the start, so every rate tried "
                f"is too high; start lower, e.g. --start {min(1e-7, lrs[0] / 1e4):.0e}")
    if rose:
        return (f"{seen}{' before it diverged' if diverged else ''}: it stayed flat at the low rates and rose at the "
                "high ones, so the rates between got too "
                f"few of the {steps} steps to show a fall; give more --steps, e.g. --steps {min(10_000, steps * 4)}")
    return (f"{seen}: the rates tried are too small to train in this many steps; widen the range upwards, "
            f"e.g. --end {min(MAX_END, max(10.0, lrs[-1] * 1e4)):g}, or give more --steps")


def _steepest(lrs: list[float], losses: list[float]) -> float:
    """The learning rate where the smoothed loss falls fastest per decade of learning rate."""
    if len(losses) < 3:
        return lrs[0]
    # float64: in float32 the rates of a narrow range (--start 1e-3 --end 1.00001e-3) round to equal logs, whose
    # zero spacing made every slope inf or NaN and the suggestion the second rate, wherever the loss fell
    logs = torch.tensor(lrs, dtype=torch.float64).log10()
    slope = torch.gradient(torch.tensor(losses, dtype=torch.float64), spacing=(logs,))[0]
    # ignore the last points, where the curve turns up towards divergence
    stop = max(2, int(len(losses) * 0.9))
    return float(lrs[int(slope[:stop].argmin())])


def plot(result: LRFinderResult, path: str | Path) -> Path:
    from torchprimer.report import figures, save_figure

    plt = figures()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(result.lrs, result.losses, label="smoothed loss")
    if result.suggestion is not None:
        ax.axvline(result.suggestion, color="red", linestyle="--", label=f"suggested lr {result.suggestion:.2e}")
    ax.set(xscale="log", xlabel="learning rate (log scale)", ylabel="training loss (smoothed)",
           title="learning-rate range test" + ("" if result.suggestion is not None else
                                               ": the loss never fell, no rate suggested"))
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path)
