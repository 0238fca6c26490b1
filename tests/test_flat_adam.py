"""FlatAdam (training/flat.py): torch's fused Adam over one flat buffer gives torch's results,
keeps torch's state_dict layout, and is what the training loop uses for Adam."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from torchprimer.training.config import make_config
from torchprimer.training.flat import FlatAdam
from torchprimer.training.loop import make_optimizer, step_calls

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def _model(device: str = "cpu") -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 5)).to(device)


def _train(model: nn.Module, optimizer: torch.optim.Optimizer, steps: int, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    for step in range(steps):
        x, y = torch.randn(8, 20, generator=g).to(device), torch.randint(0, 5, (8,), generator=g).to(device)
        for group in optimizer.param_groups:
            group["lr"] = 0.01 / (1 + step)  # a schedule changes the lr between steps
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("decoupled", [False, True])
def test_flat_adam_equals_torch_fused_adam_bitwise(decoupled: bool, device: str) -> None:
    ours, theirs = _model(device), _model(device)
    torch_adam = torch.optim.Adam(theirs.parameters(), lr=0.01, weight_decay=0.1, fused=True,
                                  decoupled_weight_decay=decoupled)
    flat = FlatAdam(ours.parameters(), lr=0.01, weight_decay=0.1, decoupled_weight_decay=decoupled)
    _train(theirs, torch_adam, 12)
    _train(ours, flat, 12)
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        if device == "cpu":
            assert torch.equal(a, b)
        else:  # cuBLAS may pick other kernels for the flat buffer's less aligned views: rounding apart
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        assert a.untyped_storage().data_ptr() == flat.flat_params.untyped_storage().data_ptr()
    # and to float tolerance the default (foreach) Adam, which rounds a little differently
    plain = _model(device)
    _train(plain, torch.optim.Adam(plain.parameters(), lr=0.01, weight_decay=0.1,
                                   decoupled_weight_decay=decoupled), 12)
    for a, b in zip(ours.parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_state_dict_has_torch_layout_and_loads_both_ways() -> None:
    ours, theirs = _model(), _model()
    flat = FlatAdam(ours.parameters(), lr=0.01)
    torch_adam = torch.optim.Adam(theirs.parameters(), lr=0.01, fused=True)
    _train(ours, flat, 5)
    _train(theirs, torch_adam, 5)
    assert float(flat.state_dict()["state"][0]["step"]) == 5
    _train(ours, flat, 2, seed=3)
    _train(theirs, torch_adam, 2, seed=3)
    saved = flat.state_dict()  # a second state_dict still follows the steps
    assert float(saved["state"][0]["step"]) == 7 and saved["state"][1]["exp_avg"].shape == (16,)
    for key in ("exp_avg", "exp_avg_sq"):
        for i in range(4):
            assert torch.equal(saved["state"][i][key], torch_adam.state_dict()["state"][i][key])

    # a torch Adam checkpoint continues in FlatAdam (and the other way) exactly
    resumed, resumed_torch = copy.deepcopy(theirs), copy.deepcopy(theirs)
    flat2 = FlatAdam(resumed.parameters(), lr=0.01)
    flat2.load_state_dict(copy.deepcopy(torch_adam.state_dict()))
    torch2 = torch.optim.Adam(resumed_torch.parameters(), lr=0.01, fused=True)
    torch2.load_state_dict(copy.deepcopy(flat2.state_dict()))
    _train(resumed, flat2, 3, seed=2)
    _train(resumed_torch, torch2, 3, seed=2)
    _train(theirs, torch_adam, 3, seed=2)
    for a, b, c in zip(resumed.parameters(), resumed_torch.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(a, c) and torch.equal(b, c)


@pytest.mark.parametrize("device", DEVICES)
def test_the_loop_uses_flat_adam_for_adam_and_adamw_only(device: str) -> None:
    assert isinstance(make_optimizer(_model(device), make_config(optimizer="adam")), FlatAdam)
    adamw = make_optimizer(_model(device), make_config(optimizer="adamw", weight_decay=0.01))
    assert isinstance(adamw, FlatAdam) and adamw.param_groups[0]["decoupled_weight_decay"]
    model = _model(device)
    sgd = make_optimizer(model, make_config(optimizer="sgd"))
    assert not isinstance(sgd, FlatAdam)
    x, y = torch.randn(4, 20, device=device), torch.tensor([0, 1, 2, 3], device=device)
    nn.functional.cross_entropy(model(x), y).backward()
    zero_grad, update = step_calls(sgd)
    update()
    zero_grad()
    assert all(p.grad is None for p in model.parameters())
    # in place (what --cuda-graph needs): the same .grad tensors, zeroed
    nn.functional.cross_entropy(model(x), y).backward()
    grads = [p.grad for p in model.parameters()]
    zero_grad, update = step_calls(sgd, in_place=True)
    zero_grad()
    assert all(p.grad is g and not g.any() for p, g in zip(model.parameters(), grads, strict=True))


def test_zero_grad_keeps_the_gradient_views() -> None:
    model = _model()
    flat = FlatAdam(model.parameters())
    nn.functional.cross_entropy(model(torch.randn(4, 20)), torch.tensor([0, 1, 2, 3])).backward()
    assert bool(flat.flat_grads.abs().sum() > 0)
    flat.zero_grad(set_to_none=True)
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())
    assert not flat.flat_grads.any()


def test_gradients_replaced_by_model_zero_grad_still_train() -> None:
    """`model.zero_grad(set_to_none=True)` (not the optimiser's) drops the `.grad` views, so the next
    backward writes new tensors: FlatAdam takes those gradients, as torch's Adam does, and later
    steps use the views again (`activations --train` once trained on zeros through this)."""
    ours, theirs = _model(), _model()
    flat = FlatAdam(ours.parameters(), lr=0.01)
    torch_adam = torch.optim.Adam(theirs.parameters(), lr=0.01, fused=True)
    x, y = torch.randn(8, 20), torch.randint(0, 5, (8,))
    for model in (ours, theirs):
        model.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()  # a gradient only looked at, as at init
    assert all(p.grad is not g for p, g in zip(ours.parameters(), flat.grad_views, strict=True))
    _train(theirs, torch_adam, 5)
    _train(ours, flat, 5)
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(a, b)
    assert all(p.grad is g for p, g in zip(ours.parameters(), flat.grad_views, strict=True))
    ours.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(ours(x), y).backward()
    before = [p.detach().clone() for p in ours.parameters()]
    flat.step()  # a replaced gradient straight into step: copied in, then used
    assert all(not torch.equal(a, b) for a, b in zip(ours.parameters(), before, strict=True))
    ours.zero_grad(set_to_none=True)
    with pytest.raises(RuntimeError, match="parameter 0 has no gradient"):
        flat.step()
