"""The autograd-free step of a plain ReLU MLP (training/fast_mlp.py) leaves bitwise the gradients
loss.backward() leaves, trains to the same metrics, and is used for nothing else."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import torchprimer
from torchprimer.models import ModelSpec, Objective, build_model
from torchprimer.training import loop
from torchprimer.training.fast_mlp import fast_step_for

CE = Objective(binary=False)


def _mlp(hidden: tuple[int, ...], **spec: object) -> nn.Module:
    torch.manual_seed(0)
    return build_model(ModelSpec(name="mlp", hidden=hidden, **spec), (1, 8, 8), 10)  # type: ignore[arg-type]


@pytest.mark.parametrize(("hidden", "batch"), [((32,), 16), ((32,), 5), ((24, 12), 7), ((16, 16, 16), 1), ((), 9)])
def test_fast_step_equals_autograd_bitwise(hidden: tuple[int, ...], batch: int) -> None:
    model = _mlp(hidden)
    fast_model = copy.deepcopy(model)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(batch, 1, 8, 8, generator=g), torch.randint(0, 10, (batch,), generator=g)
    output = model(x)
    loss = CE.loss(output, y)
    loss.backward()
    step = fast_step_for(fast_model, CE, autograd=True, amp=False)
    assert step is not None
    for p in fast_model.parameters():
        p.grad = torch.full_like(p, 7.0)  # overwritten, not accumulated into
    fast_output, fast_loss = step(x, y)
    assert torch.equal(fast_output, output) and torch.equal(fast_loss, loss)
    for a, b in zip(model.parameters(), fast_model.parameters(), strict=True):
        assert b.grad is not None and torch.equal(a.grad, b.grad)
    assert not fast_output.requires_grad


@pytest.mark.parametrize("case", ["tanh", "dropout", "batchnorm", "cnn", "smoothing", "binary",
                                  "manual", "amp", "eval", "frozen"])
def test_fast_step_is_used_for_nothing_else(case: str) -> None:
    spec = {"tanh": {"activation": "tanh"}, "dropout": {"dropout": 0.1}, "batchnorm": {"batchnorm": True}}
    model = build_model(ModelSpec(name="cnn"), (1, 8, 8), 10) if case == "cnn" else _mlp((16,), **spec.get(case, {}))
    if case == "eval":
        model.eval()
    if case == "frozen":
        next(model.parameters()).requires_grad_(False)
    objective = {"smoothing": Objective(binary=False, label_smoothing=0.1),
                 "binary": Objective(binary=True)}.get(case, CE)
    assert fast_step_for(model, objective, autograd=case != "manual", amp=case == "amp") is None


def test_training_with_and_without_the_fast_step_gives_identical_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = torchprimer.train(epochs=2, seed=3, save=False, progress="none")
    monkeypatch.setattr(loop, "fast_step_for", lambda *args, **kwargs: None)
    slow = torchprimer.train(epochs=2, seed=3, save=False, progress="none")
    assert fast.history == [{**r, "seconds": f["seconds"]} for r, f in zip(slow.history, fast.history, strict=True)]
    assert fast.test == slow.test
