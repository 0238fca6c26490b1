"""Backpropagation made visible (seed §7.2): the chain rule by hand, checked against autograd.

`scalar`: a micrograd-style engine and the seed's example step by step.
`local`: each activation's forward beside its hand-written derivative.
`mlp`: manual backprop for whole MLPs with matrix formulas (`manual_backward`).
`check`: manual vs autograd vs finite differences (`gradcheck`).
`graph`: the autograd graph, walked from `grad_fn`.
"""

from torchprimer.autodiff.check import gradcheck
from torchprimer.autodiff.mlp import manual_backward, manual_forward_backward
from torchprimer.autodiff.scalar import worked_example

__all__ = ["gradcheck", "manual_backward", "manual_forward_backward", "worked_example"]
