"""A micrograd-style scalar engine and the seed's §7.2 example worked step by step.

Every operation computes its value and, right beside it, the local derivative of its
output with respect to each input. `backward` then applies the chain rule once per edge,
child before parent, and records each product, so a reader sees exactly where
∂loss/∂w comes from, and can compare it with what autograd reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from torchprimer.autodiff.local import rule
from torchprimer.errors import UserError
from torchprimer.report import in_language, pad

SEED = {"x": 2.0, "y": 3.0, "w": 1.0, "b": 0.5}
LOSSES = ("mse", "ce")


@dataclass(eq=False)
class Value:
    """One scalar in the graph: its value, how it was made, and ∂self/∂parent for each parent."""

    data: float
    name: str
    formula: str = ""
    parents: tuple[Value, ...] = ()
    local: tuple[float, ...] = ()
    local_formula: tuple[str, ...] = ()
    grad: float = 0.0


def leaf(data: float, name: str) -> Value:
    return Value(float(data), name)


def mul(a: Value, b: Value, name: str) -> Value:
    # ∂(ab)/∂a = b, ∂(ab)/∂b = a
    return Value(a.data * b.data, name, f"{a.name}·{b.name}", (a, b), (b.data, a.data), (b.name, a.name))


def add(a: Value, b: Value, name: str) -> Value:
    # ∂(a+b)/∂a = ∂(a+b)/∂b = 1
    return Value(a.data + b.data, name, f"{a.name} + {b.name}", (a, b), (1.0, 1.0), ("1", "1"))


def sub_const(a: Value, c: float, c_name: str, name: str) -> Value:
    # ∂(a − c)/∂a = 1; c is data, not a parameter, so it gets no gradient
    return Value(a.data - c, name, f"{a.name} − {c_name}", (a,), (1.0,), ("1",))


def square(a: Value, name: str) -> Value:
    # ∂(a²)/∂a = 2a
    return Value(a.data**2, name, f"{a.name}²", (a,), (2 * a.data,), (f"2·{a.name}",))


def activate(a: Value, activation: str, name: str) -> Value:
    """f(a) for an activation of the table; f and f' come from `autodiff.local`."""
    _, f, d = rule(activation)
    t = torch.tensor(a.data, dtype=torch.float64)
    return Value(float(f(t)), name, f"{activation}({a.name})", (a,), (float(d(t)),), (f"{activation}'({a.name})",))


def bce_with_logits(o: Value, target: float, name: str) -> Value:
    """Binary cross-entropy on the logit o: log(1 + e^o) − t·o; ∂/∂o = σ(o) − t."""
    value = max(o.data, 0.0) + math.log1p(math.exp(-abs(o.data))) - target * o.data  # stable log(1 + e^o)
    sigma = 1 / (1 + math.exp(-o.data)) if o.data >= 0 else math.exp(o.data) / (1 + math.exp(o.data))
    return Value(value, name, f"log(1 + e^{o.name}) − y·{o.name}", (o,), (sigma - target,), (f"σ({o.name}) − y",))


def topological(root: Value) -> list[Value]:
    """Every node that `root` depends on, each after all of its parents."""
    order: list[Value] = []
    seen: set[int] = set()

    def visit(v: Value) -> None:
        if id(v) not in seen:
            seen.add(id(v))
            for p in v.parents:
                visit(p)
            order.append(v)

    visit(root)
    return order


def backward(root: Value) -> list[dict[str, Any]]:
    """The chain rule: ∂root/∂parent += ∂root/∂child · ∂child/∂parent, child before parent."""
    order = topological(root)
    for v in order:
        v.grad = 0.0
    root.grad = 1.0
    products = []
    for child in reversed(order):
        for parent, local, local_formula in zip(child.parents, child.local, child.local_formula, strict=True):
            product = child.grad * local
            products.append({
                "of": parent.name, "via": child.name, "upstream": child.grad, "local": local,
                "local_formula": local_formula, "product": product, "accumulates": parent.grad != 0.0,
            })
            parent.grad += product
    return products


def _check_inputs(values: dict[str, float], activation: str | None, loss: str) -> None:
    if loss not in LOSSES:
        raise UserError(f"unknown loss {loss!r}; use one of {', '.join(LOSSES)}",
                        zh=f"未知的损失函数 {loss!r}；请使用以下之一：{', '.join(LOSSES)}")
    for name, v in values.items():
        if not math.isfinite(v):
            if name == "y" and loss == "ce":  # a probability target: "like --y 2.0" would be refused next
                raise UserError(f"--y {v} is not a finite number; --loss ce needs a target probability --y in "
                                "[0, 1] (0 or 1 for a class label), e.g. --y 1",
                                zh=f"--y {v} 不是有限的数；--loss ce 需要一个在 [0, 1] 内的目标概率 --y"
                                   "（类别标签则取 0 或 1），例如 --y 1")
            raise UserError(f"--{name} {v} is not a finite number; pass a value like --{name} 2.0",
                            zh=f"--{name} {v} 不是有限的数；请传入一个像 --{name} 2.0 这样的值")
    if loss == "ce" and not 0.0 <= values["y"] <= 1.0:
        raise UserError(f"--loss ce needs a target probability --y in [0, 1], got {values['y']}; e.g. --y 1",
                        zh=f"--loss ce 需要一个在 [0, 1] 内的目标概率 --y，得到的却是 {values['y']}；例如 --y 1")
    if activation is not None:
        rule(activation)  # unknown name -> UserError listing the known ones
    if activation == "sigmoid" and loss == "ce":  # the sums would agree, on a mistake worth not teaching
        raise UserError("--loss ce applies the sigmoid itself (binary cross-entropy with the output as logit), so "
                        "--activation sigmoid would apply it twice, a classic bug; leave out --activation sigmoid "
                        "(the loss's sigmoid makes the neuron a logistic regression), or use --loss mse",
                        zh="--loss ce 自己就会应用 sigmoid（以输出为 logit 的二元交叉熵），所以 --activation sigmoid "
                           "会把 sigmoid 应用两次，这是一个经典错误；请去掉 --activation sigmoid（损失里的 sigmoid "
                           "已让这个神经元成为逻辑回归），或改用 --loss mse")


def _autograd(values: dict[str, float], activation: str | None, loss: str) -> dict[str, float]:
    """The same computation in torch float64, differentiated by autograd."""
    from torchprimer.models import ACTIVATIONS

    x, w, b = (torch.tensor(values[k], dtype=torch.float64, requires_grad=True) for k in ("x", "w", "b"))
    y = torch.tensor(values["y"], dtype=torch.float64)
    out = w * x + b
    if activation is not None:
        out = ACTIVATIONS[activation]()(out)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    value = (out - y) ** 2 if loss == "mse" else bce(out, y)
    value.backward()
    return {"loss": float(value.detach()), "w": float(w.grad), "b": float(b.grad), "x": float(x.grad)}


def worked_example(
    x: float = SEED["x"], y: float = SEED["y"], w: float = SEED["w"], b: float = SEED["b"],
    activation: str | None = None, loss: str = "mse",
) -> dict[str, Any]:
    """§7.2 by hand: forward values, local derivatives, chain-rule products, and autograd beside.

    The model is z = w·x + b, then a = f(z) when an activation is given; the loss is
    (out − y)² (mse) or binary cross-entropy with out as the logit (ce).
    """
    values = {"x": float(x), "y": float(y), "w": float(w), "b": float(b)}
    _check_inputs(values, activation, loss)
    vx, vw, vb = leaf(values["x"], "x"), leaf(values["w"], "w"), leaf(values["b"], "b")
    target = "y 1, a class label, as --loss ce takes" if loss == "ce" else "y 3"  # ce refuses the seed's y 3
    target_zh = "y 1，即 --loss ce 所要的类别标签" if loss == "ce" else "y 3"
    too_large = UserError(f"x {x:g}, w {w:g}, b {b:g}, y {y:g}: the loss or a gradient is too large for a float64 "
                          f"(above about 1.8e308); pass values nearer the seed's (x 2, w 1, b 0.5, {target})",
                          zh=f"x {x:g}，w {w:g}，b {b:g}，y {y:g}：损失或某个梯度太大，超出了 float64 能表示的范围"
                             f"（上限约为 1.8e308）；请传入更接近原教程例子的值（x 2，w 1，b 0.5，{target_zh}）")
    try:
        out = add(mul(vw, vx, "wx"), vb, "z")
        if activation is not None:
            out = activate(out, activation, "a")
        if loss == "mse":
            root = square(sub_const(out, values["y"], "y", "r"), "loss")
        else:
            root = bce_with_logits(out, values["y"], "loss")
        products = backward(root)
    except OverflowError:  # Python's float arithmetic raises where torch's gives inf
        raise too_large from None
    nodes = topological(root)
    manual = {"loss": root.data, "w": vw.grad, "b": vb.grad, "x": vx.grad}
    auto = _autograd(values, activation, loss)
    if not all(math.isfinite(v) for v in (*manual.values(), *auto.values())):
        raise too_large
    result: dict[str, Any] = {
        "inputs": values, "activation": activation, "loss_kind": loss,
        "forward": [{"name": v.name, "formula": v.formula, "value": v.data} for v in nodes if v.parents],
        "local": [
            {"of": v.name, "wrt": p.name, "formula": lf, "value": lv}
            for v in nodes for p, lv, lf in zip(v.parents, v.local, v.local_formula, strict=True)
        ],
        "chain": products,
        "manual": manual,
        "autograd": auto,
        "match": all(math.isclose(manual[k], auto[k], rel_tol=1e-12, abs_tol=1e-12) for k in manual),
    }
    if values == SEED and activation is None and loss == "mse":
        result["seed_note"] = seed_note(manual["w"])
    result["notes"] = _notes(result, activation, loss)
    return result


def _notes(result: dict[str, Any], activation: str | None, loss: str) -> list[dict[str, Any]]:
    """What a learner should be told about these inputs: the activation passes no gradient back at this z (a
    unit dead or saturated for this input), or the target lies outside what the activation can output (the
    loss never reaches 0). Both are read off the numbers computed here and the activation table's range."""
    if activation is None:
        return []
    notes: list[dict[str, Any]] = []
    z = next(step["value"] for step in result["forward"] if step["name"] == "z")
    slope = next(d["value"] for d in result["local"] if d["of"] == "a")
    if slope == 0.0:
        notes.append({"kind": "dead", "activation": activation, "z": z})
    if loss == "mse":
        from torchprimer.activations import output_range

        found, shown = output_range(activation)  # the table's range: unbounded ends and open bounds included
        y = result["inputs"]["y"]
        below = y < found["low"] or (y == found["low"] and not found["low_attained"])
        above = y > found["high"] or (y == found["high"] and not found["high_attained"])
        if below or above:
            notes.append({"kind": "unreachable", "activation": activation, "y": y, "range": shown})
    return notes


def seed_note(w_grad: float, lang: str = "en") -> str:
    """Why the seed's printed 4.0 is wrong, with the numbers it should have used."""
    return _text(lang)["seed_note"].format(w_grad=num(w_grad))


def num(v: float) -> str:
    """A number as a person reads it: -2.0, 0.25, 1.2346e-05, and 0.0 for IEEE's -0.0 (-6.0 · 0.0 is 0)."""
    text = f"{v + 0.0:.10g}"  # adding +0.0 turns -0.0 into 0.0 and leaves every other value as it is
    if text.lstrip("-").isdigit():
        text += ".0"
    return text


TEXT = {
    "en": {
        "inputs": "inputs",
        "forward": "forward",
        "local": "local derivatives (each op's own, computed with its forward)",
        "chain": "chain rule (∂loss/∂parent = ∂loss/∂child · ∂child/∂parent, from the loss back)",
        "result": "result",
        "manual": "manual",
        "autograd": "autograd",
        "agree": "manual and autograd agree",
        "mismatch": "MISMATCH between manual and autograd",
        "note": "note: ",
        "dead": ("{activation}'(z) = 0 at z = {z}: no gradient passes back to w, b or x, so gradient descent "
                 "cannot change them for this input. The unit is stuck there: 'dead' where the function is flat "
                 "(relu below 0), 'saturated' where its slope is too small for float64 (sigmoid far from 0). Try "
                 "values that put z where {activation} has a slope"),
        "unreachable": ("y = {y} is not among the values {activation} outputs, {range} (a round bracket is a "
                        "bound approached, never reached): the loss can never reach 0; choose a target inside"),
        "seed_note": (
            "The seed says w.grad is 4.0 and writes ∂loss/∂w = 2·(wx + b − y)·x = 2·(2 + 0.5 − 3)·2 = 4. "
            "The formula is right; the arithmetic is not: wx + b − y = 2 + 0.5 − 3 = −0.5, so "
            "2·(−0.5)·2 = {w_grad}, which is what autograd prints. 4 would need wx + b − y = +1. "
            "The sign matters: the prediction 2.5 is below the target 3, so the loss falls as w grows, "
            "the gradient is negative, and gradient descent (w ← w − lr·∂loss/∂w) raises w."
        ),
    },
    "zh": {
        "inputs": "输入",
        "forward": "前向计算",
        "local": "局部导数（每个运算自身的导数，在前向计算时一并求出）",
        "chain": "链式法则（从 loss 开始，逐个运算往回推：∂loss/∂输入 = ∂loss/∂输出 · ∂输出/∂输入）",
        "result": "结果",
        "manual": "手算",
        "autograd": "autograd",
        "agree": "手算结果与 autograd 完全一致",
        "mismatch": "注意：手算结果与 autograd 不一致",
        "note": "注：",
        "dead": ("在 z = {z} 处 {activation}'(z) = 0：没有梯度传回 w、b 或 x，梯度下降对这个输入无法改变它们。"
                 "这个单元卡在那里：函数平坦之处叫“死亡”（relu 在 0 以下），斜率小到 float64 表示不了之处叫"
                 "“饱和”（sigmoid 远离 0 时）。请换一组让 z 落在 {activation} 有斜率之处的值"),
        "unreachable": ("y = {y} 不在 {activation} 的输出范围 {range} 之内（圆括号表示只能逼近、永远达不到的"
                        "边界）：损失永远到不了 0；请选一个在范围之内的目标"),
        "seed_note": (
            "原教程说 w.grad 是 4.0，并写出 ∂loss/∂w = 2·(wx + b − y)·x = 2·(2 + 0.5 − 3)·2 = 4。"
            "公式没有错，错在算术：wx + b − y = 2 + 0.5 − 3 = −0.5，所以 2·(−0.5)·2 = {w_grad}，"
            "这正是 autograd 打印出来的值。要得到 4，必须 wx + b − y = +1 才行。"
            "符号很关键：预测值 2.5 小于目标值 3，所以 w 增大时损失减小，梯度为负；"
            "梯度下降（w ← w − lr·∂loss/∂w）因此会把 w 调大。"
        ),
    },
}


def _text(lang: str) -> dict[str, str]:
    return in_language(TEXT, lang)


def render(result: dict[str, Any], lang: str = "en") -> str:
    """The worked example as plain text, one step per line, in English ("en") or Chinese ("zh")."""
    t = _text(lang)
    inputs = result["inputs"]
    lines = [pad(t["inputs"], 9) + "  ".join(f"{k} = {num(v)}" for k, v in inputs.items())]
    lines.append(t["forward"])
    for step in result["forward"]:
        lines.append(f"  {step['name']:<5}= {step['formula']:<22} = {num(step['value'])}")
    lines.append(t["local"])
    for d in result["local"]:
        label = f"∂{d['of']}/∂{d['wrt']}"
        lines.append(f"  {label:<12}= {d['formula']:<12} = {num(d['value'])}")
    lines.append(t["chain"])
    for c in result["chain"]:
        sign = "+=" if c["accumulates"] else "="
        label = f"∂loss/∂{c['of']}"
        lines.append(
            f"  {label:<12}{sign} ∂loss/∂{c['via']} · ∂{c['via']}/∂{c['of']} = "
            f"{num(c['upstream'])} · {num(c['local'])} = {num(c['product'])}"
        )
    lines.append(pad(t["result"], 16) + pad(t["manual"], 14, right=True) + " " + pad(t["autograd"], 14, right=True))
    for key, label in (("loss", "loss"), ("w", "∂loss/∂w"), ("b", "∂loss/∂b"), ("x", "∂loss/∂x")):
        lines.append(f"  {label:<14}{num(result['manual'][key]):>14} {num(result['autograd'][key]):>14}")
    lines.append(t["agree"] if result["match"] else t["mismatch"])
    if "seed_note" in result:  # the seed's own example: its note, in the language asked for
        lines.append(t["note"] + seed_note(result["manual"]["w"], lang))
    for note in result.get("notes", []):
        shown = {k: num(v) if isinstance(v, float) else v for k, v in note.items()}
        lines.append(t["note"] + t[note["kind"]].format(**shown))
    return "\n".join(lines)
