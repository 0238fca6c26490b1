"""Activation functions compared (seed §7.1), every number computed from torch itself.

`activation_table` evaluates each function of `models.ACTIVATIONS` and its autograd
derivative on a dense float64 grid and derives each column from those arrays: output
range, largest derivative, mean output for N(0, 1) inputs, where the derivative falls
below 1e-3 (saturation), monotonicity, continuity of the derivative, the share of N(0, 1)
inputs that get exactly zero gradient, and the forward+backward time on a large tensor.
Only the formula column is typed in, and the tests evaluate each formula against torch.

`compare_training` trains one deep MLP per activation on the same data, seed and
initialisation, and records per-layer gradient norms to show vanishing gradients.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from torchprimer.errors import UserError
from torchprimer.models import ACTIVATIONS, MAX_LAYERS, MAX_UNITS, check_activation
from torchprimer.report import display_width, in_language, pad

# The only hand-written column: each formula is a Python expression in x, checked by the tests.
FORMULAS: dict[str, str] = {
    "relu": "max(x, 0)",
    "leaky_relu": "max(x, 0.01 * x)",
    "elu": "where(x > 0, x, exp(x) - 1)",
    "selu": "1.0507009873554805 * where(x > 0, x, 1.6732632423543772 * (exp(x) - 1))",
    "gelu": "0.5 * x * (1 + erf(x / sqrt(2)))",
    "silu": "x / (1 + exp(-x))",
    "mish": "x * tanh(log(1 + exp(x)))",
    "tanh": "(exp(x) - exp(-x)) / (exp(x) + exp(-x))",
    "sigmoid": "1 / (1 + exp(-x))",
    "softplus": "log(1 + exp(x))",
    "softsign": "x / (1 + abs(x))",
    "hardswish": "x * min(max(x + 3, 0), 6) / 6",
    "hardtanh": "min(max(x, -1), 1)",
    "relu6": "min(max(x, 0), 6)",
}

SATURATION = 1e-3  # |f'(x)| below this counts as saturated
PLOT_HALF_WIDTH = 8.0  # the plot's x range: relu6's plateau starts at 6
GRID_HALF_WIDTH = 40.0  # wide enough for softsign, whose derivative only reaches 1e-3 at |x| ≈ 30.6
GRID_STEP = 1e-3
KINK_JUMP = 1e-2  # a derivative change this large between grid neighbours is a jump, not a slope
ATTAINED_WITHIN = 10.0  # a bound first reached beyond |x| = 10 is an asymptote (float64 rounding)

Activation = Callable[[Tensor], Tensor]


def _tensor(v: Any, like: Tensor) -> Tensor:
    return v if isinstance(v, Tensor) else torch.as_tensor(v, dtype=like.dtype)


def evaluate_formula(formula: str, x: Tensor) -> Tensor:
    """Evaluate a formula of FORMULAS at x with elementary torch functions (no builtins)."""
    namespace = {
        "x": x, "exp": torch.exp, "log": torch.log, "tanh": torch.tanh, "erf": torch.erf, "abs": torch.abs,
        "sqrt": math.sqrt, "where": torch.where,
        "max": lambda a, b: torch.maximum(_tensor(a, x), _tensor(b, x)),
        "min": lambda a, b: torch.minimum(_tensor(a, x), _tensor(b, x)),
    }
    return eval(formula, {"__builtins__": {}}, namespace)


def resolve_names(names: str | Sequence[str] | None) -> list[str]:
    """"sigmoid,relu" -> ["sigmoid", "relu"]; None -> every known activation."""
    if names is None:
        return list(ACTIVATIONS)
    items = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    if not any(items):
        raise UserError(f"--names names no activation; give one or more of {', '.join(ACTIVATIONS)}, separated by "
                        "commas", zh=f"--names 没有给出任何激活函数；请从 {', '.join(ACTIVATIONS)} 中给出一个或多个，"
                                     "用逗号分隔")
    if not all(items):  # "relu,,tanh": a name left out by mistake, as gradcheck --hidden 32,,16 is refused
        given = names if isinstance(names, str) else ",".join(items)  # a list from Python, as typed would be
        raise UserError(f"--names {given!r} has an empty entry; separate names by single commas, e.g. sigmoid,relu",
                        zh=f"--names {given!r} 中有一项为空；请用单个逗号分隔各个名称，例如 sigmoid,relu")
    for n in items:
        check_activation(n)
    return list(dict.fromkeys(items))


def _fn(name: str, functions: dict[str, Activation] | None) -> Activation:
    if functions and name in functions:
        return functions[name]
    return ACTIVATIONS[name]()


def values_and_derivative(f: Activation, x: Tensor) -> tuple[Tensor, Tensor]:
    """f(x) and f'(x) elementwise, the derivative from autograd."""
    with torch.enable_grad():  # callers may be inside no_grad
        xg = x.detach().clone().requires_grad_(True)
        y = f(xg)
        (d,) = torch.autograd.grad(y.sum(), xg)
    return y.detach(), d


def _intervals(mask: Tensor) -> list[tuple[int, int]]:
    """Runs of True in a 1-D mask as (first, last) index pairs."""
    padded = torch.cat([torch.tensor([False]), mask, torch.tensor([False])]).to(torch.int8)
    change = torch.diff(padded).nonzero().flatten().tolist()
    return [(change[i], change[i + 1] - 1) for i in range(0, len(change), 2)]


def _round(v: float, digits: int = 4) -> float:
    r = float(f"{v:.{digits}g}")
    return 0.0 if r == 0 else r


def _range(f: Activation, x: Tensor) -> dict[str, Any]:
    far = torch.logspace(2, 6, 41, dtype=torch.float64)
    wide = torch.cat([-far.flip(0), x, far])
    y = f(wide).detach()
    lo, hi = float(y.min()), float(y.max())
    near = y[(wide.abs() <= ATTAINED_WITHIN)]
    out: dict[str, Any] = {}
    for key, bound, sign in (("low", lo, -1), ("high", hi, 1)):
        unbounded = abs(bound) > 1e3
        attained = (not unbounded) and bool(((near - bound).abs() <= 1e-12 * max(1.0, abs(bound))).any())
        out[key] = sign * math.inf if unbounded else _round(bound)
        out[f"{key}_attained"] = attained
    return out


def _format_range(r: dict[str, Any]) -> str:
    def show(v: float) -> str:
        return ("∞" if v > 0 else "-∞") if math.isinf(v) else f"{v:g}"

    left = "[" if r["low_attained"] else "("
    right = "]" if r["high_attained"] else ")"
    return f"{left}{show(r['low'])}, {show(r['high'])}{right}"


def _saturation(x: Tensor, d: Tensor) -> list[list[float]]:
    """Regions where |f'| < 1e-3: the tails, and any flat stretch of width 0.5 or more."""
    step = float(x[1] - x[0])
    regions = []
    for i, j in _intervals(d.abs() < SATURATION):
        at_edge = i == 0 or j == len(x) - 1
        if at_edge or (j - i) * step >= 0.5:
            lo = -math.inf if i == 0 else _round(round(float(x[i]), 3), 3)  # round off linspace's 1e-16s
            hi = math.inf if j == len(x) - 1 else _round(round(float(x[j]), 3), 3)
            regions.append([lo, hi])
    return regions


def _format_regions(regions: list[list[float]], lang: str) -> str:
    if not regions:
        return "无" if lang == "zh" else "none"
    parts = []
    for lo, hi in regions:
        if math.isinf(lo):
            parts.append(f"x < {hi:.3g}")
        elif math.isinf(hi):
            parts.append(f"x > {lo:.3g}")
        else:
            parts.append(f"{lo:.3g} < x < {hi:.3g}")
    return ", ".join(parts)


def _normal_cdf(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def _zero_gradient_share(x: Tensor, d: Tensor) -> float:
    """The N(0, 1) mass where the derivative is exactly 0: each run of zero-gradient grid points as an
    interval whose ends lie midway to the next point, rounded to 0.01 as the kinks are (and open where the
    run reaches the grid's end), its mass from the normal CDF. A sum of grid weights gave relu 0.5002: its
    x = 0, where torch's derivative is 0, weighed a whole grid step, though a single point has no mass."""
    zero = (d == 0).tolist()
    share, i, n = 0.0, 0, len(zero)
    while i < n:
        if not zero[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and zero[j + 1]:
            j += 1
        lo = -math.inf if i == 0 else round(float(x[i - 1] + x[i]) / 2, 2)
        hi = math.inf if j == n - 1 else round(float(x[j] + x[j + 1]) / 2, 2)
        share += max(0.0, _normal_cdf(hi) - _normal_cdf(lo))
        i = j + 1
    return share


def _kinks(x: Tensor, d: Tensor) -> list[float]:
    """Where the derivative jumps between neighbouring grid points: the function has a corner."""
    jumps = (torch.diff(d).abs() > KINK_JUMP).nonzero().flatten().tolist()
    found: list[float] = []
    for i in jumps:
        where = float(round(float(x[i] + x[i + 1]) / 2, 2))
        if not found or abs(where - found[-1]) > 0.01:
            found.append(0.0 if where == 0 else where)
    return found


def _grid() -> Tensor:
    n = round(2 * GRID_HALF_WIDTH / GRID_STEP) + 1
    return torch.linspace(-GRID_HALF_WIDTH, GRID_HALF_WIDTH, n, dtype=torch.float64)


def output_range(name: str) -> tuple[dict[str, Any], str]:
    """An activation's range as the table computes it ({low, high, low_attained, high_attained}, infinite where
    unbounded), and as the table shows it: "(0, 1)", "[0, ∞)"."""
    found = _range(_fn(name, None), _grid())
    return found, _format_range(found)


def describe(name: str, f: Activation, x: Tensor | None = None) -> dict[str, Any]:
    """Every computed column for one activation function, as plain numbers."""
    if x is None:
        x = _grid()
    y, d = values_and_derivative(f, x)
    if not (torch.isfinite(y).all() and torch.isfinite(d).all()):
        raise UserError(f"activation {name!r} gives non-finite values on [-{GRID_HALF_WIDTH}, {GRID_HALF_WIDTH}]",
                        zh=f"激活函数 {name!r} 在 [-{GRID_HALF_WIDTH}, {GRID_HALF_WIDTH}] 上给出了非有限值")
    step = float(x[1] - x[0])
    density = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi) * step  # N(0, 1) weights on the grid
    mean = float((density * y).sum())
    std = math.sqrt(max(float((density * y * y).sum()) - mean * mean, 0.0))
    top = int(d.argmax())
    kinks = _kinks(x, d)
    return {
        "name": name,
        "formula": FORMULAS.get(name, ""),
        "range": _range(f, x),
        "max_derivative": _round(float(d[top])),
        "max_derivative_at": _round(round(float(x[top]), 3)),
        "mean_for_normal_input": _round(round(mean, 6), 3),
        "zero_centred": abs(mean) <= 0.05 * std,
        "saturation": _saturation(x, d),
        "monotonic": bool((d >= -1e-12).all()),
        "kinks": kinks,
        "smooth": not kinks,
        # a share, rounded to 1e-6 absolute: sigmoid's derivative underflows to exactly 0 beyond |x| ≈ 36.7,
        # where N(0, 1) puts ~1e-295 of its mass, which is no share worth printing
        "zero_gradient_share": _round(round(_zero_gradient_share(x, d), 6), 4),
    }


def measure_cost(names: Sequence[str], functions: dict[str, Activation] | None = None, *,
                 size: int = 1 << 16, rounds: int = 15, calls: int = 10) -> dict[str, tuple[float, float]]:
    """Each activation's forward+backward seconds on one float32 tensor of `size` elements (the fastest
    round, a round being the mean of `calls` calls), and its cost relative to relu's.

    The ratio is the median over `rounds` of the function's time over relu's, relu timed just before and
    just after it (the faster of the two). Load from other work drifts over seconds, so it hits both sides
    of each ratio alike; the best time of each function taken in different seconds did not (elu came out
    at 2x relu in one table and 14x in the next). The default size fits in a core's cache, so the ratio is
    the functions' arithmetic rather than memory traffic and page faults."""
    x = torch.randn(size, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    grad = torch.ones_like(x)
    relu = _fn("relu", functions)

    def timed(f: Activation) -> float:
        started = time.perf_counter()
        for _ in range(calls):
            torch.autograd.backward(f(x), grad)
            x.grad = None
        return (time.perf_counter() - started) / calls

    # Every function of the table once, whichever are timed: running mish once made elu's next calls twice as
    # fast (some one-time state of torch's kernels), so a table without mish had shown elu at 14x relu, one with
    # it at 3.5x. Warmed alike, every table times the functions in the same state.
    for name in ({*ACTIVATIONS, *names} if functions is None else names):
        torch.autograd.backward(_fn(name, functions)(x), grad)
        x.grad = None
    best = {n: math.inf for n in names}
    ratios: dict[str, list[float]] = {n: [] for n in names}
    for round_ in range(rounds + 1):
        for n in names:
            before, seconds, after = timed(relu), timed(_fn(n, functions)), timed(relu)
            if round_:  # round 0 warms up the allocator and the kernels
                best[n] = min(best[n], seconds)
                ratios[n].append(seconds / min(before, after))
    return {n: (best[n], 1.0 if n == "relu" else statistics.median(ratios[n])) for n in names}


def activation_table(
    names: str | Sequence[str] | None = None, *, functions: dict[str, Activation] | None = None,
    cost: bool = True, cost_size: int = 1 << 16,
) -> list[dict[str, Any]]:
    """One row of computed properties per activation; `functions` overrides torch's (for tests).

    Cost is relative to relu's forward+backward time, which is timed around each function even when
    relu is not in the table, so that the column means the same in every table (`measure_cost`).
    """
    from torchprimer.autodiff.check import one_cpu_thread

    chosen = resolve_names(names)
    with one_cpu_thread():  # many small elementwise ops: threads only add synchronisation
        rows = [describe(n, _fn(n, functions)) for n in chosen]
    if cost:
        with one_cpu_thread():  # one thread: the kernel's own cost, not how well it parallelises
            measured = measure_cost(chosen, functions, size=cost_size)
        for row in rows:
            row["cost_seconds"], relative = measured[row["name"]]
            row["relative_cost"] = round(relative, 1)
            row["cost_size"] = cost_size
    for row in rows:
        row["notes"] = {"en": notes(row, "en"), "zh": notes(row, "zh")}
    return rows


def notes(row: dict[str, Any], lang: str = "en") -> list[str]:
    """Plain-language consequences of the computed numbers (not typed-in lore)."""
    zh = lang == "zh"
    out = []
    regions = row["saturation"]
    both = any(math.isinf(lo) for lo, _ in regions) and any(math.isinf(hi) for _, hi in regions)
    if both:
        where = _format_regions(regions, lang)
        if row["zero_gradient_share"] >= 0.01:  # flat tails (hardtanh, relu6): exactly no gradient there
            out.append(f"两端是平的（{where}）：那里的梯度恰为零" if zh
                       else f"flat on both sides ({where}): no gradient at all passes there")
        else:
            out.append(f"两端饱和（{where} 时 |f'| < 1e-3）：被推到那里的单元在深层堆叠中只传回极小的梯度" if zh
                       else f"saturates on both sides (|f'| < 1e-3 for {where}): units pushed there pass back "
                            "tiny gradients, and deep stacks multiply them")
    if row["max_derivative"] < 0.5:
        m = row["max_derivative"]
        out.append(f"导数最大只有 {m:g}：每经过一层，激活函数把梯度乘以不超过 {m:g} 的数（权重另乘一个因子）" if zh
                   else f"its derivative is at most {m:g}: at every layer the activation multiplies the gradient "
                        f"by {m:g} or less (the weights multiply it too)")
    share = row["zero_gradient_share"]
    if share >= 0.01:
        out.append(f"{share:.1%} 的 N(0,1) 输入梯度恰为零：单元可能“死亡”" if zh
                   else f"{share:.1%} of N(0,1) inputs get exactly zero gradient: units can die")
    if not row["monotonic"]:
        out.append("非单调：在负半轴先下降再回升" if zh else "not monotonic: dips below zero before rising")
    if not row["zero_centred"]:
        mean = row["mean_for_normal_input"]
        out.append(f"非零中心：N(0,1) 输入的平均输出为 {mean:g}" if zh
                   else f"not zero-centred: mean output {mean:g} for N(0,1) inputs")
    if row["kinks"]:
        at = ", ".join(f"{k:g}" for k in row["kinks"])
        corners = "a corner" if len(row["kinks"]) == 1 else "corners"
        out.append(f"导数在 x = {at} 处跳变（有折角）" if zh else f"derivative jumps at x = {at} ({corners})")
    return out


HEADERS = {
    "en": ["activation", "range", "max f'", "E f(z)", "zero-centred", "saturates (|f'|<1e-3)", "monotonic",
           "smooth (f' continuous)", "zero-grad share", "cost ×relu"],
    "zh": ["激活函数", "输出范围", "最大导数", "E f(z)", "零中心", "饱和区 (|f'|<1e-3)", "单调",
           "光滑（导数连续）", "零梯度占比", "开销 ×relu"],
}
TEXT = {
    "en": {
        "yes": "yes", "no": "no", "kink": "no, corner at {at}", "kinks": "no, corners at {at}",
        "notes": "what the numbers mean",
        "formulas": "formulas (checked against torch by the tests)",
        "foot": "Computed from torch on a float64 grid x in [-40, 40], step 0.001; E f(z) and the zero-grad share "
                "are for z ~ N(0, 1){cost}.",
        "cost": "; cost is forward+backward time on {size} float32 values on one CPU thread, relative to relu "
                "(the median of 15 rounds, each timed between two runs of relu; it varies with the CPU and "
                "its load)",
    },
    "zh": {
        "yes": "是", "no": "否", "kink": "否，在 {at} 处有折角", "kinks": "否，在 {at} 处有折角",
        "notes": "这些数字意味着什么",
        "formulas": "公式（测试会与 torch 的实现逐点核对）",
        "foot": "全部由 torch 在 float64 网格 x ∈ [-40, 40]（步长 0.001）上计算；E f(z) 与零梯度占比针对 "
                "z ~ N(0, 1){cost}。",
        "cost": "；开销为单个 CPU 线程上 {size} 个 float32 的前向+反向时间，以 relu 为 1"
                "（15 轮的中位数，每轮都夹在两次 relu 计时之间；它随 CPU 及其负载而变）",
    },
}


def render_table(rows: list[dict[str, Any]], lang: str = "en") -> str:
    """The table as aligned plain text, then the formulas and the notes."""
    t = in_language(TEXT, lang)
    yes_no = {True: t["yes"], False: t["no"]}
    body = []
    for r in rows:
        corner = t["kink"] if len(r["kinks"]) == 1 else t["kinks"]
        smooth = t["yes"] if r["smooth"] else corner.format(at=", ".join(f"{k:g}" for k in r["kinks"]))
        body.append([
            r["name"], _format_range(r["range"]), f"{r['max_derivative']:g}", f"{r['mean_for_normal_input']:g}",
            yes_no[r["zero_centred"]], _format_regions(r["saturation"], lang), yes_no[r["monotonic"]], smooth,
            f"{r['zero_gradient_share']:.1%}", f"{r['relative_cost']:.1f}" if "relative_cost" in r else "-",
        ])
    table = [HEADERS[lang], *body]
    widths = [max(display_width(row[i]) for row in table) for i in range(len(table[0]))]
    lines = ["  ".join(pad(cell, w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += ["", t["formulas"]]
    name_w = max(display_width(r["name"]) for r in rows)
    lines += [f"  {pad(r['name'], name_w)}  f(x) = {r['formula']}" for r in rows if r["formula"]]
    lines += ["", t["notes"]]
    for r in rows:
        if r["notes"][lang]:
            lines.append(f"  {pad(r['name'], name_w)}  " + ("；" if lang == "zh" else "; ").join(r["notes"][lang]))
    size = next((r["cost_size"] for r in rows if "cost_size" in r), None)  # None: --no-cost timed nothing
    lines += ["", t["foot"].format(cost=t["cost"].format(size=f"{size:,}") if size else "")]
    return "\n".join(lines)


def plot_functions(names: str | Sequence[str] | None, path: str | Path, *,
                   functions: dict[str, Activation] | None = None, lang: str = "en") -> Path:
    """One PNG: each activation (solid) and its autograd derivative (dashed) on [−PLOT_HALF_WIDTH,
    PLOT_HALF_WIDTH], wide enough to show where relu6 flattens (x = 6) and sigmoid and tanh saturate."""
    from torchprimer.report import cjk_font, figures, save_figure

    chosen = resolve_names(names)
    plt = figures()
    cols = min(4, len(chosen))
    rows = math.ceil(len(chosen) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    x = torch.linspace(-PLOT_HALF_WIDTH, PLOT_HALF_WIDTH, 1601, dtype=torch.float64)
    font = cjk_font() if lang == "zh" else None  # without one, Chinese labels would be empty boxes
    labels = ("f(x)", "导数 f'(x)") if font else ("f(x)", "f'(x)")
    for ax, name in zip(axes.flat, chosen, strict=False):  # spare axes stay empty
        y, d = values_and_derivative(_fn(name, functions), x)
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.plot(x.numpy(), y.numpy(), label=labels[0])
        ax.plot(x.numpy(), d.numpy(), "--", label=labels[1])
        ax.set_title(name)
        ax.set_xlabel("x", fontsize=8)
        ax.set_ylim(-2, max(3.0, float(y.max()) + 0.5))  # relu6 and hardtanh-like plateaus stay in view
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(chosen):]:
        ax.axis("off")
    axes.flat[0].legend(loc="upper left", prop={"size": 8, **({"family": font} if font else {})})
    fig.tight_layout()
    return save_figure(fig, path)


# ---------------------------------------------------------------------------------------
# Training comparison: the same deep MLP, one activation at a time.

TRAIN_DEFAULTS = ("sigmoid", "tanh", "relu", "leaky_relu", "gelu")
TRAIN_FILES = ("loss-curves.png", "gradient-norms.png", "activations-train.json")  # what --train writes into --out
INITS = ("torch", "kaiming", "xavier")


def _initialise(model: torch.nn.Module, scheme: str) -> None:
    """Apply one initialisation scheme to every Linear layer ("torch" keeps PyTorch's default)."""
    if scheme == "torch":
        return
    for layer in model.modules():
        if isinstance(layer, torch.nn.Linear):
            if scheme == "kaiming":
                torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            else:
                torch.nn.init.xavier_normal_(layer.weight)
            torch.nn.init.zeros_(layer.bias)


def _linears(model: torch.nn.Module) -> list[torch.nn.Linear]:
    return [m for m in model.modules() if isinstance(m, torch.nn.Linear)]


def _layer_grad_norms(model: torch.nn.Module) -> Tensor:
    return torch.stack([layer.weight.grad.norm() for layer in _linears(model)])


def dead_unit_share(model: torch.nn.Module, x: Tensor) -> float:
    """Share of hidden units whose activation has zero derivative for every sample of x:
    such a unit passes back no gradient, so nothing before it can revive it."""
    dead = total = 0
    a = x
    with torch.no_grad():
        for layer in model:
            if not isinstance(layer, (torch.nn.Flatten, torch.nn.Linear)):
                _, d = values_and_derivative(layer, a)
                dead += int((d == 0).all(dim=0).sum())
                total += d.shape[1]
            a = layer(a)
    return dead / max(total, 1)


def train_one(name: str, splits: Any, options: dict[str, Any], init: str) -> dict[str, Any]:
    """Train one activation's network; record loss, accuracy and per-layer gradient norms."""
    from torchprimer.data.batches import device_batches
    from torchprimer.models import build_model, objective_for
    from torchprimer.training.config import make_config
    from torchprimer.training.loop import evaluate, make_optimizer
    from torchprimer.training.run import seed_everything

    cfg = make_config(**{**options, "activation": name})
    seed_everything(cfg.seed)  # same seed before building: same initial weights for every activation
    model = build_model(cfg.model_spec, splits.input_shape, splits.num_classes,
                        "use a smaller --width or --depth",
                        too_big_advice_zh="请用更小的 --width 或 --depth").to(splits.x_train.device)
    _initialise(model, init)
    objective = objective_for(model)
    optimizer = make_optimizer(model, cfg)
    started = time.perf_counter()

    model.zero_grad(set_to_none=True)
    initial = objective.loss(model(splits.x_train), splits.y_train)  # loss and gradient at init, whole training split
    initial.backward()
    initial_loss = float(initial.detach())
    norms = [_layer_grad_norms(model)]
    dead_at_init = dead_unit_share(model, splits.x_train)
    history = []
    for epoch in range(cfg.epochs):
        model.train()
        epoch_norms = torch.zeros(len(_linears(model)), device=splits.x_train.device)
        loss_sum = torch.zeros((), device=splits.x_train.device)
        steps = 0
        for xb, yb in device_batches(splits.x_train, splits.y_train, cfg.batch_size, seed=cfg.seed, epoch=epoch):
            optimizer.zero_grad(set_to_none=True)
            loss = objective.loss(model(xb), yb)
            loss.backward()
            epoch_norms += _layer_grad_norms(model).detach()
            optimizer.step()
            loss_sum += loss.detach() * len(yb)
            steps += 1
        norms.append(epoch_norms / steps)
        val = evaluate(model, splits.x_val, splits.y_val, objective)
        history.append({"epoch": epoch + 1, "train_loss": float(loss_sum) / len(splits.y_train),
                        "val_loss": val["loss"], "val_acc": val["accuracy"]})
    test = evaluate(model, splits.x_test, splits.y_test, objective)
    grid = torch.stack(norms).cpu()  # (epochs + 1, layers): row 0 at init
    return {
        "diverged_at": _diverged_at(history, grid),
        "activation": name, "test_accuracy": test["accuracy"], "test_loss": test["loss"], "history": history,
        # the untrained network's training loss and the step size: what `findings` weighs a run stuck at guessing by
        "initial_loss": initial_loss, "lr": cfg.lr,
        # what always guessing the commonest test class scores: the accuracy that means "learned nothing"
        "chance_accuracy": float(torch.bincount(splits.y_test).max()) / len(splits.y_test),
        "guess_loss": guess_loss(splits.y_train, splits.y_test, splits.num_classes),
        "grad_norms": grid.tolist(), "grad_norm_at_init": grid[0].tolist(),
        "grad_norm_during_training": grid[1:].mean(0).tolist(),
        "dead_units_at_init": dead_at_init, "dead_units_at_end": dead_unit_share(model, splits.x_train),
        "seconds": time.perf_counter() - started,
    }


def guess_loss(y_train: Tensor, y_test: Tensor, classes: int) -> float:
    """The test cross-entropy of always predicting the training split's class shares, the best a network
    that ignores its input can do: a test loss no lower than this means the run learned nothing from x.
    (inf where a test class never occurs in training: no run is then measured against it.)"""
    train = torch.bincount(y_train.cpu(), minlength=classes).double() / len(y_train)
    test = torch.bincount(y_test.cpu(), minlength=classes).double() / len(y_test)
    return float(-torch.special.xlogy(test, train).sum())


def _diverged_at(history: list[dict[str, Any]], grid: Tensor) -> int | None:
    """The first epoch whose training loss or weight gradients were no longer finite numbers, or None.

    Such a run's later numbers (losses, gradient norms, dead units) describe an overflow, not the
    activation: the findings must say so instead of comparing them (an lr of 100 once read
    "infx smaller on average during training" and advised more epochs)."""
    for row, epoch in zip(grid[1:], history, strict=True):
        if not (math.isfinite(epoch["train_loss"]) and bool(torch.isfinite(row).all())):
            return int(epoch["epoch"])
    return None


def compare_training(
    names: str | Sequence[str] | None = None, *, depth: int = 8, width: int = 64, epochs: int = 20,
    lr: float = 1e-3, optimizer: str = "adam", batch_size: int = 64, seed: int = 0, dataset: str = "digits",
    init: str = "torch", device: str = "cpu", out: str | Path | None = None,
) -> dict[str, Any]:
    """Train the same deep MLP once per activation and compare accuracy and gradient flow.

    Every run gets the same data split, data order, seed and initialisation scheme, so the
    activation is the only difference. Writes loss curves and a gradient heat map to `out`.
    """
    from torchprimer.training.config import make_config, resolve_device
    from torchprimer.training.run import load_splits

    chosen = resolve_names(names if names is not None else TRAIN_DEFAULTS)
    if init not in INITS:
        raise UserError(f"unknown --init {init!r}; use one of {', '.join(INITS)}",
                        zh=f"未知的 --init {init!r}；请使用以下之一：{', '.join(INITS)}")
    for flag, value, most in (("depth", depth, MAX_LAYERS), ("width", width, MAX_UNITS)):
        if not 1 <= value <= most:
            raise UserError(f"--{flag} {value} must be from 1 to {most:,}",
                            zh=f"--{flag} {value} 必须在 1 到 {most:,} 之间")
    options = {"dataset": dataset, "model": "mlp", "hidden": (width,) * depth, "epochs": epochs, "lr": lr,
               "optimizer": optimizer, "batch_size": batch_size, "seed": seed, "device": device}
    cfg = make_config(**options)  # checks every option once, before any training
    splits = load_splits(cfg, resolve_device(cfg.device))
    from torchprimer.autodiff.check import one_cpu_thread

    with one_cpu_thread():
        runs = [train_one(name, splits, options, init) for name in chosen]
    result = {"settings": {**options, "hidden": list(options["hidden"]), "init": init, "activations": chosen},
              "runs": runs, "findings": findings(runs)}
    if out is not None:
        out = Path(out)
        from torchprimer.fileio import write_strict_json

        curves, heatmap, summary = TRAIN_FILES
        result["files"] = [str(plot_training_curves(runs, out / curves)),
                           str(plot_gradient_heatmap(runs, out / heatmap))]
        # strict JSON: a diverged run's NaN losses become null, which every JSON reader accepts
        result["files"].append(str(write_strict_json(out / summary, result)))
    return result


# The words of `--train`'s report: the same sentences in English and Chinese, numbers filled in alike.
TRAIN_TEXT = {
    "en": {
        "header": "{dataset}: MLP with {depth} hidden layer{s_depth} of {width}, {optimizer} lr {lr:g}, "
                  "{epochs} epoch{s_epochs}, batch {batch}, seed {seed}, init {init}",
        "columns": ["activation", "test acc", "final loss", "dead", "seconds"],
        "norms": "gradient norm per layer at init (layer 1 = input side .. {layers})",
        "vanishing": "Vanishing gradients: {name}'s first layer gets a gradient {ratio:,.0f}x smaller than "
                     "{ref}'s at initialisation ({first:.2e} vs {ref_first:.2e}, {orders:.1f} orders of "
                     "magnitude){during}. {cause}{outcome}.",
        "cause": "{name}'s derivative is at most {top:g}, so each of its layers shrinks the gradient on the way "
                 "back; ",
        "during": " and {during:,.0f}x smaller on average during training",
        "during_none": " and next to none during training",
        "accuracies": "test accuracy {acc:.3f} vs {ref_acc:.3f}",
        "diverged_outcome": "a run that diverged (below) says nothing about what the activation costs",
        "nothing": "in this run {ref} learned nothing either ({accuracies}, chance {chance:.3f}): "
                   "train longer (--epochs) to see what it costs",
        "nothing_lr": "in this run {ref} learned nothing either ({accuracies}, chance {chance:.3f}), its steps "
                      "too large (below): lower --lr to see what it costs",
        "barely": "its early layers barely learn ({accuracies})",
        "made_up": "in this run the other layers made up for it ({accuracies})",
        "smaller": "{name}: first-layer gradient {ratio:.3g}x smaller than {ref}'s at initialisation.",
        "larger": "{name}: first-layer gradient {ratio:.3g}x larger than {ref}'s at initialisation.",
        "within": "{name}: first-layer gradient within a factor 10 of {ref}'s at initialisation.",
        "diverged": "{name} diverged: its training loss or weight gradients overflowed in epoch {epoch}, so its "
                    "figures after that measure the overflow, not the activation; lower --lr (e.g. 0.001) to "
                    "compare it.",
        "guessing": "{name} did no better than guessing: its test accuracy {acc:.3f} is at chance ({chance:.3f}) and "
                    "its test loss {loss} is not below the {guess:.4f} of always predicting the training split's "
                    "class shares; {advice}.",
        "worse": "{name} learned little: its test accuracy is {acc:.3f} (chance {chance:.3f}), yet its test loss "
                 "{loss} and last training loss {train} are not below the {guess:.4f} of always predicting the "
                 "training split's class shares; {advice}.",
        "overshoot": "a loss {times:,.0f}x a guess's means its steps overshoot: lower --lr (e.g. 0.001) to compare it",
        "stuck": "train longer (--epochs) to see whether it learns",
        "learning": "its last training loss {train} is below that guess, so it is learning the training data: train "
                    "longer (--epochs) to see whether the test split follows",
        "too_large": "its last training loss {train} is not below that guess either{evidence}, so it did not even "
                     "learn the training data: its steps are too large; lower --lr (e.g. {tenth:g}, a tenth of "
                     "{lr:g}){dead}",
        "evidence_peak": " and on the way it shot up to {peak} (epoch {epoch})",
        "evidence_rose": " and is above the {start:.4f} it started from",
        "too_large_dead": "; {dead:.1%} of its hidden units also ended dead (from {at_init:.1%} at initialisation): "
                          "large steps push units where they get no gradient",
        "dead": "{name}: {at_init:.1%} of hidden units are dead at initialisation and {at_end:.1%} at the end "
                "(zero gradient for every training sample).",
        "dead_at_init": "{name}: {at_init:.1%} of hidden units are dead at initialisation (zero gradient for every "
                        "training sample); its figure at the end measures the overflow.",
        "wrote": "wrote {files}",
    },
    "zh": {
        "header": "{dataset}：MLP，{depth} 个隐藏层，每层 {width} 个单元；{optimizer}，学习率 {lr:g}；{epochs} 轮；"
                  "批大小 {batch}；随机种子 {seed}；初始化 {init}",
        "columns": ["激活函数", "测试准确率", "最终损失", "死亡单元", "秒数"],
        "norms": "初始化时各层的梯度范数（第 1 层在输入一侧，共 {layers} 层）",
        "vanishing": "梯度消失：初始化时，{name} 第一层得到的梯度只有 {ref} 的 1/{ratio:,.0f}（{first:.2e} 对 "
                     "{ref_first:.2e}，相差 {orders:.1f} 个数量级）{during}。{cause}{outcome}。",
        "cause": "{name} 的导数最大只有 {top:g}，所以反向传播时它的每一层都把梯度再缩小一些；",
        "during": "，训练期间平均也只有 1/{during:,.0f}",
        "during_none": "，训练期间几乎为零",
        "accuracies": "测试准确率 {acc:.3f} 对 {ref_acc:.3f}",
        "diverged_outcome": "有一次运行发散了（见下文），这组数字说明不了这个激活函数的代价",
        "nothing": "但这次运行中 {ref} 也什么都没学到（{accuracies}，总猜最常见类别的准确率为 {chance:.3f}）："
                   "要看出它的代价，请训练更久（--epochs）",
        "nothing_lr": "但这次运行中 {ref} 也什么都没学到（{accuracies}，总猜最常见类别的准确率为 {chance:.3f}），"
                      "它的步长太大（见下文）：要看出它的代价，请调低 --lr",
        "barely": "它的前几层几乎学不到东西（{accuracies}）",
        "made_up": "这次运行中其余各层弥补了这一点（{accuracies}）",
        "smaller": "{name}：初始化时第一层的梯度只有 {ref} 的 1/{ratio:.3g}。",
        "larger": "{name}：初始化时第一层的梯度是 {ref} 的 {ratio:.3g} 倍。",
        "within": "{name}：初始化时第一层的梯度与 {ref} 的相差不到 10 倍。",
        "diverged": "{name} 发散了：第 {epoch} 轮中它的训练损失或权重梯度溢出，此后的数字衡量的是溢出，而不是激活"
                    "函数；调低 --lr（例如 0.001）再来比较。",
        "guessing": "{name} 的表现不比瞎猜好：它的测试准确率 {acc:.3f} 处于随机水平（总猜最常见类别为 {chance:.3f}），"
                    "测试损失 {loss} 也不低于总按训练集各类别占比预测的 {guess:.4f}；{advice}。",
        "worse": "{name} 几乎没学到东西：它的测试准确率为 {acc:.3f}（总猜最常见类别为 {chance:.3f}），"
                 "但测试损失 {loss} 和最后一轮的训练损失 {train} 都不低于总按训练集各类别占比预测的 "
                 "{guess:.4f}；{advice}。",
        "overshoot": "损失是这种猜测的 {times:,.0f} 倍，说明步长过大、越过了最低点：调低 --lr（例如 0.001）再来比较",
        "stuck": "请训练更久（--epochs），看它能否学到东西",
        "learning": "它最后一轮的训练损失 {train} 已低于这个猜测，说明它在学习训练数据：请训练更久（--epochs），"
                    "看测试集是否也跟上",
        "too_large": "它最后一轮的训练损失 {train} 也不低于这个猜测{evidence}，说明它连训练数据都没学会：步长太大；"
                     "调低 --lr（例如 {tenth:g}，即 {lr:g} 的十分之一）{dead}",
        "evidence_peak": "，途中还曾飙升到 {peak}（第 {epoch} 轮）",
        "evidence_rose": "，而且高于训练开始时的 {start:.4f}",
        "too_large_dead": "；另有 {dead:.1%} 的隐藏单元最终“死亡”（初始化时为 {at_init:.1%}）：步长过大会把单元推到"
                          "没有梯度的地方",
        "dead": "{name}：初始化时有 {at_init:.1%} 的隐藏单元已经“死亡”，训练结束时为 {at_end:.1%}（对每个训练"
                "样本梯度都恰为零）。",
        "dead_at_init": "{name}：初始化时有 {at_init:.1%} 的隐藏单元已经“死亡”（对每个训练样本梯度都恰为零）；"
                        "它训练结束时的数字衡量的是溢出。",
        "wrote": "已写入 {files}",
    },
}


# A test loss this many times a constant guess's: the network is confidently wrong, which one stuck at guessing
# (its loss near the guess's, as sigmoid's plateau in its first epochs) is not; only steps too large get there.
OVERSHOOT = 2.0
AT_CHANCE = 0.05  # a test accuracy within this of always guessing the commonest class learned nothing
# A last training loss this many times above both the guess's and the untrained network's: the steps made the fit of
# the training data worse, which small enough steps do not. Measured on digits (8x64): a plateau at a sane lr ends
# within 0.2% of the higher of the two (sigmoid at adam 0.001, relu and sigmoid at sgd 0.1), while too large an lr
# ends 5-11% above it (adam 3, sgd 3, tanh at adam 0.03).
ROSE = 1.02
MANY_DEAD = 0.5  # a share of hidden units dead at the end worth naming in the advice, where it grew in training


def _loss_text(loss: float) -> str:
    return f"{loss:.4f}" if abs(loss) < 1e5 else f"{loss:.3e}"  # a diverged 3e26 keeps the table column's width


def _no_better_than_guessing(r: dict[str, Any]) -> bool:
    """A finite run whose test loss is not below always predicting the training split's class shares."""
    return not r.get("diverged_at") and r.get("test_loss", -math.inf) >= r.get("guess_loss", math.inf)


def _why_guessing(r: dict[str, Any]) -> str:
    """Why a run no better than guessing got there, from its measured losses: "overshoot", "too_large",
    "learning" or "stuck".

    A test loss far above the guess's: the steps overshoot. Else the last training loss decides: below the guess's,
    the network is learning the training data ("learning": train longer); not below it, and either risen above where
    it started or shot up on the way, the steps are too large for it to learn even that ("too_large": lower --lr);
    not below it, yet no higher than it started, it sits on a plateau at guessing ("stuck", as sigmoid's first epochs
    at the default lr), where training longer is the way on."""
    guess, train = r["guess_loss"], r["history"][-1]["train_loss"]
    if r["test_loss"] / guess >= OVERSHOOT:
        return "overshoot"
    if train < guess:
        return "learning"
    base = max(guess, r.get("initial_loss", guess))
    if max(h["train_loss"] for h in r["history"]) >= OVERSHOOT * base or train > ROSE * base:
        return "too_large"
    return "stuck"


def _advice(r: dict[str, Any], t: dict[str, str]) -> str:
    """`_why_guessing`'s verdict as the advice that ends the run's sentence, with the figures that back it."""
    why, guess, train = _why_guessing(r), r["guess_loss"], r["history"][-1]["train_loss"]
    if why == "overshoot":
        return t["overshoot"].format(times=r["test_loss"] / guess)
    if why == "learning":
        return t["learning"].format(train=_loss_text(train))
    if why == "stuck":
        return t["stuck"]
    start = r.get("initial_loss", guess)
    peak = max(r["history"], key=lambda h: h["train_loss"])
    evidence = (t["evidence_peak"].format(peak=_loss_text(peak["train_loss"]), epoch=peak["epoch"])
                if peak["train_loss"] >= OVERSHOOT * max(guess, start) else t["evidence_rose"].format(start=start))
    at_init, at_end = r.get("dead_units_at_init", 0.0), r.get("dead_units_at_end", 0.0)
    dead = t["too_large_dead"].format(dead=at_end, at_init=at_init) if at_end >= MANY_DEAD and at_end > at_init else ""
    return t["too_large"].format(train=_loss_text(train), evidence=evidence, lr=r["lr"], tenth=r["lr"] / 10, dead=dead)


def findings(runs: list[dict[str, Any]], lang: str = "en") -> list[str]:
    """The comparison in words, from the measured gradient norms and accuracies, in English or Chinese."""
    t = in_language(TRAIN_TEXT, lang)
    if not runs:
        return []
    by_name = {r["activation"]: r for r in runs}
    ref_name = "relu" if "relu" in by_name else max(runs, key=lambda r: r["grad_norm_at_init"][0])["activation"]
    ref = by_name[ref_name]
    ref_first = ref["grad_norm_at_init"][0]
    lines = []
    for r in runs:
        name, first = r["activation"], r["grad_norm_at_init"][0]
        ratio = ref_first / max(first, 1e-300)
        if name == ref_name:
            continue
        if ratio >= 100:
            both_finite = not (r.get("diverged_at") or ref.get("diverged_at"))
            during = ref["grad_norm_during_training"][0] / max(r["grad_norm_during_training"][0], 1e-300)
            # a gradient that all but vanished in training makes the ratio a meaningless 1e20-odd figure
            during_text = "" if not both_finite else (
                t["during"].format(during=during) if during < 1e6 else t["during_none"])
            top = describe(name, ACTIVATIONS[name]())["max_derivative"]
            # a derivative bounded below 1 explains the shrinking; one that reaches 1 or more (gelu's 1.13)
            # does not, and the sentence would be false, so the cause is then left to the numbers
            cause = t["cause"].format(name=name, top=top) if top < 1 else ""
            accuracies = t["accuracies"].format(acc=r["test_accuracy"], ref_acc=ref["test_accuracy"])
            # The accuracies back the sentence only where the reference learned something (above chance).
            if not both_finite:  # the accuracies then say how training broke, not what the activation does
                outcome = t["diverged_outcome"]
            elif ref["test_accuracy"] <= r["chance_accuracy"] + AT_CHANCE:
                # where the reference's own sentence below blames its step size, more epochs would not help it
                too_large = _no_better_than_guessing(ref) and _why_guessing(ref) in ("overshoot", "too_large")
                outcome = t["nothing_lr" if too_large else "nothing"].format(
                    ref=ref_name, accuracies=accuracies, chance=r["chance_accuracy"])
            elif ref["test_accuracy"] - r["test_accuracy"] >= 0.05:
                outcome = t["barely"].format(accuracies=accuracies)
            else:
                outcome = t["made_up"].format(accuracies=accuracies)
            lines.append(t["vanishing"].format(name=name, ratio=ratio, ref=ref_name, first=first, ref_first=ref_first,
                                               orders=math.log10(ratio), during=during_text, cause=cause,
                                               outcome=outcome))
        elif ratio >= 10:
            lines.append(t["smaller"].format(name=name, ratio=ratio, ref=ref_name))
        elif ratio <= 0.1:
            lines.append(t["larger"].format(name=name, ratio=1 / ratio, ref=ref_name))
        else:
            lines.append(t["within"].format(name=name, ref=ref_name))
    for r in runs:
        if r.get("diverged_at"):
            lines.append(t["diverged"].format(name=r["activation"], epoch=r["diverged_at"]))
    for r in runs:  # finite figures, yet no better than a guess that ignores the input (--lr 100 once passed unnamed)
        if not _no_better_than_guessing(r):
            continue
        times, train = r["test_loss"] / r["guess_loss"], r["history"][-1]["train_loss"]
        advice = _advice(r, t)
        figures = {"name": r["activation"], "loss": _loss_text(r["test_loss"]), "guess": r["guess_loss"],
                   "acc": r["test_accuracy"], "chance": r["chance_accuracy"], "advice": advice}
        if r["test_accuracy"] <= r["chance_accuracy"] + AT_CHANCE:
            lines.append(t["guessing"].format(**figures))
        elif times >= OVERSHOOT and train >= r["guess_loss"]:  # a low training loss: overfitting, not overshooting
            lines.append(t["worse"].format(train=_loss_text(train), **figures))
    for r in runs:
        if r.get("diverged_at"):  # units "dead" after an overflow say nothing of the activation: only init counts
            if r["dead_units_at_init"]:
                lines.append(t["dead_at_init"].format(name=r["activation"], at_init=r["dead_units_at_init"]))
        elif r["dead_units_at_init"] or r["dead_units_at_end"]:
            lines.append(t["dead"].format(name=r["activation"], at_init=r["dead_units_at_init"],
                                          at_end=r["dead_units_at_end"]))
    return lines


def render_training(result: dict[str, Any], lang: str = "en") -> str:
    """The race as plain text in English or Chinese; the numbers, activation names and options are the same
    in both. `result["findings"]` (what --json prints) is English; Chinese findings are worded from the runs."""
    t = in_language(TRAIN_TEXT, lang)
    s = result["settings"]
    depth, epochs = len(s["hidden"]), s["epochs"]
    lines = [t["header"].format(dataset=s["dataset"], depth=depth, s_depth="s" if depth > 1 else "",
                                width=s["hidden"][0], optimizer=s["optimizer"], lr=s["lr"], epochs=epochs,
                                s_epochs="s" if epochs != 1 else "", batch=s["batch_size"], seed=s["seed"],
                                init=s["init"]), ""]
    layers = len(result["runs"][0]["grad_norm_at_init"])
    # the English widths, wider where a Chinese heading needs it (its characters take two columns)
    widths = [max(w, display_width(c)) for w, c in zip((11, 8, 10, 6, 7), t["columns"], strict=True)]
    name_w, *number_ws = widths

    def row(name: str, cells: list[str], tail: str) -> str:
        return " ".join([pad(name, name_w), *(pad(c, w, right=True) for c, w in zip(cells, number_ws,
                                                                                   strict=True))]) + "   " + tail

    lines.append(row(t["columns"][0], t["columns"][1:], t["norms"].format(layers=layers)))
    for r in result["runs"]:
        norms = " ".join(f"{v:.1e}" for v in r["grad_norm_at_init"])
        loss_cell = _loss_text(r["history"][-1]["train_loss"])
        lines.append(row(r["activation"], [f"{r['test_accuracy']:.3f}", loss_cell, f"{r['dead_units_at_end']:.1%}",
                                           f"{r['seconds']:.1f}"], norms))
    lines += ["", *(result["findings"] if lang == "en" else findings(result["runs"], lang))]
    if result.get("files"):
        lines += ["", t["wrote"].format(files=", ".join(result["files"]))]
    return "\n".join(lines)


def plot_training_curves(runs: list[dict[str, Any]], path: str | Path) -> Path:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    from torchprimer.report import figures, save_figure

    plt = figures()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for r in runs:
        epochs = [h["epoch"] for h in r["history"]]
        ax_loss.plot(epochs, [h["train_loss"] for h in r["history"]], label=r["activation"])
        ax_acc.plot(epochs, [h["val_acc"] for h in r["history"]], label=r["activation"])
    ax_loss.set(xlabel="epoch", ylabel="training loss (epoch mean, log scale)", yscale="log", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy", title="accuracy", ylim=(0, 1))
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs: there is no epoch 1.5
        ax.grid(alpha=0.3)
        ax.legend()
    plain = FuncFormatter(lambda value, _: f"{value:g}")  # 2.2, not matplotlib's 2.2×10⁰ on a log axis
    ax_loss.yaxis.set_major_formatter(plain)
    ax_loss.yaxis.set_minor_formatter(plain)
    return save_figure(fig, path)


def plot_gradient_heatmap(runs: list[dict[str, Any]], path: str | Path) -> Path:
    """log10 of each layer's weight-gradient norm (rows) at init and per epoch (columns)."""
    import numpy as np

    from torchprimer.report import figures, save_figure

    plt = figures()
    grids = [torch.tensor(r["grad_norms"], dtype=torch.float64).clamp_min(1e-30).log10().T for r in runs]
    # a diverged run's inf/NaN norms are left blank: in the colour scale they made it NaN (a blank picture and
    # matplotlib's "invalid value encountered in divide" on stderr)
    finite = torch.cat([g[torch.isfinite(g)] for g in grids])
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    fig, axes = plt.subplots(1, len(runs), figsize=(3.2 * len(runs), 3.6), squeeze=False)
    image = None
    for ax, r, g in zip(axes.flat, runs, grids, strict=True):
        image = ax.imshow(np.ma.masked_invalid(g.numpy()), aspect="auto", cmap="viridis", vmin=low, vmax=high,
                          origin="lower")
        ax.set(title=r["activation"], xlabel="epoch (0 = init)")
        ax.set_yticks(range(g.shape[0]), [str(i + 1) for i in range(g.shape[0])])
    axes.flat[0].set_ylabel("layer (1 = input side)")
    fig.colorbar(image, ax=list(axes.flat), label="log10 ‖∂loss/∂W‖ (init: whole training split; then epoch mean)")
    return save_figure(fig, path)
