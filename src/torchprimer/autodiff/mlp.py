"""Backpropagation through a whole MLP with explicit matrix formulas: §7.2, for matrices.

For a batch A₀ = x (N×D) the forward pass of each layer is

    Linear:      Z = A Wᵀ + b            local derivatives: ∂Z/∂W ← A, ∂Z/∂b ← 1, ∂Z/∂A ← W
    activation:  A' = f(Z)               local derivative:  f'(Z), elementwise

and the backward pass runs the chain rule from the loss back to the input:

    G ← ∂loss/∂output                    (softmax − target)/N for cross-entropy
    Linear:      ∂W = Gᵀ A,  ∂b = Σₙ G,  G ← G W
    activation:  G ← G ⊙ f'(Z)

No autograd is used for the gradients; the forward values come from the same layers, so
`manual_backward` leaves in every `.grad` what `loss.backward()` would.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from torchprimer.autodiff.local import Fn, module_rule
from torchprimer.errors import UserError
from torchprimer.models import Objective

LOSSES = ("ce", "mse")

# One step of the network: ("flatten", None) | ("linear", nn.Linear) | ("activation", (name, f, f')).
Step = tuple[str, Any]


# Why a model is no MLP manual backprop covers, as templates: gradcheck's report gives the reason in Chinese too.
NOT_MANUAL = {
    "flatten": "manual backprop handles nn.Flatten() over all but the batch dimension only",
    "layer": ("manual backprop covers MLPs of Flatten, Linear and activation layers (no dropout or batch "
              "norm); this model has {layer}"),
    # The layers are read off an nn.Sequential (or one bare layer), never from inside a class of the user's own.
    "custom": ("manual backprop covers MLPs of torch.nn's Flatten, Linear and activation layers in an "
               "nn.Sequential, not a module class of its own; this model has {layer}"),
    "no_linear": "manual backprop needs a model with at least one nn.Linear layer",
    # an activation layer whose derivative it does not know (nn.Softmax, the tanh-approximated nn.GELU):
    # local.module_rule's own refusal, which names the layer and what to use instead
    "activation": "{why}",
}
# The same in Chinese: gradcheck's report and the refusal (NotManual's zh) read them.
NOT_MANUAL_ZH = {
    "flatten": "手算反向传播只支持展平除批维度外所有维度的 nn.Flatten()",
    "layer": ("手算反向传播只涵盖由 Flatten、Linear 和激活层组成的 MLP"
              "（不含 dropout 或 BatchNorm）；这个模型含有 {layer}"),
    "custom": ("手算反向传播只涵盖放在 nn.Sequential 里、由 torch.nn 的 Flatten、Linear 和激活层组成的 MLP，"
               "不涵盖自定义的模块类；这个模型含有 {layer}"),
    "no_linear": "手算反向传播需要模型至少含有一个 nn.Linear 层",
    "activation": "{why}",
}


class NotManual(UserError):
    """Why manual backprop does not cover a model: one of NOT_MANUAL's templates, its key and fields kept
    so that gradcheck's report can give the same reason in Chinese without parsing the English."""

    def __init__(self, key: str, **fields: str) -> None:
        why_zh = fields.pop("why_zh", None)  # a field whose text differs by language: the Chinese in why_zh
        super().__init__(NOT_MANUAL[key].format(**fields),
                         zh=NOT_MANUAL_ZH[key].format(**{**fields, **({"why": why_zh} if why_zh else {})}))
        self.key, self.fields = key, {**fields, **({"why_zh": why_zh} if why_zh else {})}


def mlp_steps(model: nn.Module) -> list[Step]:
    """The layers of an MLP built by `models.build_mlp`, or a UserError naming what is not one."""
    model = getattr(model, "_orig_mod", model)  # a torch.compile'd model wraps the original
    layers = list(model) if isinstance(model, nn.Sequential) else [model]
    steps: list[Step] = []
    for layer in layers:
        if not type(layer).__module__.startswith("torch.nn."):  # a class of the user's, say Net(nn.Module)
            # even a subclass of nn.Linear or nn.ReLU: its forward may compute something else (2 * x W^T)
            raise NotManual("custom", layer=type(layer).__name__)
        if isinstance(layer, nn.Flatten):
            if layer.start_dim != 1 or layer.end_dim != -1:
                raise NotManual("flatten")
            steps.append(("flatten", None))
        elif isinstance(layer, nn.Linear):
            steps.append(("linear", layer))
        elif (isinstance(layer, (nn.Sequential, nn.Dropout, nn.BatchNorm1d)) or list(layer.parameters())
              or type(layer).__module__ != "torch.nn.modules.activation"):  # Unflatten, pooling: no activation
            raise NotManual("layer", layer=type(layer).__name__)
        else:
            try:
                steps.append(("activation", module_rule(layer)))
            except UserError as exc:  # gradcheck then says why the manual column is empty, and checks the rest
                raise NotManual("activation", why=str(exc), why_zh=exc.in_language("zh")) from None
    if not any(kind == "linear" for kind, _ in steps):
        raise NotManual("no_linear")
    return steps


def _loss_name(objective: Objective | str) -> tuple[str, float]:
    if isinstance(objective, str):
        if objective not in LOSSES:
            raise UserError(f"unknown loss {objective!r}; use one of {', '.join(LOSSES)}",
                            zh=f"未知的损失函数 {objective!r}；请使用以下之一：{', '.join(LOSSES)}")
        return objective, 0.0
    if objective.binary:
        raise UserError("manual backprop handles softmax cross-entropy and MSE, not the binary neuron's loss",
                        zh="手算反向传播只处理 softmax 交叉熵和 MSE，不处理二分类神经元的损失")
    return "ce", float(objective.label_smoothing)


def loss_and_gradient(output: Tensor, y: Tensor, loss: str, label_smoothing: float = 0.0) -> tuple[Tensor, Tensor]:
    """The mean loss over the batch and ∂loss/∂output, both by formula.

    Cross-entropy: loss = −Σ q log softmax(o) / N with target q (one-hot, smoothed), and
    ∂loss/∂o = (softmax(o) − q)/N. MSE against the one-hot target over all N·K entries:
    loss = Σ (o − t)² / (N·K), ∂loss/∂o = 2(o − t)/(N·K).
    """
    n, k = output.shape
    onehot = torch.zeros_like(output).scatter_(1, y.view(-1, 1), 1.0)
    if loss == "mse":
        diff = output - onehot
        return (diff * diff).mean(), 2 * diff / (n * k)
    target = onehot * (1 - label_smoothing) + label_smoothing / k
    log_p = torch.log_softmax(output, dim=1)
    value = -(target * log_p).sum() / n
    return value, (log_p.exp() - target) / n


def manual_forward_backward(
    model: nn.Module, x: Tensor, y: Tensor, objective: Objective | str = "ce",
) -> tuple[Tensor, Tensor]:
    """Forward and backward through an MLP by hand; fills every `.grad`; returns (output, loss).

    Gradients are accumulated into `.grad` like `loss.backward()` does, so a caller's
    `zero_grad` and optimiser work unchanged.
    """
    steps = mlp_steps(model)
    loss_kind, smoothing = _loss_name(objective)
    with torch.no_grad():
        # Forward: keep each layer's input; that is what its local derivatives need.
        a, saved = x, []
        for kind, item in steps:
            saved.append(a)
            if kind == "flatten":
                a = a.flatten(1)
            elif kind == "linear":
                if a.ndim != 2:
                    raise UserError(f"manual backprop needs 2-D inputs to nn.Linear, got shape {tuple(a.shape)}",
                                    zh=f"手算反向传播要求 nn.Linear 的输入是二维的，得到的形状却是 {tuple(a.shape)}")
                a = nn.functional.linear(a, item.weight, item.bias)  # Z = A Wᵀ + b
            else:
                _, f, _ = item
                a = f(a)
        output = a
        loss, g = loss_and_gradient(output, y, loss_kind, smoothing)
        # Backward: the chain rule, last layer first.
        for (kind, item), a_in in zip(reversed(steps), reversed(saved), strict=True):
            if kind == "flatten":
                g = g.view(a_in.shape)
            elif kind == "linear":
                _accumulate(item.weight, g.t() @ a_in)  # ∂loss/∂W = Gᵀ A
                if item.bias is not None:
                    _accumulate(item.bias, g.sum(0))  # ∂loss/∂b = Σₙ G
                g = g @ item.weight  # ∂loss/∂A = G W
            else:
                derivative: Fn = item[2]
                g = g * derivative(a_in)  # ∂loss/∂Z = ∂loss/∂A ⊙ f'(Z)
    return output, loss


def _accumulate(param: nn.Parameter, grad: Tensor) -> None:
    if not param.requires_grad:
        return
    if param.grad is None:
        param.grad = grad  # a fresh tensor from the formulas above, aliasing nothing
    else:
        param.grad += grad


def manual_backward(model: nn.Module, x: Tensor, y: Tensor, objective: Objective | str = "ce") -> Tensor:
    """Compute the loss and fill each parameter's `.grad` by explicit formulas; returns the loss.

    `objective` is a `models.Objective` (softmax cross-entropy, optional label smoothing)
    or "ce"/"mse". Works for MLPs built by `models.build_mlp` (Flatten, Linear, activations);
    anything else is refused with a UserError rather than silently given wrong gradients.
    """
    return manual_forward_backward(model, x, y, objective)[1]
