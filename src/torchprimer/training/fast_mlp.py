"""The training step of a plain ReLU MLP without the autograd engine: the same kernels, less around them.

At batch 64 the 784-128-10 MLP's forward and backward through autograd took ~490 µs on one
core of a 2-core CPU, of which its matrix products take ~270 µs; much of the rest is the
engine's bookkeeping (graph nodes, each gradient accumulated into a `.grad` that must be
zeroed first). This step calls the kernels that `loss.backward()` calls for this model, in
the same order and on the same operands:

    forward:   addmm(b, A, Wᵀ) per layer, relu between, log_softmax and nll_loss (cross-entropy)
    backward:  nll_loss_backward, _log_softmax_backward_data, then per layer from the last:
               ∂W = Gᵀ·A and ∂b = Σₙ G written straight into `.grad` (out=), G ← threshold_backward(G·W, A)

so every gradient is bitwise the one autograd leaves (tests/test_fast_mlp.py checks), but each
`.grad` is overwritten rather than accumulated into. It is used only where that is all the
model does: Flatten, Linear, ReLU, ..., Linear (`models.build_mlp` without dropout or batch
norm; with no hidden layer, softmax regression), softmax cross-entropy without label
smoothing, fp32 on the CPU, one process. Everything else trains through autograd as before.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from torchprimer.models import Objective

MEAN = 1  # torch's reduction code for "mean"
IGNORE_INDEX = -100  # cross_entropy's default; the same kernel arguments autograd uses
_nll_forward = torch.ops.aten.nll_loss_forward.default
_nll_backward = torch.ops.aten.nll_loss_backward.default
_relu_backward = torch.ops.aten.threshold_backward.default


def relu_mlp_layers(model: nn.Module) -> list[nn.Linear] | None:
    """The Linear layers of `Sequential(Flatten, Linear, ReLU, ..., Linear)` with fp32 CPU
    parameters that all train, or None for any other model."""
    if not isinstance(model, nn.Sequential) or not model.training:
        return None
    layers = list(model)
    if not layers or type(layers[0]) is not nn.Flatten or (layers[0].start_dim, layers[0].end_dim) != (1, -1):
        return None
    layers = layers[1:]
    linears = layers[::2]
    if not linears or any(type(layer) is not nn.Linear or layer.bias is None for layer in linears):
        return None
    if len(layers) % 2 != 1 or any(type(layer) is not nn.ReLU or layer.inplace for layer in layers[1::2]):
        return None
    params = [p for layer in linears for p in layer.parameters()]
    if any(p.device.type != "cpu" or p.dtype != torch.float32 or not p.requires_grad for p in params):
        return None
    return linears


def fast_step_for(model: nn.Module, objective: Objective, *, autograd: bool, amp: bool) -> ReluMLPStep | None:
    """The fast step where it computes exactly what autograd would, else None."""
    if not autograd or amp or objective.binary or objective.label_smoothing:
        return None
    layers = relu_mlp_layers(model)
    return ReluMLPStep(layers) if layers is not None else None


class ReluMLPStep:
    """`step(x, y)` -> (output, loss): forward and backward of the MLP, gradients in `.grad`."""

    def __init__(self, layers: list[nn.Linear]) -> None:
        self.layers = layers
        for p in (p for layer in layers for p in layer.parameters()):
            if p.grad is None or p.grad.shape != p.shape or not p.grad.is_contiguous():
                p.grad = torch.zeros_like(p, memory_format=torch.contiguous_format)
        self.one = torch.ones(())  # d loss / d loss, as backward() starts

    @torch.no_grad()
    def __call__(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        a = x.flatten(1)
        inputs = []  # each layer's input: what its weight gradient and the ReLU's derivative need
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            inputs.append(a)
            a = torch.addmm(layer.bias, a, layer.weight.t())  # what nn.Linear computes on the CPU
            if i < last:
                a = torch.relu(a)
        output = a
        log_p = torch.log_softmax(output, 1)
        loss, total_weight = _nll_forward(log_p, y, None, MEAN, IGNORE_INDEX)
        g = _nll_backward(self.one, log_p, y, None, MEAN, IGNORE_INDEX, total_weight)
        g = torch._log_softmax_backward_data(g, log_p, 1, log_p.dtype)
        for i in range(last, -1, -1):
            layer, a_in = self.layers[i], inputs[i]
            # ∂b before ∂W: the small sum reads G while it is in the cache, before the large product evicts it
            # (docs/performance.md: 1.45-1.65x the floor against 1.55-1.88x at batch 512, 8 alternating runs)
            torch.sum(g, 0, out=layer.bias.grad)  # ∂b = Σₙ G
            torch.mm(g.t(), a_in, out=layer.weight.grad)  # ∂W = Gᵀ·A
            if i:
                g = _relu_backward(g.mm(layer.weight), a_in, 0)  # ∂A = G·W, through the ReLU
        return output, loss
