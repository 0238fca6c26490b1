"""Gradient checking: manual backprop vs autograd vs central finite differences, in float64.

Wrong gradients are silent: a model still trains, just worse. Three independent ways of
getting the same numbers, (1) the explicit chain-rule formulas of `autodiff.mlp`,
(2) autograd, (3) (loss(θ + ε) − loss(θ − ε)) / 2ε, must agree, to ~1e-10 for (1) vs (2)
(both exact up to rounding) and ~1e-6 for (3) (its truncation error is O(ε²)).
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from torchprimer.autodiff.mlp import LOSSES, manual_backward, mlp_steps
from torchprimer.errors import UserError, brief

MANUAL_TOL = 1e-10
FD_TOL = 1e-6


def sample_batch(
    dataset: str, rows: int, model: str | None = None, *, hidden: str = "32", activation: str = "relu",
) -> tuple[nn.Module | None, Tensor, Tensor]:
    """(model, x, y): the first `rows` normalised training samples of `dataset`, and the named model
    built for its shape (None without a name). `gradcheck` and `graph` look at models this way."""
    from torchprimer import data as tpdata
    from torchprimer.models import ModelSpec, build_model, parse_hidden

    splits = tpdata.prepare(tpdata.load(dataset), device="cpu")
    net = None
    if model is not None:
        spec = ModelSpec(name=model, hidden=parse_hidden(hidden), activation=activation)
        net = build_model(spec, splits.input_shape, splits.num_classes)
    return net, splits.x_train[:rows], splits.y_train[:rows]


def unused_shape_options(model: str) -> list[str]:
    """Which of sample_batch's `hidden` and `activation` the named model ignores (a cnn has its own
    widths; neuron and linear have no hidden layer), by `models.READS`, the table training's
    refusals read too: commands refuse them rather than drop them."""
    from torchprimer.models import READS

    return [name for name in ("hidden", "activation") if model in READS and name not in READS[model]]


@contextlib.contextmanager
def one_cpu_thread() -> Iterator[None]:
    """Run tiny-tensor work on one CPU thread, then restore the thread count.

    A 64-wide layer gains nothing from intra-op threads, and on a busy machine their
    synchronisation costs dominate: measured 20-30x slower with 2 threads than with 1 on a
    loaded 2-core box for the MLPs of `activations --train` and the finite-difference loop.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


BINARY_LOSS = "bce"  # the neuron's: binary cross-entropy of its sigmoid output, as training uses


def loss_of_output(model: nn.Module, x: Tensor, y: Tensor | None, loss: str) -> tuple[Callable[[Tensor], Tensor], str]:
    """The scalar whose gradient is checked (gradcheck) or drawn (graph), and its name: the loss
    training uses where labels are given, i.e. for the neuron (one sigmoid output) binary
    cross-entropy whatever `loss` says, for (N, classes >= 2) outputs `loss` (ce or mse against
    one-hot); else a fixed random projection of the output, which any module has. Labels given
    for such an output must fit it: a silent switch to the projection would check another loss
    than asked. torch's own loss functions are used, so the manual column is checked against code
    it shares nothing with."""
    from torchprimer.models import objective_for

    try:
        with torch.no_grad():
            out = model(x)
    except Exception as exc:  # a user's module (--module) that does not fit the data's shape or dtype
        raise UserError(f"the module failed on a batch of shape {tuple(x.shape)} ({x.dtype}): {brief(exc)}; "
                        "choose a --dataset its input fits, or change the module") from None
    binary = objective_for(model).binary
    if y is not None and out.ndim == 2 and (out.shape[1] >= 2 or binary):
        classes = 2 if binary else out.shape[1]
        problem = _labels_problem(y, out.shape[0], classes)
        if problem:
            raise UserError(f"the labels y {problem} for the model's output of shape {tuple(out.shape)}; give "
                            f"{out.shape[0]} whole-number labels (a long tensor) in 0..{classes - 1}, or y=None")
        if binary:  # models.Objective's binary loss, kept in the output's dtype (float64 here)
            return (lambda o: nn.functional.binary_cross_entropy(o, y.to(o.dtype).unsqueeze(1))), BINARY_LOSS
        if loss == "mse":
            return (lambda o: nn.functional.mse_loss(o, nn.functional.one_hot(y, o.shape[1]).to(o.dtype))), loss
        return (lambda o: nn.functional.cross_entropy(o, y)), loss
    weights = torch.randn(out.shape, dtype=out.dtype, generator=torch.Generator().manual_seed(1))
    return (lambda o: (o * weights).sum()), "random projection of the output"


def _labels_problem(y: Tensor, rows: int, classes: int) -> str | None:
    """What is wrong with class labels for `rows` outputs of `classes` scores, or None."""
    if y.dtype.is_floating_point or y.dtype == torch.bool or y.is_complex():
        return f"are {y.dtype}, not whole numbers"
    if y.shape != (rows,):
        return f"have shape {tuple(y.shape)}, not ({rows},)"
    if rows and (int(y.min()) < 0 or int(y.max()) >= classes):
        return f"run from {int(y.min())} to {int(y.max())}, outside 0..{classes - 1}"
    return None


def _coordinates(numel: int, limit: int, seed: int) -> Tensor:
    if numel <= limit:
        return torch.arange(numel)
    return torch.randperm(numel, generator=torch.Generator().manual_seed(seed))[:limit].sort().values


def _finite_differences(param: Tensor, f: Callable[[], Tensor], coords: Tensor, eps: float) -> Tensor:
    flat = param.data.view(-1)
    out = torch.empty(len(coords), dtype=torch.float64)
    with torch.no_grad():
        for k, i in enumerate(coords.tolist()):
            keep = float(flat[i])
            flat[i] = keep + eps
            plus = float(f())
            flat[i] = keep - eps
            minus = float(f())
            flat[i] = keep
            out[k] = (plus - minus) / (2 * eps)
    return out


def _errors(value: Tensor, reference: Tensor) -> dict[str, float]:
    diff = float((value - reference).abs().max()) if value.numel() else 0.0
    scale = float(reference.abs().max()) if reference.numel() else 0.0
    return {"max_abs": diff, "max_rel": diff / max(scale, 1e-12)}


def gradcheck(
    model: nn.Module, x: Tensor, y: Tensor | None = None, *, loss: str = "ce",
    eps: float = 1e-6, max_coords: int = 256, seed: int = 0,
) -> dict[str, Any]:
    """Compare per parameter tensor the manual, autograd and finite-difference gradients.

    Works on any nn.Module: the manual column needs an MLP of Flatten/Linear/activation
    layers (else it is reported as not available); finite differences cover at most
    `max_coords` random entries per tensor, so large models stay quick. The model is
    copied to float64 (the caller's is not touched) and checked as training runs it, but
    without randomness: batch norm on the batch's own statistics (its running statistics
    would be a fixed affine map, which training never differentiates), every other module in
    eval mode (dropout off). `mode` in the report says which, in words.
    """
    if loss not in LOSSES:
        raise UserError(f"unknown loss {loss!r}; use one of {', '.join(LOSSES)}")
    require_parameters(model)
    model64 = copy.deepcopy(model).double().eval()
    norms = [m for m in model64.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms if len(x) > 1 else []:  # one sample has no batch statistics: its running ones, then
        m.train()
    mode = "eval mode (dropout off)"
    if norms:
        mode += (", batch norm on the batch's own statistics, as training computes it" if len(x) > 1 else
                 ", batch norm on its running statistics (one sample has no batch statistics; use --batch 2 or "
                 "more to check what training computes)")
    x64 = x.double() if x.is_floating_point() else x
    loss_of, objective = loss_of_output(model64, x64, y, loss)
    params = [(n, p) for n, p in model64.named_parameters() if p.requires_grad]

    def f() -> Tensor:
        return loss_of(model64(x64))

    with one_cpu_thread():
        model64.zero_grad(set_to_none=True)
        f().backward()
        autograd = {n: p.grad.detach().clone() for n, p in params}
        manual, manual_note = _manual_gradients(model64, x64, y, loss, objective, params)
        rows = []
        for i, (name, p) in enumerate(params):
            coords = _coordinates(p.numel(), max_coords, seed + i)
            fd = _finite_differences(p, f, coords, eps)
            rows.append(_row(name, p, autograd[name], fd, coords, manual))
        agrees = _torch_gradcheck(model64, x64, loss_of, params)
    return {
        "loss": objective, "batch": len(x), "eps": eps, "rows": rows, "manual_available": manual is not None,
        "manual_note": manual_note, "torch_gradcheck": agrees, "mode": mode,
        "tolerance": {"manual_vs_autograd": MANUAL_TOL, "finite_diff_vs_autograd": FD_TOL},
        "ok": agrees and all(r["ok"] for r in rows),
    }


def require_parameters(model: nn.Module) -> None:
    """A model with nothing to train has no gradient to check: say so instead of printing an empty table."""
    if not any(p.requires_grad for p in model.parameters()):
        raise UserError(
            f"{type(model).__name__} has no trainable parameters, so there is no gradient to check; "
            "pass a model with at least one layer that has weights"
        )


def _manual_gradients(
    model: nn.Module, x: Tensor, y: Tensor | None, loss: str, objective: str, params: list[tuple[str, nn.Parameter]],
) -> tuple[dict[str, Tensor] | None, str]:
    """The manual column, or None and the reason it does not apply to this model."""
    if objective == BINARY_LOSS:
        return None, "manual backprop covers softmax cross-entropy and MSE, not the neuron's binary cross-entropy"
    if objective not in LOSSES or y is None:
        return None, "manual backprop needs class outputs (N, classes) and labels"
    try:
        mlp_steps(model)
    except UserError as exc:
        return None, str(exc)
    model.zero_grad(set_to_none=True)
    manual_backward(model, x, y, loss)
    return {n: p.grad.detach().clone() for n, p in params}, ""


def _row(
    name: str, p: Tensor, ag: Tensor, fd: Tensor, coords: Tensor, manual: dict[str, Tensor] | None,
) -> dict[str, Any]:
    """One parameter tensor's errors; tolerances scale with the gradient when it exceeds 1."""
    scale = max(1.0, float(ag.abs().max()))
    row: dict[str, Any] = {
        "parameter": name, "shape": list(p.shape), "grad_max": float(ag.abs().max()),
        "finite_diff": _errors(fd, ag.view(-1)[coords]), "fd_checked": len(coords),
    }
    ok = row["finite_diff"]["max_abs"] <= FD_TOL * scale
    if manual is not None:
        row["manual"] = _errors(manual[name], ag)
        ok = ok and row["manual"]["max_abs"] <= MANUAL_TOL * scale
    row["ok"] = ok
    return row


def _torch_gradcheck(
    model: nn.Module, x: Tensor, loss_of: Callable[[Tensor], Tensor], params: list[tuple[str, nn.Parameter]],
) -> bool:
    """torch.autograd.gradcheck in its fast mode (one random direction), as a fourth opinion."""
    from torch.func import functional_call

    names = [n for n, _ in params]

    def of_params(*tensors: Tensor) -> Tensor:
        return loss_of(functional_call(model, dict(zip(names, tensors, strict=True)), (x,), strict=False))

    inputs = tuple(p.detach().clone().requires_grad_(True) for _, p in params)
    return bool(torch.autograd.gradcheck(
        of_params, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, fast_mode=True, raise_exception=False,
    ))


def load_module(spec: str) -> nn.Module:
    """`package.module:Name` -> Name(), for `torchprimer gradcheck --module`."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UserError(f"--module {spec!r}: write it as package.module:Name, e.g. torch.nn:PReLU")
    here = os.getcwd()
    added = here not in sys.path  # as `python -m` does: a learner's own layers.py in this folder is found
    if added:
        sys.path.insert(0, here)
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UserError(f"--module {spec!r}: cannot import it ({exc}); check the name and the install") from None
    finally:
        if added:
            sys.path.remove(here)
    try:
        made = factory()
    except Exception as exc:
        raise UserError(f"--module {spec!r}: calling {attr}() with no arguments failed ({exc})") from None
    if not isinstance(made, nn.Module):
        raise UserError(f"--module {spec!r} gave a {type(made).__name__}, not a torch.nn.Module")
    return made


def _sci(v: float) -> str:
    return f"{v:.1e}"


def render(report: dict[str, Any], title: str = "") -> str:
    """The gradcheck report as a plain-text table, one row per parameter tensor."""
    lines = [title] if title else []
    header = ["parameter", "shape", "max|grad|", "manual vs autograd abs/rel", "finite diff vs autograd abs/rel",
              "entries", "ok"]
    body = []
    for r in report["rows"]:
        manual = f"{_sci(r['manual']['max_abs'])} / {_sci(r['manual']['max_rel'])}" if "manual" in r else "n/a"
        fd = r["finite_diff"]
        total = 1
        for n in r["shape"]:
            total *= n
        body.append([r["parameter"], "x".join(map(str, r["shape"])) or "scalar", _sci(r["grad_max"]), manual,
                     f"{_sci(fd['max_abs'])} / {_sci(fd['max_rel'])}", f"{r['fd_checked']}/{total}",
                     "yes" if r["ok"] else "NO"])
    table = [header, *body]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table]
    if not report["manual_available"]:
        lines.append(f"manual column: {report['manual_note']}")
    lines.append(f"torch.autograd.gradcheck (fast mode): {'passed' if report['torch_gradcheck'] else 'FAILED'}")
    tol = report["tolerance"]
    verdict = "all gradients agree" if report["ok"] else "GRADIENTS DISAGREE"
    lines.append(f"{verdict} (manual within {tol['manual_vs_autograd']:g}, finite differences within "
                 f"{tol['finite_diff_vs_autograd']:g}, times max(1, max|grad|); float64, eps {report['eps']:g}; "
                 f"{report['mode']})")
    return "\n".join(lines)
