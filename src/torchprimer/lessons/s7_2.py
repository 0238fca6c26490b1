"""§7.2 Backpropagation: the seed says w.grad is 4.0; autograd, the chain rule and finite
differences all say −2.0. The lesson shows the seed's own arithmetic gives −2."""

from __future__ import annotations

from torchprimer.lessons.runner import Run, bilingual

SECTION = "7.2"

TEXT = {
    "en": {
        "title": "The mathematics of backpropagation",
        "intro": """
With z = w·x + b and loss = (z − y)², the chain rule gives
∂loss/∂w = ∂loss/∂z · ∂z/∂w = 2(z − y) · x. The seed lets autograd compute it and
writes the answer in a comment: 4.0.""",
        "verdict": """
The seed's comment is wrong: 2·(2 + 0.5 − 3)·2 = 2·(−0.5)·2 = −2, and autograd prints
tensor(-2.). The sign matters: a negative gradient means increasing w lowers the loss, so
gradient descent moves w up, towards the w = 1.25 where z = y. The seed titles its code
"backpropagation by hand", yet the code calls loss.backward(): autograd does the
backpropagation, and only the comment is worked by hand, wrongly. "By hand" only means
something when the hand calculation is checked, so the tour computes the same gradient
three independent ways. `torchprimer backprop` walks the chain rule step by step.""",
        "fixed_title": "The same code with the gradient checked three ways:",
    },
    "zh": {
        "title": "反向传播的数学原理",
        "intro": """
设 z = w·x + b，loss = (z − y)²，由链式法则得
∂loss/∂w = ∂loss/∂z · ∂z/∂w = 2(z − y) · x。原教程让 autograd 去算，
并在注释里写下答案：4.0。""",
        "verdict": """
原教程的注释算错了：2·(2 + 0.5 − 3)·2 = 2·(−0.5)·2 = −2，autograd 打印的也是
tensor(-2.)。符号很重要：梯度为负，说明增大 w 会让损失变小，所以梯度下降会把 w 往上调，
朝着使 z = y 的 w = 1.25 走。原教程给这段代码的标题是"手动实现反向传播"，代码却调用了
loss.backward()：反向传播是 autograd 做的，只有注释是手算的，而且算错了。"手算"只有经过核对
才有意义，所以导览用三种相互独立的方法算同一个梯度。`torchprimer backprop` 会一步一步演示链式法则。""",
        "fixed_title": "同一段代码，并用三种方法核对梯度：",
    },
}

SETUP = "import torch"

SEED = {
    "zh": """\
x = torch.tensor(2.0, requires_grad=True)
y = torch.tensor(3.0)
w = torch.tensor(1.0, requires_grad=True)
b = torch.tensor(0.5, requires_grad=True)
# 前向计算
z = w * x + b
loss = (z - y)**2
# 反向传播
loss.backward()
print(w.grad)  # 输出:4.0 (∂loss/∂w = 2*(wx + b - y)*x = 2*(2+0.5-3)*2 = 4)
""",
    "en": """\
x = torch.tensor(2.0, requires_grad=True)
y = torch.tensor(3.0)
w = torch.tensor(1.0, requires_grad=True)
b = torch.tensor(0.5, requires_grad=True)
# forward pass
z = w * x + b
loss = (z - y)**2
# backward pass
loss.backward()
print(w.grad)  # prints 4.0 (∂loss/∂w = 2*(wx + b - y)*x = 2*(2+0.5-3)*2 = 4)
""",
}

FIXED = bilingual(
    """\
x = torch.tensor(2.0, requires_grad=True)
y = torch.tensor(3.0)
w = torch.tensor(1.0, requires_grad=True)
b = torch.tensor(0.5, requires_grad=True)
z = w * x + b
loss = (z - y)**2
loss.backward()
print("autograd:", w.grad.item())  # -2.0

# 1. the chain rule by hand, step by step (what `torchprimer backprop` prints)
from torchprimer.autodiff.scalar import render, worked_example
example = worked_example(x=2.0, y=3.0, w=1.0, b=0.5)
print(render(example))

# 2. finite differences in float64, which know nothing of derivatives
def loss_at(w_value):
    return (w_value * 2.0 + 0.5 - 3.0) ** 2
h = 1e-6
finite_difference = (loss_at(1.0 + h) - loss_at(1.0 - h)) / (2 * h)
print("finite difference:", round(finite_difference, 9))

# 3. the seed's own arithmetic, evaluated
print("2*(2+0.5-3)*2 =", 2*(2+0.5-3)*2)
""",
    zh={
        "1. the chain rule by hand, step by step (what `torchprimer backprop` prints)":
            "1. 按链式法则一步一步手算（`torchprimer backprop` 打印的也是这些步骤）",
        "2. finite differences in float64, which know nothing of derivatives":
            "2. float64 有限差分：它完全不知道导数公式",
        "3. the seed's own arithmetic, evaluated": "3. 把原教程自己的算式真的算一遍",
    },
)
# The Chinese tour prints the worked example in Chinese: the one call that differs beyond its comments.
# The runner runs this Chinese code on its own, so its reader sees what the code shown to them prints.
_RENDER = "print(render(example))\n"
if FIXED["zh"].count(_RENDER) != 1:
    raise ValueError(f"{_RENDER.strip()!r} is not in the code exactly once")
FIXED["zh"] = FIXED["zh"].replace(_RENDER, 'print(render(example, lang="zh"))\n')

CHECKS = {
    "autograd": {
        "en": "autograd gives w.grad = -2.0 for the seed's numbers",
        "zh": "按原教程的数值，autograd 得到 w.grad = -2.0",
    },
    "seed_claim": {
        "en": "the seed's stated 4.0 is wrong: its own formula 2*(2+0.5-3)*2 evaluates to -2.0",
        "zh": "原教程写的 4.0 是错的：它自己的算式 2*(2+0.5-3)*2 算出来是 -2.0",
    },
    "chain_rule": {
        "en": "the chain rule by hand, step by step, gives autograd's gradients for w, b and x",
        "zh": "按链式法则一步一步手算，w、b、x 的梯度与 autograd 完全一致",
    },
    "finite_difference": {
        "en": "a float64 central difference agrees with autograd to 1e-6",
        "zh": "float64 中心差分与 autograd 的差小于 1e-6",
    },
    "descent": {
        "en": "one gradient-descent step (lr 0.1) raises w towards the w = 1.25 where z = y, and the loss falls",
        "zh": "一步梯度下降（lr 0.1）把 w 调大，朝着使 z = y 的 w = 1.25 走，损失随之下降",
    },
}

SAID_TARGET = 1.25  # the w where z = y, as the verdict says it
LR = 0.1


# The labels of the values each check prints, one dict per language.
DETAILS = {
    "en": {
        "seed_claim": "4.0 (seed) != {w_grad} (autograd) = {formula} (2*(2+0.5-3)*2)",
        "chain_rule": "∂loss/∂{k}: {by_hand} = {stepwise} (step by step) = {autograd} (autograd)",
        "finite_difference": "{fd:.9f} (finite difference) vs {w_grad} (autograd)",
        "descent": "w {w} -> {w_new:g}, loss {loss} -> {loss_new:g};  z = y at w = (y - b)/x = {target:g}",
    },
    "zh": {
        "seed_claim": "4.0（原教程）!= {w_grad}（autograd）= {formula}（原教程的算式 2*(2+0.5-3)*2）",
        "chain_rule": "∂loss/∂{k}: {by_hand} = {stepwise}（逐步手算）= {autograd}（autograd）",
        "finite_difference": "{fd:.9f}（有限差分）对比 {w_grad}（autograd）",
        "descent": "w {w} -> {w_new:g}，损失 {loss} -> {loss_new:g}；w = (y - b)/x = {target:g} 时 z = y",
    },
}


def check(seed: Run | None, fixed: Run | None) -> dict[str, tuple[bool, str | dict[str, str]]]:
    """Decide each claim from the namespaces the seed's and the fixed code left behind."""
    assert seed is not None and fixed is not None
    ns = seed.namespace
    w_grad, b_grad, x_grad = (ns[name].grad.item() for name in ("w", "b", "x"))
    z, y, w, x = (ns[name].item() for name in ("z", "y", "w", "x"))
    dloss_dz = 2 * (z - y)  # the tour's own arithmetic, a second hand beside torchprimer.autodiff's
    by_hand = {"w": dloss_dz * x, "b": dloss_dz * 1.0, "x": dloss_dz * w}
    stepwise = {k: fixed.namespace["example"]["manual"][k] for k in ("w", "b", "x")}
    autograd = {"w": w_grad, "b": b_grad, "x": x_grad}
    seed_formula = 2 * (2 + 0.5 - 3) * 2
    fd = float(fixed.namespace["finite_difference"])
    b_value, loss = ns["b"].item(), ns["loss"].item()
    target = (y - b_value) / x
    w_new = w - LR * w_grad
    loss_new = (w_new * x + b_value - y) ** 2
    details = {
        lang: {
            "seed_claim": d["seed_claim"].format(w_grad=w_grad, formula=seed_formula),
            "chain_rule": "   ".join(
                d["chain_rule"].format(k=k, by_hand=by_hand[k], stepwise=stepwise[k], autograd=autograd[k])
                for k in autograd
            ),
            "finite_difference": d["finite_difference"].format(fd=fd, w_grad=w_grad),
            "descent": d["descent"].format(w=w, w_new=w_new, loss=loss, loss_new=loss_new, target=target),
        }
        for lang, d in DETAILS.items()
    }

    def values(cid: str) -> dict[str, str]:
        return {lang: details[lang][cid] for lang in DETAILS}

    return {
        "autograd": (w_grad == -2.0, f"w.grad = {w_grad}   print(w.grad) -> {seed.stdout.strip()}"),
        "seed_claim": (w_grad != 4.0 and seed_formula == -2.0, values("seed_claim")),
        "chain_rule": (by_hand == autograd == stepwise, values("chain_rule")),
        "finite_difference": (abs(fd - w_grad) < 1e-6, values("finite_difference")),
        "descent": (w < w_new <= target == SAID_TARGET and loss_new < loss, values("descent")),
    }
