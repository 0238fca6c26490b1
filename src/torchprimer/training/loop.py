"""The training loop: one function, `fit`, read top to bottom once.

Each epoch: shuffle (a pure function of seed and epoch), train on device-resident
batches with the mean loss accumulated on the device, evaluate on the validation split
under `inference_mode`, record one row, keep the best weights, checkpoint atomically.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from torchprimer.autodiff.mlp import manual_forward_backward
from torchprimer.data.batches import num_batches
from torchprimer.data.splits import Splits
from torchprimer.errors import TrainingDiverged
from torchprimer.models import Objective
from torchprimer.progress import Progress
from torchprimer.training import checkpoint as ckpt
from torchprimer.training import distributed
from torchprimer.training.config import TrainConfig
from torchprimer.training.cuda_graph import ReplayedStep
from torchprimer.training.fast_mlp import fast_step_for
from torchprimer.training.flat import FlatAdam, can_flatten
from torchprimer.training.schedules import lr_factor

EVAL_BATCH = 1024


@dataclass
class FitResult:
    history: list[dict[str, float]]
    best_epoch: int
    stopped_early: bool = False


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    # Adam over flat buffers: one fused kernel call for all parameters and no Python around it
    # (see training/flat.py); not under DDP, which owns .grad, nor torch.compile, which traces params.
    if cfg.optimizer in ("adam", "adamw") and distributed.world_size() == 1 and not cfg.compile and can_flatten(params):
        return FlatAdam(params, lr=cfg.lr, weight_decay=cfg.weight_decay,
                        decoupled_weight_decay=cfg.optimizer == "adamw")
    # Otherwise one fused kernel for all parameters: Adam's update of the 784-128-10 MLP took 120 µs
    # instead of foreach's 280 µs on a 2-core CPU (`torchprimer bench`); foreach elsewhere.
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    kernel = {"fused": True} if fused else {"foreach": True}
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0,
            weight_decay=cfg.weight_decay, **kernel,
        )
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **kernel)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **kernel)


def step_calls(
    optimizer: torch.optim.Optimizer, *, in_place: bool = False,
) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """(clear the gradients, update the parameters) for the training loop, without the per-call
    hooks of torch's zero_grad and step (~20 µs a step each, `torchprimer bench`): FlatAdam zeroes
    its one gradient buffer in place and runs its one kernel; other optimisers' gradients are set
    to None, as zero_grad(set_to_none=True) does, and their step() runs. `in_place` zeroes every
    gradient in place instead (a CUDA graph writes into the same `.grad` tensors every replay)."""
    if isinstance(optimizer, FlatAdam):
        return optimizer.flat_grads.zero_, optimizer.update
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if in_place:
        grads = []
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            grads.append(p.grad)
        return lambda: torch._foreach_zero_(grads), optimizer.step

    def set_to_none() -> None:
        for p in params:
            p.grad = None

    return set_to_none, optimizer.step


def autocast(device: torch.device, enabled: bool, *, cache: bool = True) -> contextlib.AbstractContextManager[Any]:
    """bfloat16 autocast on CUDA where supported (no loss scaling needed), else float16. `cache`
    keeps each weight's low-precision copy for the step; a CUDA graph must be recorded without it."""
    if not enabled or device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype, cache_enabled=cache)


def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, objective: Objective,
    *, amp: bool = False,
) -> dict[str, float]:
    """Mean loss and accuracy over (x, y), in eval mode and without autograd.

    Under DDP each process evaluates its share of the rows and the sums are all-reduced, so
    every process returns the figures of the whole of (x, y).
    """
    if distributed.world_size() > 1:
        return _evaluate_shared(model, x, y, objective, amp=amp)
    return scores(predict_outputs(model, x, amp=amp), y, objective)


def scores(outputs: torch.Tensor, y: torch.Tensor, objective: Objective) -> dict[str, float]:
    """Mean loss and accuracy of outputs already computed, for callers that need the outputs too."""
    correct = (objective.predict(outputs) == y).sum()
    return {"loss": float(objective.loss(outputs, y)), "accuracy": float(correct) / max(1, len(y))}


def _evaluate_shared(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, objective: Objective, *, amp: bool,
) -> dict[str, float]:
    """`evaluate` under DDP: loss sum, correct count and row count summed over processes."""
    distributed.broadcast_buffers(model)
    x, y = distributed.shard_rows(x, y)
    loss_sum = correct = torch.zeros((), device=y.device)
    if len(y):  # a process may hold no rows of a tiny split; a mean over none would be NaN
        outputs = predict_outputs(model, x, amp=amp)
        loss_sum = objective.loss(outputs, y) * len(y)
        correct = (objective.predict(outputs) == y).sum()
    loss_sum, correct, count = distributed.all_reduce_sum(loss_sum, correct, torch.tensor(len(y)))
    n = max(1.0, float(count))
    return {"loss": float(loss_sum) / n, "accuracy": float(correct) / n}


def predict_outputs(model: nn.Module, x: torch.Tensor, *, amp: bool = False) -> torch.Tensor:
    """The model's raw outputs for every row of x, batched, in eval mode."""
    was_training = model.training
    model.eval()
    with torch.inference_mode(), autocast(x.device, amp):
        out = [model(xb).float() for xb in x.split(EVAL_BATCH)]
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


def _first_nonfinite(losses: torch.Tensor) -> int | None:
    finite = torch.isfinite(losses)
    return None if bool(finite.all()) else int((~finite).nonzero()[0])


def _settle(
    window: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], objective: Objective, cfg: TrainConfig,
    epoch: int, first_step: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check a window of steps for a non-finite loss (naming its exact step) and return the
    window's summed loss (each step's mean times its rows) and its count of correct predictions."""
    losses = torch.stack([loss for loss, _, _ in window]).float()
    bad = _first_nonfinite(losses)
    if bad is not None:
        raise TrainingDiverged(
            f"loss became {float(losses[bad])} at epoch {epoch + 1}, step {first_step + bad + 1}; "
            f"lower the learning rate (e.g. --lr {min(cfg.lr / 10, 0.01):g}) or add --clip 1.0"
        )
    rows = torch.tensor([len(y) for _, _, y in window], dtype=losses.dtype).to(losses.device)
    outputs = torch.cat([out for _, out, _ in window])
    labels = torch.cat([y for _, _, y in window])
    return losses @ rows, (objective.predict(outputs) == labels).sum()


def make_train_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, objective: Objective, cfg: TrainConfig,
) -> Callable[[torch.Tensor, torch.Tensor, float], tuple[torch.Tensor, torch.Tensor]]:
    """`step(x, y, weight) -> (output, loss)`: one optimiser step on a batch, gradients cleared,
    computed, clipped and applied. `train` and the playground both train through it.

    A plain ReLU MLP on the CPU runs autograd's own kernels without the engine and overwrites
    every .grad (fast_mlp.py); `--backward manual` uses the seed's explicit chain rule; any other
    model (and DDP's wrapper) goes through autograd. On CUDA all of that but the update is
    recorded once as a CUDA graph and replayed (cuda_graph.py; `--no-cuda-graph` turns it off).
    `weight` scales the loss under DDP (distributed.py).
    """
    device = next(model.parameters()).device
    graphed = uses_cuda_graph(cfg, device)
    zero_grad, update = step_calls(optimizer, in_place=graphed)
    fast = fast_step_for(model, objective, autograd=cfg.backward == "autograd", amp=cfg.amp)

    def forward_backward(xb: torch.Tensor, yb: torch.Tensor, weight: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        if fast is not None:
            output, loss = fast(xb, yb)
        elif cfg.backward == "manual":  # the chain rule by explicit formulas, no autograd (seed §7.2)
            zero_grad()
            output, loss = manual_forward_backward(model, xb, yb, objective)
        else:
            zero_grad()
            with autocast(device, cfg.amp, cache=not graphed):
                output = model(xb)
                loss = objective.loss(output, yb)
            (loss if weight == 1.0 else loss * weight).backward()
        if cfg.clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        return output, loss

    compute = ReplayedStep(forward_backward) if graphed else forward_backward

    def step(xb: torch.Tensor, yb: torch.Tensor, weight: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        output, loss = compute(xb, yb, weight)
        update()
        return output, loss

    return step


def uses_cuda_graph(cfg: TrainConfig, device: torch.device) -> bool:
    """`--cuda-graph` as asked; by default on for a model on CUDA trained by autograd in one process
    without torch.compile: there the step is launch-bound, and replaying it was 4.0-5.7x faster at
    batch 64 and 2.1-3.5x at batch 512 on two H100s (`torchprimer bench --device cuda`, docs/performance.md)."""
    if cfg.cuda_graph is not None:
        return cfg.cuda_graph
    return (device.type == "cuda" and cfg.backward == "autograd" and not cfg.compile
            and distributed.world_size() == 1)


def train_epoch(
    model: nn.Module, optimizer: torch.optim.Optimizer, data: Splits, objective: Objective,
    cfg: TrainConfig, epoch: int, progress: Progress, *, augment: Any = None,
    train_step: Callable[[torch.Tensor, torch.Tensor, float], tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> dict[str, float]:
    """One pass over the training split; returns the epoch-mean loss and accuracy. `fit` passes
    the `train_step` it made once, so a recorded CUDA graph serves every epoch."""
    model.train()
    device = data.x_train.device
    steps = num_batches(len(data.y_train), cfg.batch_size)
    total = steps * cfg.epochs
    # Per-step losses and outputs wait on the device and are checked and summed every 50
    # steps, still naming the exact step of a NaN: on an accelerator each check is a sync, and
    # on the CPU checking and summing every step cost 5-10% of a batch-64 MLP step (bench).
    check_every = 50
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    window: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (loss, output, labels) per step
    train_step = train_step or make_train_step(model, optimizer, objective, cfg)
    # Under DDP: this process's share of each global batch, weighted by its size (see distributed.py).
    batches = distributed.shard_batches(data.x_train, data.y_train, cfg.batch_size, seed=cfg.seed, epoch=epoch)
    for step, (xb, yb, weight) in enumerate(batches):
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr * lr_factor(cfg.schedule, epoch * steps + step, total, cfg.warmup)
        if augment is not None:
            xb = augment(xb)
        output, loss = train_step(xb, yb, weight)
        window.append((loss.detach(), output.detach(), yb))
        if len(window) >= check_every or step == steps - 1:
            window_loss, window_correct = _settle(window, objective, cfg, epoch, first_step=step - len(window) + 1)
            loss_sum += window_loss
            correct += window_correct
            window.clear()
        progress.step()
    n = len(data.y_train)
    loss_sum, correct = distributed.all_reduce_sum(loss_sum, correct)  # whole-data sums under DDP
    return {"train_loss": float(loss_sum) / n, "train_acc": float(correct) / n}


def patience_ran_out(cfg: TrainConfig, epochs_done: int, best_epoch: int) -> bool:
    """--early-stopping N: N epochs have passed since the best validation loss."""
    return bool(cfg.early_stopping) and epochs_done > 0 and epochs_done - best_epoch >= cfg.early_stopping


def fit(
    model: nn.Module,
    data: Splits,
    cfg: TrainConfig,
    objective: Objective,
    progress: Progress,
    *,
    checkpoint_path: Path | None = None,
    resume_from: dict[str, Any] | None = None,
    augment: Any = None,
    on_epoch: Any = None,
    history_out: list[dict[str, float]] | None = None,
) -> FitResult:
    """Train `model` on `data` for cfg.epochs; resumable, early-stopping, checkpointing.

    `resume_from` is a loaded checkpoint: training continues after its last epoch with
    the same weights, optimiser moments, random states and data order, so the result is
    bit-identical to a run that was never stopped (on the CPU). `on_epoch(record)` is
    called after each epoch's checkpoint, e.g. to write metrics.csv. `history_out`, when
    given, is the list the epoch records are appended to, so a caller keeps them even if
    training is interrupted.
    """
    optimizer = make_optimizer(model, cfg)
    history = history_out if history_out is not None else []
    best = {"epoch": 0, "val_loss": math.inf, "state": None}
    start_epoch = 0
    if resume_from is not None:
        model.load_state_dict(resume_from["model"])
        optimizer.load_state_dict(resume_from["optimizer"])
        history[:] = [dict(r) for r in resume_from["history"]]
        best = dict(resume_from["best"])
        start_epoch = int(resume_from["epoch"])
        ckpt.set_rng_state(resume_from["rng"])

    # Several processes (torchrun): train a DDP replica; evaluate and checkpoint the plain model,
    # so checkpoints are the same whatever the number of processes.
    trained = distributed.wrap(model)
    train_step = make_train_step(trained, optimizer, objective, cfg)
    steps = num_batches(len(data.y_train), cfg.batch_size)
    progress.start(cfg.epochs, steps, start_epoch)
    # A run resumed after the epoch that stopped it early (finished, or stopped between that epoch's
    # checkpoint and the end) trains no further: one more epoch made it differ from the run that
    # was never stopped, against the promise that a resumed run ends bit-identical.
    stopped_early = patience_ran_out(cfg, start_epoch, int(best["epoch"]))
    for epoch in range(start_epoch, start_epoch if stopped_early else cfg.epochs):
        started = time.perf_counter()
        distributed.seed_epoch(cfg.seed, epoch)
        record: dict[str, float] = {"epoch": epoch + 1}
        record.update(train_epoch(trained, optimizer, data, objective, cfg, epoch, progress, augment=augment,
                                  train_step=train_step))
        val = evaluate(model, data.x_val, data.y_val, objective, amp=cfg.amp)
        record.update(val_loss=val["loss"], val_acc=val["accuracy"])
        record["lr"] = optimizer.param_groups[0]["lr"]
        record["seconds"] = time.perf_counter() - started
        history.append(record)

        if record["val_loss"] < best["val_loss"]:
            best = {"epoch": epoch + 1, "val_loss": record["val_loss"],
                    "state": copy.deepcopy(model.state_dict()) if cfg.early_stopping else None}
        if checkpoint_path is not None:
            ckpt.save(checkpoint_path, {
                "config": cfg.to_dict(), "epoch": epoch + 1, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "history": history, "best": best,
                "rng": ckpt.rng_state(),
            })
        if on_epoch is not None:
            on_epoch(record)
        progress.epoch(record)
        if patience_ran_out(cfg, epoch + 1, int(best["epoch"])):
            stopped_early = True
            break
    progress.close()
    if cfg.early_stopping and best["state"] is not None:
        model.load_state_dict(best["state"])
    return FitResult(history=history, best_epoch=int(best["epoch"]), stopped_early=stopped_early)

