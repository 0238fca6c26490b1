"""One training step of the seed's MLP, kernel by kernel: each kernel alone, and inside the step.

    .venv/bin/python bench/kernels.py                      # batch 64, 1 thread and every core
    .venv/bin/python bench/kernels.py --batch-size 512 --json

`torchprimer bench --parts breakdown` builds an epoch up from the floor in five stages; this
script goes one level down, to each kernel that torchprimer's CPU step for the 784-128-10 MLP
calls (`training/fast_mlp.py`, then the fused Adam update of `training/flat.py`), at each
thread count asked for, timed two ways:

- alone: the kernel called an epoch's worth of times on one step's operands, which stay in the
  cache, as the floor's do (the gather reads each step's own rows); the fastest of `--rounds`;
- in the step: the same kernel inside whole epochs of steps, each on its own shuffled batch,
  timed between its neighbours; from the fastest of `--rounds` epochs.

The gap between the two columns is what the step's neighbours cost each kernel: the new batch
read cold, and the caches shared with the rest of the step.

Before timing, it replays the kernels once and checks that they give bitwise the gradients of
`fast_mlp.ReluMLPStep` (exit 1 if not), so the table lists the step that `train` really runs.
Rows marked "for scale" are not part of the step: an element-wise `exp` of the same logits,
beside the log-softmax, shows how little of that kernel is arithmetic; the first layer's weight
gradient computed as xᵀ·G into a (784, 128) buffer, beside ∂W1 = Gᵀ·x, shows what keeping W1
transposed (as (in, out), not nn.Linear's (out, in)) would buy that product.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from torchprimer.bench import BenchOptions, fastest_per_call, seed_model, thread_count
from torchprimer.training.fast_mlp import IGNORE_INDEX, MEAN, ReluMLPStep, relu_mlp_layers
from torchprimer.training.flat import FlatAdam
from torchprimer.training.run import MAX_THREADS

NLL_FORWARD = torch.ops.aten.nll_loss_forward.default
NLL_BACKWARD = torch.ops.aten.nll_loss_backward.default
RELU_BACKWARD = torch.ops.aten.threshold_backward.default
FOR_SCALE = "for scale"


GATHER, LAYER1, MM1, RELU, LAYER2, MM2, LOG_SOFTMAX, EXP = (
    "gather the batch's rows (index_select)", "layer 1: x·W1ᵀ + b1 (addmm)", "  the floor's x·W1ᵀ (mm)", "ReLU",
    "layer 2: h·W2ᵀ + b2 (addmm)", "  the floor's h·W2ᵀ (mm)", "log-softmax", "  exp of the same logits")
NLL, NLL_GRAD, LOG_SOFTMAX_GRAD, DW2, DB2, G_W2, RELU_GRAD, DW1, DW1_T, DB1, ADAM = (
    "NLL loss", "NLL loss's gradient", "log-softmax's gradient", "∂W2 = Gᵀ·h (mm)", "∂b2 = Σ G (sum)", "G·W2 (mm)",
    "ReLU's gradient (threshold_backward)", "∂W1 = Gᵀ·x (mm)", "  ∂W1ᵀ = xᵀ·G, stored transposed", "∂b1 = Σ G (sum)",
    "Adam's update (one fused kernel)")
KINDS = {MM1: "product", MM2: "product", DW2: "product", G_W2: "product", DW1: "product", EXP: FOR_SCALE,
         DW1_T: FOR_SCALE}


class Setup(NamedTuple):
    pixels: torch.Tensor
    labels: torch.Tensor
    batches: list[torch.Tensor]  # one epoch's row numbers, batch by batch
    layers: list[torch.nn.Linear]
    optimizer: FlatAdam


def setup(batch_size: int, samples: int) -> tuple[Setup, bool]:
    """A training split of `samples` random rows, its shuffled batches and the seed's MLP with the
    optimiser train uses; and whether `step` gives bitwise `fast_mlp.ReluMLPStep`'s gradients."""
    torch.manual_seed(0)
    pixels = torch.randn(samples, 784)  # speed does not depend on pixel values
    labels = torch.randint(0, 10, (samples,))
    order = torch.randperm(samples)
    batches = [order[start : start + batch_size] for start in range(0, samples - batch_size + 1, batch_size)]
    model = torch.nn.Sequential(torch.nn.Flatten(), *seed_model(BenchOptions()))  # as models.build_mlp builds it
    layers = relu_mlp_layers(model)
    assert layers is not None
    ReluMLPStep(layers)(pixels.index_select(0, batches[0]), labels.index_select(0, batches[0]))
    reference = [p.grad.clone() for p in model.parameters()]
    kit = Setup(pixels, labels, batches, layers, FlatAdam(list(model.parameters())))
    step(kit, batches[0], lambda name: None)
    return kit, all(torch.equal(a, p.grad) for a, p in zip(reference, model.parameters(), strict=True))


def step(kit: Setup, rows: torch.Tensor, tick: Callable[[str], None]) -> dict[str, torch.Tensor]:
    """fast_mlp's forward and backward for the 784-128-10 MLP, kernel by kernel, calling `tick(name)`
    after each; returns the operands, for timing each kernel alone."""
    (w1, b1), (w2, b2) = [(layer.weight, layer.bias) for layer in kit.layers]
    one = torch.ones(())
    x, y = kit.pixels.index_select(0, rows), kit.labels.index_select(0, rows)
    tick(GATHER)
    hidden_in = torch.addmm(b1, x, w1.t())
    tick(LAYER1)
    hidden = torch.relu(hidden_in)
    tick(RELU)
    logits = torch.addmm(b2, hidden, w2.t())
    tick(LAYER2)
    log_p = torch.log_softmax(logits, 1)
    tick(LOG_SOFTMAX)
    _, total_weight = NLL_FORWARD(log_p, y, None, MEAN, IGNORE_INDEX)
    tick(NLL)
    g_log_p = NLL_BACKWARD(one, log_p, y, None, MEAN, IGNORE_INDEX, total_weight)
    tick(NLL_GRAD)
    g_logits = torch._log_softmax_backward_data(g_log_p, log_p, 1, log_p.dtype)
    tick(LOG_SOFTMAX_GRAD)
    torch.mm(g_logits.t(), hidden, out=w2.grad)
    tick(DW2)
    torch.sum(g_logits, 0, out=b2.grad)
    tick(DB2)
    g_hidden_out = g_logits.mm(w2)
    tick(G_W2)
    g_hidden = RELU_BACKWARD(g_hidden_out, hidden, 0)
    tick(RELU_GRAD)
    torch.mm(g_hidden.t(), x, out=w1.grad)
    tick(DW1)
    torch.sum(g_hidden, 0, out=b1.grad)
    tick(DB1)
    return {"x": x, "y": y, "hidden_in": hidden_in, "hidden": hidden, "logits": logits, "log_p": log_p,
            "total_weight": total_weight, "g_log_p": g_log_p, "g_logits": g_logits, "g_hidden_out": g_hidden_out,
            "g_hidden": g_hidden, "one": one}


def alone(kit: Setup) -> dict[str, Callable[[int], object]]:
    """Each kernel of the step as a call of its own on one step's operands (the gather on each
    step's rows in turn), in the step's order, plus the floor's plain products beside the addmms."""
    o = step(kit, kit.batches[0], lambda name: None)
    (w1, b1), (w2, b2) = [(layer.weight, layer.bias) for layer in kit.layers]
    w1_t_grad = torch.empty_like(w1.t(), memory_format=torch.contiguous_format)
    return {
        GATHER: lambda i: kit.pixels.index_select(0, kit.batches[i % len(kit.batches)]),
        LAYER1: lambda i: torch.addmm(b1, o["x"], w1.t()),
        MM1: lambda i: torch.mm(o["x"], w1.t()),
        RELU: lambda i: torch.relu(o["hidden_in"]),
        LAYER2: lambda i: torch.addmm(b2, o["hidden"], w2.t()),
        MM2: lambda i: torch.mm(o["hidden"], w2.t()),
        LOG_SOFTMAX: lambda i: torch.log_softmax(o["logits"], 1),
        EXP: lambda i: torch.exp(o["logits"]),
        NLL: lambda i: NLL_FORWARD(o["log_p"], o["y"], None, MEAN, IGNORE_INDEX),
        NLL_GRAD: lambda i: NLL_BACKWARD(o["one"], o["log_p"], o["y"], None, MEAN, IGNORE_INDEX, o["total_weight"]),
        LOG_SOFTMAX_GRAD: lambda i: torch._log_softmax_backward_data(o["g_log_p"], o["log_p"], 1, o["log_p"].dtype),
        DW2: lambda i: torch.mm(o["g_logits"].t(), o["hidden"], out=w2.grad),
        DB2: lambda i: torch.sum(o["g_logits"], 0, out=b2.grad),
        G_W2: lambda i: o["g_logits"].mm(w2),
        RELU_GRAD: lambda i: RELU_BACKWARD(o["g_hidden_out"], o["hidden"], 0),
        DW1: lambda i: torch.mm(o["g_hidden"].t(), o["x"], out=w1.grad),
        # the same product in a (784, 128) buffer: what W1 kept as (in, out) would take ("transposed_dw1_bitwise")
        DW1_T: lambda i: torch.mm(o["x"].t(), o["g_hidden"], out=w1_t_grad),
        DB1: lambda i: torch.sum(o["g_hidden"], 0, out=b1.grad),
        ADAM: lambda i: kit.optimizer.update(),
    }


def in_the_step(kit: Setup, rounds: int) -> dict[str, float]:
    """Seconds per step of each kernel inside whole epochs of steps (each step's own batch, then
    Adam's update), from the fastest of `rounds` epochs, after one epoch's warm-up."""
    best: tuple[float, dict[str, float]] = (math.inf, {})
    spent: dict[str, float] = {}
    last = 0.0

    def tick(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        spent[name] = spent.get(name, 0.0) + now - last
        last = now

    for attempt in range(rounds + 1):
        spent.clear()
        started = last = time.perf_counter()
        for rows in kit.batches:
            step(kit, rows, tick)
            kit.optimizer.update()
            tick(ADAM)
        total = time.perf_counter() - started
        if attempt and total < best[0]:
            best = (total, dict(spent))
    return {name: seconds / len(kit.batches) for name, seconds in best[1].items()}


@torch.no_grad()  # the fast step's kernels write gradients with out=, as it does
def measure(batch_size: int, samples: int, threads: list[int], rounds: int) -> dict[str, Any]:
    """Each kernel alone and in the step, at each thread count, in µs per step; with the totals."""
    kit, same = setup(batch_size, samples)
    o = step(kit, kit.batches[0], lambda name: None)
    transposed_same = torch.equal(torch.mm(o["x"].t(), o["g_hidden"]).t(), kit.layers[0].weight.grad)
    calls = alone(kit)
    steps = len(kit.batches)
    rows: dict[str, dict[str, Any]] = {name: {"kind": KINDS.get(name, "other"), "alone": {}, "in_step": {}}
                                       for name in calls}
    totals: dict[str, dict[str, float]] = {}
    cpu = torch.device("cpu")
    for count in threads:
        with thread_count(count):
            for name, call in calls.items():
                rows[name]["alone"][str(count)] = fastest_per_call(call, steps, cpu, rounds=rounds) * 1e6
            for name, seconds in in_the_step(kit, rounds).items():
                rows[name]["in_step"][str(count)] = seconds * 1e6
        products = sum(row["alone"][str(count)] for row in rows.values() if row["kind"] == "product")
        step_alone = sum(row["alone"][str(count)] for row in rows.values() if row["in_step"])
        step_in = sum(row["in_step"][str(count)] for row in rows.values() if row["in_step"])
        totals[str(count)] = {"products_alone": products, "everything_else_alone": step_alone - products,
                              "step_alone": step_alone, "step_in_step": step_in}
    return {"batch_size": batch_size, "samples": samples, "steps_per_round": steps, "rounds": rounds,
            "threads": threads, "torch": torch.__version__, "bitwise_as_fast_step": same,
            "transposed_dw1_bitwise": transposed_same,
            "kernels": rows, "totals_us": totals}


def print_table(result: dict[str, Any]) -> None:
    threads = [str(t) for t in result["threads"]]
    print(f"one step of the 784-128-10 MLP, kernel by kernel: batch {result['batch_size']}, "
          f"{result['steps_per_round']} steps an epoch, fastest of {result['rounds']} rounds, torch {result['torch']}")
    print(f"{'µs per step':40s}" + "".join(f"{t + ' thread(s): alone':>21s}{'in the step':>13s}" for t in threads))

    def line(label: str, pairs: list[tuple[float | None, float | None]], note: str = "") -> None:
        cells = "".join(f"{'-' if a is None else f'{a:.1f}':>21s}{'-' if b is None else f'{b:.1f}':>13s}"
                        for a, b in pairs)
        print(f"{label:40s}{cells}{note}")

    for name, row in result["kernels"].items():
        note = "  (for scale, not in the step)" if row["kind"] == FOR_SCALE else ""
        line(name, [(row["alone"][t], row["in_step"].get(t)) for t in threads], note)
    totals = [result["totals_us"][t] for t in threads]
    line("the products alone (the floor)", [(t["products_alone"], None) for t in totals])
    line("everything else alone", [(t["everything_else_alone"], None) for t in totals])
    line("one step", [(t["step_alone"], t["step_in_step"]) for t in totals])
    line("x the floor", [(t["step_alone"] / t["products_alone"], t["step_in_step"] / t["products_alone"])
                         for t in totals])
    print("alone: one kernel called an epoch's worth of times on the same operands, which stay in the cache "
          "(the gather reads each step's rows); in the step: the same kernel inside whole epochs of steps")
    print(f"xᵀ·G, transposed back, is bitwise ∂W1 = Gᵀ·x: {'yes' if result['transposed_dw1_bitwise'] else 'no'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--samples", type=int, default=54_000, help="rows of the training split (MNIST's 54,000)")
    parser.add_argument("--threads", default=f"1,{os.cpu_count() or 1}", help="comma-separated thread counts")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    try:
        threads = sorted({int(t) for t in args.threads.split(",")})
    except ValueError:
        threads = []
    bad_threads = not threads or min(threads) < 1 or max(threads) > MAX_THREADS  # 99999 crashed libgomp
    if bad_threads or args.batch_size < 1 or args.rounds < 1 or args.samples < args.batch_size:
        print(f"kernels.py: --threads takes counts from 1 to {MAX_THREADS} like 1,2; --batch-size, --rounds at "
              "least 1; --samples at least the batch size", file=sys.stderr)
        return 2
    result = measure(args.batch_size, args.samples, threads, args.rounds)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    if not result["bitwise_as_fast_step"]:
        print("kernels.py: these kernels no longer give fast_mlp.ReluMLPStep's gradients; update this script",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
