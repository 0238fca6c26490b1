"""Adam over flat buffers: a model's parameters, gradients and Adam moments in one tensor each.

`torch.optim.Adam(fused=True).step()` on the 784-128-10 MLP cost ~200 µs a step on a 2-core
CPU, about half of it Python around the kernel (hooks, grouping the four tensors, one step
counter each). With every parameter, gradient and moment a view of one flat tensor, a single
call of the same fused kernel updates all of them, with nothing else around it. The arithmetic
of each element is the same, so results equal torch's Adam (tests/test_flat_adam.py), and the
state_dict has torch's per-parameter layout, so checkpoints load either way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn


def flatten_into(tensors: list[torch.Tensor], flat: torch.Tensor) -> list[torch.Tensor]:
    """Copy `tensors` into consecutive pieces of `flat`; return the pieces, shaped like them."""
    views, offset = [], 0
    for t in tensors:
        view = flat[offset : offset + t.numel()].view_as(t)
        view.copy_(t)
        views.append(view)
        offset += t.numel()
    return views


class FlatAdam(torch.optim.Adam):
    """torch's fused Adam (or AdamW with `decoupled_weight_decay`) with flat buffers.

    The parameters' `.data` and `.grad` become views of `self.flat_params` and
    `self.flat_grads`, so gradients are zeroed in place (`zero_grad`) rather than set to
    None: every parameter must receive a gradient every step (true of torchprimer's models;
    torch's Adam would skip a parameter without one, this one refuses to step). Code that
    replaces a `.grad` (`model.zero_grad(set_to_none=True)`, then backward) still works:
    `zero_grad` points each `.grad` back at its view, and `step` first copies a replaced
    gradient into it. The parameters must share one device and one floating dtype, on the
    CPU or a CUDA device (`can_flatten`). Not for DDP, whose gradient buckets own `.grad`.
    """

    def __init__(
        self, params: Iterable[nn.Parameter], lr: float = 1e-3, weight_decay: float = 0.0,
        *, decoupled_weight_decay: bool = False,
    ) -> None:
        params = list(params)
        super().__init__(params, lr=lr, weight_decay=weight_decay, fused=True,
                         decoupled_weight_decay=decoupled_weight_decay)
        first = params[0]
        total = sum(p.numel() for p in params)
        self.flat_params = torch.empty(total, device=first.device, dtype=first.dtype)
        self.flat_grads = torch.zeros_like(self.flat_params)
        for p, view in zip(params, flatten_into([p.detach() for p in params], self.flat_params), strict=True):
            p.data = view
        self.grad_views = flatten_into([torch.zeros_like(p) for p in params], self.flat_grads)
        for p, view in zip(params, self.grad_views, strict=True):
            p.grad = view
        self._moments()

    def _moments(self) -> None:
        """(Re)build the flat moments from the per-parameter state (zeros at first) and point
        the state at views of them; all parameters share one step counter, as they always
        hold the same count."""
        params = self.param_groups[0]["params"]
        state = [self.state[p] for p in params]

        def flat(key: str) -> tuple[torch.Tensor, list[torch.Tensor]]:
            buffer = torch.empty_like(self.flat_params)
            return buffer, flatten_into([s.get(key, torch.zeros_like(p)) for s, p in zip(state, params, strict=True)],
                                        buffer)

        self.exp_avg, avgs = flat("exp_avg")
        self.exp_avg_sq, sqs = flat("exp_avg_sq")
        step = state[0].get("step", torch.zeros(()))
        self.step_count = torch.tensor(float(step), dtype=torch.float32, device=self.flat_params.device)
        for s, avg, sq in zip(state, avgs, sqs, strict=True):
            s.update(step=self.step_count, exp_avg=avg, exp_avg_sq=sq)

    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        if closure is not None:
            raise ValueError("FlatAdam.step takes no closure")
        self.update()

    def update(self) -> None:
        """One update of every parameter by one fused kernel call: `step` without torch's per-call
        optimizer hooks, which cost ~20 µs a step (the flat buffers need no autograd either)."""
        group = self.param_groups[0]
        self._attach_grads(copy=True)
        beta1, beta2 = group["betas"]
        kernel = torch._fused_adamw_ if group["decoupled_weight_decay"] else torch._fused_adam_
        self.step_count += 1
        kernel([self.flat_params], [self.flat_grads], [self.exp_avg], [self.exp_avg_sq], [], [self.step_count],
               lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"], eps=group["eps"],
               amsgrad=False, maximize=group["maximize"])

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Zero the flat gradient in place (the `.grad` views must stay), whatever `set_to_none` says."""
        self.flat_grads.zero_()
        self._attach_grads(copy=False)

    def _attach_grads(self, *, copy: bool) -> None:
        """Point every `.grad` that something replaced back at its view of the flat gradient, first
        copying the replacement into it when `copy` (a check of identity per parameter, ~1 µs a step)."""
        for i, (p, view) in enumerate(zip(self.param_groups[0]["params"], self.grad_views, strict=True)):
            grad = p.grad
            if grad is view:
                continue
            if copy:
                if grad is None:
                    raise RuntimeError(f"FlatAdam: parameter {i} has no gradient; it updates every parameter "
                                       "each step, so every one needs a gradient (or use torch.optim.Adam)")
                view.copy_(grad)
            p.grad = view

    def state_dict(self) -> dict[str, Any]:
        """torch's layout, with a step counter of its own per parameter: torch's Adam, loading it,
        would otherwise count each step once per parameter on the one shared counter."""
        saved = super().state_dict()  # its per-parameter dicts are self.state's own: copy, do not change them
        saved["state"] = {k: {**v, "step": v["step"].clone()} for k, v in saved["state"].items()}
        return saved

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._moments()


def can_flatten(params: list[nn.Parameter]) -> bool:
    """All on the CPU or all on one CUDA device (where each step is a launch of the same fused kernel
    instead of torch's Python around it; tests/test_flat_adam.py checks it against torch's Adam there), one
    floating dtype, no parameter sharing storage already."""
    if not params:
        return False
    first = params[0]
    storages = {p.untyped_storage().data_ptr() for p in params}
    return (first.device.type in ("cpu", "cuda") and first.is_floating_point() and len(storages) == len(params)
            and all(p.device == first.device and p.dtype == first.dtype for p in params))
