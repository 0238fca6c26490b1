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
import math
import numbers
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from torchprimer.autodiff.mlp import LOSSES, NOT_MANUAL, NOT_MANUAL_ZH, NotManual, manual_backward, mlp_steps
from torchprimer.data.splits import as_tensors
from torchprimer.errors import UserError, brief, check_whole
from torchprimer.report import counted, display_width, in_language, pad

MANUAL_TOL = 1e-10
FD_TOL = 1e-6


# gradcheck's memory a parameter: the float32 model (4 bytes), its float64 copy, autograd's gradient
# and its clone, the manual gradient (8 each), and room for torch's own gradcheck (8)
CHECK_BYTES_PER_PARAMETER = 44


def sample_batch(
    dataset: str, rows: int, model: str | None = None, *, hidden: str = "32", activation: str = "relu",
    for_gradcheck: bool = False,
) -> tuple[nn.Module | None, Tensor, Tensor]:
    """(model, x, y): the first `rows` normalised training samples of `dataset`, and the named model
    built for its shape (None without a name). `gradcheck` and `graph` look at models this way;
    `for_gradcheck`: a model too big for gradcheck's float64 copies is refused before it is built."""
    from torchprimer import data as tpdata
    from torchprimer.models import TRAINING_PER_PARAMETER, ModelSpec, build_model, parse_hidden

    splits = tpdata.prepare(tpdata.load(dataset), device="cpu")
    net = None
    if model is not None:
        spec = ModelSpec(name=model, hidden=parse_hidden(hidden), activation=activation)
        checked = (CHECK_BYTES_PER_PARAMETER, "to check in float64 (copies, gradients)",
                   "以 float64 检查（副本和梯度）")
        net = build_model(spec, splits.input_shape, splits.num_classes,
                          per_parameter=checked if for_gradcheck else TRAINING_PER_PARAMETER)
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
RANDOM_PROJECTION = "random projection of the output"  # the checked scalar of an output with no class scores


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
                        "choose a --dataset its input fits, or change the module",
                        zh=f"模块在形状为 {tuple(x.shape)}（{x.dtype}）的一批数据上运行失败：{brief(exc)}；"
                           "请选一个与它的输入相符的 --dataset，或者修改模块") from None
    if not out.is_floating_point():
        raise UserError(f"the module's output is {out.dtype}, not floating point, so it has no gradient; "
                        "return the scores themselves (no argmax, round or .long())",
                        zh=f"模块的输出是 {out.dtype}，不是浮点数，因此没有梯度；"
                           "请直接返回分数本身（不要 argmax、round 或 .long()）")
    binary = objective_for(model).binary
    if y is not None and out.ndim == 2 and (out.shape[1] >= 2 or binary):
        classes = 2 if binary else out.shape[1]
        problem = _labels_problem(y, out.shape[0], classes)
        if problem:
            problem_zh = _labels_problem(y, out.shape[0], classes, "zh")
            raise UserError(f"the labels y {problem} for the model's output of shape {tuple(out.shape)}; give "
                            f"{out.shape[0]} whole-number labels (a long tensor) in 0..{classes - 1}, or y=None",
                            zh=f"标签 y {problem_zh}，不适用于形状为 {tuple(out.shape)} 的模型输出；请给出 "
                               f"{out.shape[0]} 个取值在 0..{classes - 1} 内的整数标签（long 张量），或者传 y=None")
        if binary:  # models.Objective's binary loss, kept in the output's dtype (float64 here)
            return (lambda o: nn.functional.binary_cross_entropy(o, y.to(o.dtype).unsqueeze(1))), BINARY_LOSS
        if loss == "mse":
            return (lambda o: nn.functional.mse_loss(o, nn.functional.one_hot(y, o.shape[1]).to(o.dtype))), loss
        return (lambda o: nn.functional.cross_entropy(o, y)), loss
    weights = torch.randn(out.shape, dtype=out.dtype, generator=torch.Generator().manual_seed(1))
    return (lambda o: (o * weights).sum()), RANDOM_PROJECTION


def _labels_problem(y: Tensor, rows: int, classes: int, lang: str = "en") -> str | None:
    """What is wrong with class labels for `rows` outputs of `classes` scores, or None; in English ("en") or
    Chinese ("zh"), each completing "the labels y ..." ("标签 y ...")."""
    zh = lang == "zh"
    if y.dtype.is_floating_point or y.dtype == torch.bool or y.is_complex():
        return f"是 {y.dtype}，不是整数" if zh else f"are {y.dtype}, not whole numbers"
    if y.shape != (rows,):
        return f"的形状是 {tuple(y.shape)}，而不是 ({rows},)" if zh else f"have shape {tuple(y.shape)}, not ({rows},)"
    if rows and (int(y.min()) < 0 or int(y.max()) >= classes):
        low, high = int(y.min()), int(y.max())
        return (f"的取值从 {low} 到 {high}，超出了 0..{classes - 1}" if zh else
                f"run from {low} to {high}, outside 0..{classes - 1}")
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
    without randomness: in eval mode (dropout off), except its batch norm layers, which run in
    train mode on the batch's own statistics (their running statistics would be a fixed affine
    map, which training never differentiates); a single sample leaves them in eval mode, on
    their running statistics. `mode` in the report says which, in words, read off the modules'
    own `training` flags.
    """
    if loss not in LOSSES:
        raise UserError(f"unknown loss {loss!r}; use one of {', '.join(LOSSES)}",
                        zh=f"未知的损失函数 {loss!r}；请使用以下之一：{', '.join(LOSSES)}")
    x, y = _checked_call(model, x, y, eps, max_coords, seed)
    require_parameters(model)
    model64 = copy.deepcopy(model).double().eval()
    for p in model64.parameters():  # finite differences step through each tensor's flat view
        if not p.is_contiguous():
            p.data = p.data.contiguous()
    norms = [m for m in model64.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms if len(x) > 1 else []:  # one sample (1, C) has no batch statistics: its running ones, then
        m.train()
    mode = _modes("en")[_mode_index(model64)]
    x64 = x.double() if x.is_floating_point() else x
    loss_of, objective = loss_of_output(model64, x64, y, loss)
    params = [(n, p) for n, p in model64.named_parameters() if p.requires_grad]

    def f() -> Tensor:
        return loss_of(model64(x64))

    with one_cpu_thread():
        model64.zero_grad(set_to_none=True)
        value = f()
        if not value.requires_grad:
            raise UserError("the loss does not depend differentiably on the module's parameters (its output has "
                            "no grad_fn: a .detach() or torch.no_grad() inside it?), so there is no gradient to check",
                            zh="损失并不以可微的方式依赖于模块的参数（它的输出没有 grad_fn：模块里用了 .detach() 或 "
                               "torch.no_grad() 吗？），因此没有可检查的梯度")
        try:
            value.backward()
        except Exception as exc:  # a user's autograd.Function whose backward fails
            raise UserError(f"the module's backward pass failed ({brief(exc)}); fix its backward",
                            zh=f"模块的反向传播失败了（{brief(exc)}）；请修正它的 backward") from None
        # a parameter the output does not use gets no .grad from autograd: its gradient is zero,
        # as the finite differences find
        autograd = {n: p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p) for n, p in params}
        manual, why_not = _manual_gradients(model64, x64, y, loss, objective, params)
        rows = []
        for i, (name, p) in enumerate(params):
            coords = _coordinates(p.numel(), max_coords, seed + i)
            fd = _finite_differences(p, f, coords, eps)
            rows.append(_row(name, p, autograd[name], fd, coords, manual))
        agrees = _torch_gradcheck(model64, x64, loss_of, params)
    return {
        "loss": objective, "batch": len(x), "eps": eps, "rows": rows, "manual_available": manual is not None,
        "manual_note": _note(why_not, "en"), "manual_why": why_not, "torch_gradcheck": agrees, "mode": mode,
        "tolerance": {"manual_vs_autograd": MANUAL_TOL, "finite_diff_vs_autograd": FD_TOL},
        "ok": agrees and all(r["ok"] for r in rows),
    }


def _mode_index(model: nn.Module) -> int:
    """Which of `_modes` describes how gradcheck set `model` to run, from its batch norm layers' own `training`
    flags (every other module is in eval mode): 0, it has none; 1, in train mode, on the batch's own statistics;
    2, in eval mode, on their running statistics."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    return 0 if not norms else 1 if all(m.training for m in norms) else 2


def _checked_call(model: Any, x: Any, y: Any, eps: Any, max_coords: Any, seed: Any) -> tuple[Tensor, Tensor | None]:
    """gradcheck's arguments as it needs them, or one UserError naming the one that is wrong: from Python,
    a NumPy x was an AttributeError, eps=0 a ZeroDivisionError, a NaN in x a report of wrong gradients,
    max_coords=0 an 'ok' after checking nothing. NumPy arrays and lists are taken as tensors, and whole-number
    labels of any integer type as torch's long."""
    if not isinstance(model, nn.Module):
        raise UserError(f"gradcheck's model is {type(model).__name__}, not a torch.nn.Module; pass the network "
                        "itself, e.g. gradcheck(nn.Sequential(...), x, y)",
                        zh=f"gradcheck 的 model 是 {type(model).__name__}，不是 torch.nn.Module；请传入网络本身，"
                           "例如 gradcheck(nn.Sequential(...), x, y)")
    x, y = as_tensors(x, y)
    if not isinstance(x, Tensor) or not (y is None or isinstance(y, Tensor)):
        raise UserError("gradcheck's x and y must be tensors (or NumPy arrays or lists), y may be None",
                        zh="gradcheck 的 x 和 y 必须是张量（或 NumPy 数组、列表），y 也可以是 None")
    if x.ndim == 0 or len(x) == 0:
        raise UserError(f"gradcheck's x of shape {tuple(x.shape)} holds no samples; pass a batch, e.g. x[:8]",
                        zh=f"gradcheck 的 x（形状 {tuple(x.shape)}）不含任何样本；请传入一批数据，例如 x[:8]")
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise UserError("gradcheck's x holds NaN or infinite values, where no gradient is defined; check finite "
                        "inputs, e.g. x.nan_to_num()",
                        zh="gradcheck 的 x 含有 NaN 或无穷大的值，那里梯度没有定义；"
                           "请检查有限的输入，例如 x.nan_to_num()")
    if not (isinstance(eps, numbers.Real) and not isinstance(eps, bool) and math.isfinite(eps) and eps > 0):
        raise UserError(f"gradcheck's eps {eps!r} must be a finite number above 0, e.g. 1e-6 (the step of the "
                        "finite differences)",
                        zh=f"gradcheck 的 eps {eps!r} 必须是大于 0 的有限数，例如 1e-6（有限差分的步长）")
    check_whole("gradcheck's max_coords", max_coords, 1, 256)
    check_whole("gradcheck's seed", seed, 0, 0)
    if y is not None and not y.is_floating_point() and y.dtype != torch.bool:
        y = y.long()
    return x, y


def require_parameters(model: nn.Module) -> None:
    """A model with nothing to train has no gradient to check: say so instead of printing an empty table."""
    if not any(p.requires_grad for p in model.parameters()):
        raise UserError(
            f"{type(model).__name__} has no trainable parameters, so there is no gradient to check; "
            "pass a model with at least one layer that has weights",
            zh=f"{type(model).__name__} 没有可训练的参数，因此没有可检查的梯度；请传入至少有一层带权重的模型",
        )


def _manual_gradients(
    model: nn.Module, x: Tensor, y: Tensor | None, loss: str, objective: str, params: list[tuple[str, nn.Parameter]],
) -> tuple[dict[str, Tensor] | None, dict[str, str]]:
    """The manual column, or None and why it does not apply to this model: {"key": its
    TEXT key (manual_...), and the fields that text takes}, so the report can say it in either language."""
    if objective == BINARY_LOSS:
        return None, {"key": "manual_binary"}
    if objective not in LOSSES or y is None:
        return None, {"key": "manual_no_classes"}
    try:
        mlp_steps(model)
    except NotManual as exc:
        return None, {"key": f"manual_{exc.key}", **exc.fields}
    model.zero_grad(set_to_none=True)
    manual_backward(model, x, y, loss)
    return {n: p.grad.detach().clone() for n, p in params}, {}


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
        raise UserError(f"--module {spec!r}: write it as package.module:Name, e.g. torch.nn:PReLU",
                        zh=f"--module {spec!r}：请写成 package.module:Name 的形式，例如 torch.nn:PReLU")
    here = os.getcwd()
    added = here not in sys.path  # as `python -m` does: a learner's own layers.py in this folder is found
    if added:
        sys.path.insert(0, here)
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UserError(f"--module {spec!r}: cannot import it ({brief(exc)}); check the name and the install",
                        zh=f"--module {spec!r}：无法导入（{brief(exc)}）；请检查名称和安装") from None
    except Exception as exc:  # the module's own code fails as it is imported (a SyntaxError, a raise)
        raise UserError(f"--module {spec!r}: importing {module_name} failed ({brief(exc)}); "
                        "fix that file",
                        zh=f"--module {spec!r}：导入 {module_name} 失败（{brief(exc)}）；请修正那个文件") from None
    finally:
        if added:
            sys.path.remove(here)
    try:
        made = factory()
    except Exception as exc:
        raise UserError(f"--module {spec!r}: calling {attr}() with no arguments failed ({brief(exc)}); give its "
                        "arguments defaults, or name a function that builds the module with none",
                        zh=f"--module {spec!r}：不带参数调用 {attr}() 失败（{brief(exc)}）；请给它的参数设默认值，"
                           "或者改用一个不需要参数就能构建模块的函数") from None
    if not isinstance(made, nn.Module):
        raise UserError(f"--module {spec!r} gave an object of type {type(made).__name__}, not a torch.nn.Module",
                        zh=f"--module {spec!r} 给出的是 {type(made).__name__} 类型的对象，而不是 torch.nn.Module")
    return made


TEXT = {
    "en": {
        "title": "gradcheck: {what} on {samples}, loss {loss}",
        "mlp": "mlp (hidden {hidden}, {activation})",
        "cnn": "cnn ({activation})",
        "random_projection": RANDOM_PROJECTION,
        "col_parameter": "parameter",
        "col_shape": "shape",
        "col_grad": "max|grad|",
        "col_manual": "manual vs autograd abs/rel",
        "col_fd": "finite diff vs autograd abs/rel",
        "col_entries": "entries",
        "col_ok": "ok",
        "scalar": "scalar",
        "n/a": "n/a",
        "yes": "yes",
        "no": "NO",
        "manual_column": "manual column: {note}",
        "torch_gradcheck": "torch.autograd.gradcheck (fast mode): {verdict}",
        "passed": "passed",
        "failed": "FAILED",
        "agree": "all gradients agree",
        "disagree": "GRADIENTS DISAGREE",
        "tolerance": ("{verdict} (manual within {manual:g}, finite differences within {fd:g}, times max(1, max|grad|); "
                      "float64, eps {eps:g}; {mode})"),
        "mode_eval": "eval mode (dropout off)",
        "mode_bn_batch": ("eval mode (dropout off) except batch norm, in train mode: on the batch's own statistics, "
                          "as training computes it"),
        "mode_bn_running": ("eval mode (dropout off), batch norm too: on its running statistics, not on the batch's "
                            "own as training computes it (the check does that from 2 samples up: use --batch 2 or "
                            "more)"),
        "manual_binary": "manual backprop covers softmax cross-entropy and MSE, not the neuron's binary cross-entropy",
        "manual_no_classes": "manual backprop needs class outputs (N, classes) and labels",
        **{f"manual_{key}": note for key, note in NOT_MANUAL.items()},
    },
    "zh": {
        "title": "gradcheck：{what}，{batch} 个 {dataset} 样本，损失 {loss}",
        "mlp": "mlp（隐藏层 {hidden}，{activation}）",
        "cnn": "cnn（{activation}）",
        "random_projection": "输出的固定随机投影",
        "col_parameter": "参数",
        "col_shape": "形状",
        "col_grad": "max|grad|",
        "col_manual": "手算 vs autograd 绝对/相对",
        "col_fd": "有限差分 vs autograd 绝对/相对",
        "col_entries": "检查的元素",
        "col_ok": "通过",
        "scalar": "标量",
        "n/a": "不适用",
        "yes": "是",
        "no": "否",
        "manual_column": "手算一栏：{note}",
        "torch_gradcheck": "torch.autograd.gradcheck（快速模式）：{verdict}",
        "passed": "通过",
        "failed": "未通过",
        "agree": "所有梯度一致",
        "disagree": "注意：梯度不一致",
        "tolerance": ("{verdict}（手算误差不超过 {manual:g}，有限差分误差不超过 {fd:g}，均乘以 max(1, max|grad|)；"
                      "float64，eps {eps:g}；{mode}）"),
        "mode_eval": "eval 模式（关闭 dropout）",
        "mode_bn_batch": ("eval 模式（关闭 dropout），BatchNorm 除外：它处于 train 模式，用本批数据自身的统计量，"
                          "与训练时的计算一致"),
        "mode_bn_running": ("eval 模式（关闭 dropout），BatchNorm 也是：用其运行统计量，而不是训练时所用的本批统计量"
                            "（样本数为 2 个或以上时才这样检查：用 --batch 2 或更大的值）"),
        "manual_binary": "手算反向传播只涵盖 softmax 交叉熵和 MSE，不包括神经元的二元交叉熵",
        "manual_no_classes": "手算反向传播需要分类输出 (N, classes) 和标签",
        **{f"manual_{key}": note for key, note in NOT_MANUAL_ZH.items()},
    },
}
COLUMNS = ("col_parameter", "col_shape", "col_grad", "col_manual", "col_fd", "col_entries", "col_ok")


def _text(lang: str) -> dict[str, str]:
    return in_language(TEXT, lang)


def _modes(lang: str) -> tuple[str, str, str]:
    """How the model is run, in words (`_mode_index` picks one): in eval mode without batch norm; in eval mode but
    batch norm, in train mode on the batch's statistics; all in eval mode, batch norm on its running statistics."""
    t = _text(lang)
    return t["mode_eval"], t["mode_bn_batch"], t["mode_bn_running"]


def describe(model: str, hidden: str, activation: str, lang: str = "en") -> str:
    """The named model in words for the report's title: "mlp (hidden 32, relu)", "neuron"."""
    t = _text(lang)
    return t[model].format(hidden=hidden, activation=activation) if model in ("mlp", "cnn") else model


def title(what: str, batch: int, dataset: str, loss: str, lang: str = "en") -> str:
    """The report's first line: what was checked on which samples, and the loss."""
    t = _text(lang)
    named = t["random_projection"] if loss == RANDOM_PROJECTION else loss  # ce, mse, bce: names, the same in both
    samples = counted(batch, f"{dataset} sample")  # "1 digits sample": --batch 1 read "1 digits samples"
    return t["title"].format(what=what, batch=batch, dataset=dataset, samples=samples, loss=named)


def _note(why: dict[str, str], lang: str) -> str:
    """Why the manual column is n/a (`_manual_gradients`'s {"key": ..., fields}) in `lang`; "" when it applies."""
    fields = {name: value for name, value in why.items() if name not in ("key", "why_zh")}
    if lang == "zh" and "why_zh" in why:  # a field worded in each language (NotManual's why_zh)
        fields["why"] = why["why_zh"]
    return _text(lang)[why["key"]].format(**fields) if why else ""


def _sci(v: float) -> str:
    return f"{v:.1e}"


def render(report: dict[str, Any], title: str = "", lang: str = "en") -> str:
    """The gradcheck report as a plain-text table, one row per parameter tensor, in English ("en") or
    Chinese ("zh"); numbers, parameter names and the report itself are the same in both."""
    t = _text(lang)
    lines = [title] if title else []
    header = [t[column] for column in COLUMNS]
    body = []
    for r in report["rows"]:
        manual = f"{_sci(r['manual']['max_abs'])} / {_sci(r['manual']['max_rel'])}" if "manual" in r else t["n/a"]
        fd = r["finite_diff"]
        total = 1
        for n in r["shape"]:
            total *= n
        body.append([r["parameter"], "x".join(map(str, r["shape"])) or t["scalar"], _sci(r["grad_max"]), manual,
                     f"{_sci(fd['max_abs'])} / {_sci(fd['max_rel'])}", f"{r['fd_checked']}/{total}",
                     t["yes"] if r["ok"] else t["no"]])
    table = [header, *body]
    widths = [max(display_width(row[i]) for row in table) for i in range(len(header))]
    lines += ["  ".join(pad(c, w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table]
    if not report["manual_available"]:
        lines.append(t["manual_column"].format(note=_note(report["manual_why"], lang)))
    lines.append(t["torch_gradcheck"].format(verdict=t["passed"] if report["torch_gradcheck"] else t["failed"]))
    tol = report["tolerance"]
    modes = _modes("en")
    mode = _modes(lang)[modes.index(report["mode"])] if report["mode"] in modes else report["mode"]
    lines.append(t["tolerance"].format(
        verdict=t["agree"] if report["ok"] else t["disagree"], manual=tol["manual_vs_autograd"],
        fd=tol["finite_diff_vs_autograd"], eps=report["eps"], mode=mode))
    return "\n".join(lines)
