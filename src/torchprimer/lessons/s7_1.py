"""§7.1 Activation functions: the seed's comparison table is lost, so the tour prints the one
`torchprimer.activations` computes from torch, checks its claims, and checks every autograd
derivative against a closed-form derivative written out by hand."""

from __future__ import annotations

import math

import torch

from torchprimer.lessons.runner import Run, bilingual

SECTION = "7.1"

TEXT = {
    "en": {
        "title": "Common activation functions compared",
        "intro": """
Without a nonlinearity between them, stacked linear layers collapse into one linear map.
The seed compares the usual activations in a table that has been lost. Such tables list
each function's formula, output range, gradient, whether it is zero-centred, whether it
saturates, and its cost; here every entry is measured rather than copied.""",
        "verdict": """
What the numbers say. Sigmoid's gradient is at most 0.25, so through ten sigmoid layers the
activations alone multiply a gradient by 0.25¹⁰ ≈ 1e-6 at most; only weights well above 1 could
make up for it, and initialisations such as Xavier's keep the weights' gain near 1, so the
gradient vanishes. It saturates: beyond |x| ≈ 6.9 its gradient is below 1e-3. Its outputs are all
positive, not zero-centred. Tanh is zero-centred with gradient 1 at 0, but saturates too,
beyond |x| ≈ 4.1. ReLU keeps gradient 1 for every positive input, which is why deep nets train
with it, but its gradient is exactly 0 for negative inputs, half of all N(0, 1) inputs, so a
unit that only sees negatives stops learning ("dying ReLU"). Leaky ReLU keeps a gradient of
0.01 for every negative input; ELU, GELU and SiLU keep one for small negative inputs and
saturate for large ones (the table's "saturates" column says where).
`torchprimer activations` adds plots and trains the same network with each one.""",
        "fixed_title": "The lost table, computed from torch:",
    },
    "zh": {
        "title": "常见激活函数对比",
        "intro": """
如果层与层之间没有非线性，堆叠多少个线性层也只等于一个线性映射。原教程用一张表比较了
常见的激活函数，但那张表已经丢失。这类表格通常列出每个函数的公式、输出范围、梯度、
是否以零为中心、是否饱和以及计算开销；这里的每一项都是实测出来的，而不是抄来的。""",
        "verdict": """
数字说明了什么。Sigmoid 的梯度最大只有 0.25，所以穿过十层 sigmoid，仅激活函数就把梯度
乘以至多 0.25¹⁰ ≈ 1e-6；只有远大于 1 的权重才能弥补，而 Xavier 等初始化让权重的增益保持在
1 附近，于是梯度消失。而且它会饱和：|x| 超过约 6.9 后梯度低于 1e-3。它的输出全是正数，不以零为
中心。Tanh 以零为中心、在 0 处梯度为 1，但同样会饱和，|x| 超过约 4.1 即是。
ReLU 对所有正输入保持梯度 1，这正是深层网络能用它训练的原因；但对负输入（占 N(0, 1)
输入的一半）它的梯度恰好为 0，一个只收到负输入的单元就不再学习（"ReLU 死亡"）。
Leaky ReLU 对每个负输入都保留 0.01 的梯度；ELU、GELU 和 SiLU 只对较小的负输入保留梯度，
负输入很大时同样饱和（表中"饱和区"一列给出了范围）。`torchprimer activations` 还会
画出曲线，并用每种激活函数训练同一个网络。""",
        "fixed_title": "丢失的那张表，用 torch 算出来：",
    },
}

SEED = None  # the seed has no code here; its table is lost

FIXED = bilingual(
    """\
from torchprimer.activations import activation_table, render_table
names = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "silu", "softplus"]
# every column computed from torch: values and autograd derivatives on a float64 grid
rows = activation_table(names)
print(render_table(rows))
""",
    zh={
        "every column computed from torch: values and autograd derivatives on a float64 grid":
            "每一列都由 torch 算出：在 float64 网格上求函数值和 autograd 导数",
    },
)
FIXED["zh"] = FIXED["zh"].replace("render_table(rows)", 'render_table(rows, lang="zh")')  # the table in Chinese too

CHECKS = {
    "derivatives": {
        "en": "every autograd derivative equals the closed-form one, written out by hand, on 4,001 points (1e-10)",
        "zh": "每个函数在 4001 个点上的 autograd 导数都等于手写的解析导数（1e-10）",
    },
    "vanishing": {
        "en": "sigmoid's largest derivative is 0.25, at x = 0: through ten layers the activations alone "
              "shrink a gradient by ≥ 4¹⁰",
        "zh": "sigmoid 的最大导数是 0.25，位于 x = 0：穿过十层，仅激活函数就让梯度至少缩小 4¹⁰ 倍",
    },
    "saturation": {
        "en": "sigmoid and tanh saturate on both sides, beyond |x| ≈ 6.9 and ≈ 4.1 as said above (solved by hand: "
              "|f'| = 1e-3); ReLU, GELU and SiLU never saturate for x > 0, and ELU, GELU and SiLU do for "
              "large negative x",
        "zh": "sigmoid 和 tanh 两端都饱和，分别在 |x| 超过约 6.9 和约 4.1 处，与上文一致（手解 |f'| = 1e-3）；"
              "ReLU、GELU 和 SiLU 在 x > 0 时从不饱和，而 ELU、GELU 和 SiLU 在负输入很大时会饱和",
    },
    "ranges": {
        "en": "ranges: sigmoid (0, 1) not zero-centred, tanh (-1, 1) zero-centred, ReLU [0, ∞)",
        "zh": "范围：sigmoid 为 (0, 1) 且不以零为中心，tanh 为 (-1, 1) 且以零为中心，ReLU 为 [0, ∞)",
    },
    "dead_relu": {
        "en": "ReLU's gradient is exactly 0 for x < 0 (half of N(0,1) inputs) and 1 for x > 0; Leaky ReLU's is 0.01",
        "zh": "ReLU 的梯度在 x < 0 时恰为 0（N(0,1) 输入的一半）、x > 0 时为 1；Leaky ReLU 为 0.01",
    },
}


def _phi(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def closed_form(name: str, x: torch.Tensor) -> torch.Tensor:
    """Each activation's derivative written out by hand, independently of autograd."""
    s = 1 / (1 + torch.exp(-x))
    pos = (x > 0).double()
    forms = {
        "sigmoid": lambda: s * (1 - s),
        "tanh": lambda: 1 - torch.tanh(x) ** 2,
        "relu": lambda: pos,
        "leaky_relu": lambda: pos + 0.01 * (1 - pos),
        "elu": lambda: pos + torch.exp(torch.clamp(x, max=0)) * (1 - pos),
        "gelu": lambda: 0.5 * (1 + torch.erf(x / math.sqrt(2))) + x * _phi(x),
        "silu": lambda: s * (1 + x * (1 - s)),
        "softplus": lambda: torch.where(x > 20, torch.ones_like(x), s),  # torch is linear above 20
    }
    return forms[name]()


def _interval(r: dict) -> str:
    """(0, 1) or [0, inf): a bracket says whether the bound is reached."""
    return f"{'[' if r['low_attained'] else '('}{r['low']}, {r['high']}{']' if r['high_attained'] else ')'}"


def check(seed: Run | None, fixed: Run | None) -> dict[str, tuple[bool, str | dict[str, str]]]:
    from torchprimer.activations import values_and_derivative
    from torchprimer.models import activation

    assert fixed is not None
    rows = {r["name"]: r for r in fixed.namespace["rows"]}
    x = torch.arange(-2000, 2001, dtype=torch.float64) / 100  # -20..20, exact zero in the middle
    grads = {name: values_and_derivative(activation(name), x)[1] for name in rows}
    errors = {name: (g - closed_form(name, x)).abs().max().item() for name, g in grads.items()}
    sig, tanh, relu = rows["sigmoid"], rows["tanh"], rows["relu"]

    def both_sides(row: dict) -> bool:
        regions = row["saturation"]
        return any(math.isinf(lo) for lo, _ in regions) and any(math.isinf(hi) for _, hi in regions)

    def right_side(row: dict) -> bool:
        return any(math.isinf(hi) and hi > 0 for _, hi in row["saturation"])

    def left_side(row: dict) -> bool:
        return any(math.isinf(lo) and lo < 0 for lo, _ in row["saturation"])

    saturates = {n: rows[n]["saturation"] for n in ("sigmoid", "tanh", "relu", "elu", "gelu", "silu")}
    # Where |f'| = 1e-3, by hand: σ' = s(1 - s) gives s = (1 + √(1 - 0.004)) / 2; tanh' = 1 - t² gives t = √(1 - 1e-3).
    s_edge = (1 + math.sqrt(1 - 4e-3)) / 2
    edges = {"sigmoid": math.log(s_edge / (1 - s_edge)), "tanh": math.atanh(math.sqrt(1 - 1e-3))}
    said = {"sigmoid": 6.9, "tanh": 4.1}  # what the verdict says, to one decimal
    edges_ok = all(round(edges[n], 1) == said[n] and abs(rows[n]["saturation"][-1][0] - edges[n]) < 0.01
                   for n in edges)
    ranges_ok = (
        (sig["range"]["low"], sig["range"]["high"]) == (0.0, 1.0) and not sig["zero_centred"]
        and (tanh["range"]["low"], tanh["range"]["high"]) == (-1.0, 1.0) and tanh["zero_centred"]
        and relu["range"]["low"] == 0.0 and relu["range"]["low_attained"] and math.isinf(relu["range"]["high"])
    )
    neg, pos = x < 0, x > 0
    relu_g, leaky_g = grads["relu"], grads["leaky_relu"]
    dead = bool((relu_g[neg] == 0).all() and (relu_g[pos] == 1).all()) and abs(relu["zero_gradient_share"] - 0.5) < 1e-3
    leaky = bool(torch.allclose(leaky_g[neg], torch.full_like(leaky_g[neg], 0.01)))
    max_d, max_at, vanished = sig["max_derivative"], sig["max_derivative_at"], f"{0.25**10:.2e}"
    by_hand = [f"{n} {e:.4f}" for n, e in edges.items()]
    table = "  ".join(f"{n}: {r}" for n, r in saturates.items())
    relu_neg, relu_pos = sorted(set(relu_g[neg].tolist())), sorted(set(relu_g[pos].tolist()))
    leaky_neg, share = sorted(set(leaky_g[neg].tolist())), relu["zero_gradient_share"]
    return {
        "derivatives": (max(errors.values()) < 1e-10, ", ".join(f"{n} {e:.0e}" for n, e in errors.items())),
        "vanishing": (sig["max_derivative"] == 0.25 and sig["max_derivative_at"] == 0.0, {
            "en": f"max σ' = {max_d} at x = {max_at};  0.25¹⁰ = {vanished}",
            "zh": f"最大 σ' = {max_d}，位于 x = {max_at}；0.25¹⁰ = {vanished}",
        }),
        "saturation": (
            both_sides(sig) and both_sides(tanh) and edges_ok
            and not any(right_side(rows[n]) for n in ("relu", "gelu", "silu"))
            and all(left_side(rows[n]) for n in ("elu", "gelu", "silu")),
            {"en": f"by hand: {', '.join(by_hand)};  table: {table}",
             "zh": f"手解：{'，'.join(by_hand)}；表中：{table}"},
        ),
        "ranges": (ranges_ok, "  ".join(f"{n}: {_interval(rows[n]['range'])}" for n in ("sigmoid", "tanh", "relu"))),
        "dead_relu": (dead and leaky, {
            "en": f"relu' on x<0: {relu_neg}, on x>0: {relu_pos}, zero-gradient share {share};  "
                  f"leaky' on x<0: {leaky_neg}",
            "zh": f"relu' 在 x<0 处：{relu_neg}，在 x>0 处：{relu_pos}，梯度为零的占比 {share}；"
                  f"leaky' 在 x<0 处：{leaky_neg}",
        }),
    }
