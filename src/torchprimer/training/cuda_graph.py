"""Training on CUDA: the forward and backward pass recorded once as a CUDA graph, then replayed.

On a GPU a small model's step is launch-bound: the 784-128-10 MLP at batch 64 is a few
microseconds of arithmetic spread over some thirty kernel launches, each paid for in
Python, the autograd engine and the driver. A CUDA graph records those launches once and
replays them all with one call, so the CPU no longer sets the pace.

What is recorded: zeroing the gradients in place, the forward pass, the loss, the backward
pass and gradient clipping, on fixed input buffers. What stays outside: copying each batch
into those buffers, and the optimiser's update, so learning-rate schedules still set a
plain float every step (with FlatAdam the update is one fused kernel anyway). The graph
runs the same kernels on the same operands as the eager step, so training follows the same
path (tests/test_gpu.py compares the two). `loop.uses_cuda_graph` says when it is used (by
default on CUDA; `--no-cuda-graph` turns it off).

Rules the recording needs, all kept by `loop.make_train_step`: every `.grad` exists before
the recording and is zeroed in place (never set to None), since the graph writes into
those tensors; autocast runs without its weight cache; the first few steps run eagerly on
a side stream so that lazy initialisation (cuBLAS handles, autograd's streams) is not
recorded; a batch of another shape (the smaller last batch of an epoch) runs eagerly. Results
come back detached, so no step's autograd graph outlives it: a live one would tie each
parameter's gradient accumulator to the stream it was made on, and the next step, on another
stream, would have to synchronise with it (torch warns of exactly this).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Compute = Callable[[Tensor, Tensor, float], tuple[Tensor, Tensor]]
WARMUP_STEPS = 3  # eager steps before the recording, as torch's whole-network capture example does


class ReplayedStep:
    """`step(x, y, weight) -> (output, loss)`: `compute` recorded for the first batch shape it
    sees, replayed for every later batch of that shape, run eagerly for any other shape."""

    def __init__(self, compute: Compute, *, warmup: int = WARMUP_STEPS) -> None:
        self.compute = compute
        self.warmup = warmup
        self.eager_steps = 0
        self.key: tuple[object, ...] | None = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.side: torch.cuda.Stream | None = None
        self.x = self.y = self.output = self.loss = torch.empty(0)

    def __call__(self, x: Tensor, y: Tensor, weight: float = 1.0) -> tuple[Tensor, Tensor]:
        key = (x.shape, y.shape, x.dtype, y.dtype, x.device)
        if self.key is None:
            self.key = key
        if key != self.key or weight != 1.0:
            return detached(self.compute(x, y, weight))
        if self.graph is None:
            if self.eager_steps < self.warmup:
                self.eager_steps += 1
                return self._on_side_stream(x, y)
            self._record(x, y)
        self.x.copy_(x)
        self.y.copy_(y)
        assert self.graph is not None
        self.graph.replay()
        # The graph overwrites its outputs on the next replay; the loop keeps each step's.
        return self.output.clone(), self.loss.clone()

    def _on_side_stream(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        main = torch.cuda.current_stream(x.device)
        if self.side is None:
            self.side = torch.cuda.Stream(x.device)
        self.side.wait_stream(main)
        with torch.cuda.stream(self.side):
            result = detached(self.compute(x, y, 1.0))
        main.wait_stream(self.side)
        return result

    def _record(self, x: Tensor, y: Tensor) -> None:
        self.x, self.y = x.clone(), y.clone()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.output, self.loss = detached(self.compute(self.x, self.y, 1.0))
        self.graph = graph  # recording ran nothing: the caller's replay computes this step


def detached(result: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    output, loss = result
    return output.detach(), loss.detach()
