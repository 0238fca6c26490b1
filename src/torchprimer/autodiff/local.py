"""Each activation's forward beside its local derivative, written out by hand.

This is the one place where derivatives are typed in: `manual_backward`, the scalar
engine behind `torchprimer backprop`, and the tests all use it, and the tests check it
against autograd in float64. At a kink the derivative follows torch's own convention
(e.g. relu'(0) = 0, hardtanh'(±1) = 0, hardswish'(-3) = 0), so the two agree exactly
everywhere, not only almost everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from torchprimer.errors import UserError
from torchprimer.models import ACTIVATIONS, check_activation

Fn = Callable[[Tensor], Tensor]

# A named activation: (name, forward f(x), derivative f'(x)).
Rule = tuple[str, Fn, Fn]


def _sigmoid_rule() -> tuple[Fn, Fn]:
    def d(x: Tensor) -> Tensor:
        s = torch.sigmoid(x)
        return s * (1 - s)  # σ' = σ(1 − σ): at most 1/4, the root of vanishing gradients

    return torch.sigmoid, d


def _tanh_rule() -> tuple[Fn, Fn]:
    return torch.tanh, lambda x: 1 - torch.tanh(x) ** 2


def _relu_rule() -> tuple[Fn, Fn]:
    return torch.relu, lambda x: (x > 0).to(x.dtype)  # torch takes relu'(0) = 0


def _leaky_relu_rule(slope: float) -> tuple[Fn, Fn]:
    def f(x: Tensor) -> Tensor:
        return nn.functional.leaky_relu(x, slope)

    def d(x: Tensor) -> Tensor:
        return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, slope))

    return f, d


def _elu_rule(alpha: float, scale: float = 1.0) -> tuple[Fn, Fn]:
    """ELU, and SELU as a scaled ELU; torch uses the left branch at x = 0."""

    def f(x: Tensor) -> Tensor:
        return scale * torch.where(x > 0, x, alpha * torch.expm1(x))

    def d(x: Tensor) -> Tensor:
        return scale * torch.where(x > 0, torch.ones_like(x), alpha * torch.exp(x))

    return f, d


def _gelu_rule() -> tuple[Fn, Fn]:
    def f(x: Tensor) -> Tensor:
        return nn.functional.gelu(x)

    def d(x: Tensor) -> Tensor:
        cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))  # Φ(x)
        pdf = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)  # φ(x)
        return cdf + x * pdf  # (x Φ(x))' = Φ(x) + x φ(x)

    return f, d


def _silu_rule() -> tuple[Fn, Fn]:
    def d(x: Tensor) -> Tensor:
        s = torch.sigmoid(x)
        return s * (1 + x * (1 - s))  # (x σ(x))' = σ + x σ(1 − σ)

    return nn.functional.silu, d


def _softplus_rule(beta: float, threshold: float) -> tuple[Fn, Fn]:
    """softplus(x) = log(1 + e^{βx})/β; torch returns x itself above the threshold."""

    def f(x: Tensor) -> Tensor:
        return nn.functional.softplus(x, beta, threshold)

    def d(x: Tensor) -> Tensor:
        return torch.where(x * beta > threshold, torch.ones_like(x), torch.sigmoid(x * beta))

    return f, d


def _mish_rule() -> tuple[Fn, Fn]:
    def d(x: Tensor) -> Tensor:
        t = torch.tanh(torch.log1p(torch.exp(x)))  # tanh(softplus(x))
        return t + x * (1 - t * t) * torch.sigmoid(x)  # product rule, softplus' = σ

    return nn.functional.mish, d


def _hardswish_rule() -> tuple[Fn, Fn]:
    def d(x: Tensor) -> Tensor:
        middle = x / 3 + 0.5  # (x (x + 3) / 6)' on (-3, 3); torch takes the outer slopes at ±3
        return torch.where(x <= -3, torch.zeros_like(x), torch.where(x < 3, middle, torch.ones_like(x)))

    return nn.functional.hardswish, d


def _hardtanh_rule(low: float, high: float) -> tuple[Fn, Fn]:
    def f(x: Tensor) -> Tensor:
        return nn.functional.hardtanh(x, low, high)

    def d(x: Tensor) -> Tensor:
        return ((x > low) & (x < high)).to(x.dtype)  # zero on the flat parts and at the corners

    return f, d


def _softsign_rule() -> tuple[Fn, Fn]:
    return nn.functional.softsign, lambda x: 1 / (1 + x.abs()) ** 2


def module_rule(module: nn.Module) -> Rule:
    """The (name, forward, derivative) of an activation module, with its own settings."""
    # ReLU6 is a Hardtanh(0, 6) subclass, and SELU must come before its ELU look-alike.
    if isinstance(module, nn.ReLU6):
        return ("relu6", *_hardtanh_rule(0.0, 6.0))
    if isinstance(module, nn.Hardtanh):
        return ("hardtanh", *_hardtanh_rule(float(module.min_val), float(module.max_val)))
    if isinstance(module, nn.SELU):
        return ("selu", *_elu_rule(1.6732632423543772848170429916717, 1.0507009873554804934193349852946))
    if isinstance(module, nn.ELU):
        return ("elu", *_elu_rule(float(module.alpha)))
    if isinstance(module, nn.LeakyReLU):
        return ("leaky_relu", *_leaky_relu_rule(float(module.negative_slope)))
    if isinstance(module, nn.Softplus):
        return ("softplus", *_softplus_rule(float(module.beta), float(module.threshold)))
    if isinstance(module, nn.GELU):
        if module.approximate != "none":
            raise UserError("manual backprop knows the exact GELU only; build it as nn.GELU() (approximate='none')",
                            zh="手算反向传播只支持精确的 GELU；请用 nn.GELU()（approximate='none'）来构建它")
        return ("gelu", *_gelu_rule())
    simple = {
        nn.Sigmoid: ("sigmoid", _sigmoid_rule), nn.Tanh: ("tanh", _tanh_rule), nn.ReLU: ("relu", _relu_rule),
        nn.SiLU: ("silu", _silu_rule), nn.Mish: ("mish", _mish_rule), nn.Hardswish: ("hardswish", _hardswish_rule),
        nn.Softsign: ("softsign", _softsign_rule),
    }
    for kind, (name, make) in simple.items():
        if type(module) is kind:
            return (name, *make())
    raise UserError(
        f"manual backprop has no derivative for {type(module).__name__}; "
        f"use one of: {', '.join(ACTIVATIONS)}",
        zh=f"手算反向传播没有 {type(module).__name__} 的导数；请使用以下之一：{', '.join(ACTIVATIONS)}",
    )


def rule(name: str) -> Rule:
    """The rule of an activation by its name in `models.ACTIVATIONS`, default settings."""
    check_activation(name)
    return module_rule(ACTIVATIONS[name]())
