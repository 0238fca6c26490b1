"""§3.1 Tensors: the seed's sums and products checked against values worked out by hand,
`torch.randn` checked to be standard normal, and `torch.empty` shown to write nothing: what it
hands back is whatever the memory held, which no one can predict (so it is shown, not checked),
and PyTorch's deterministic mode fills it with NaN (checked)."""

from __future__ import annotations

import re

import torch

from torchprimer.lessons.runner import Run, bilingual

SECTION = "3.1"

TEXT = {
    "en": {
        "title": "Scalars, vectors, tensors",
        "intro": """
A tensor is an n-dimensional array: a scalar has 0 dimensions, a vector 1, a matrix 2.
The seed creates tensors four ways and does two pieces of arithmetic on 2×2 matrices.""",
        "verdict": """
The seed's code runs and prints the right numbers, with two things worth knowing.
`a @ b.T` multiplies a by b transposed, [[17, 23], [39, 53]], not the plain product
a @ b = [[19, 22], [43, 50]]. And `torch.empty` does not give zeros: it writes nothing, so
it hands back whatever the memory held. That may be a tensor freed a moment earlier (above,
a freed tensor of sevens), or zeros from memory the system just handed over; it changes from
run to run, and the count above is this run's. Never read it before writing it; use
torch.zeros for zeros.""",
        "fixed_title": "What the seed's comments leave out, shown:",
    },
    "zh": {
        "title": "标量、向量与张量",
        "intro": """
张量就是 n 维数组：标量是 0 维，向量是 1 维，矩阵是 2 维。原教程用四种方式创建张量，
并对两个 2×2 矩阵做了两种运算。""",
        "verdict": """
原教程的代码能运行，打印的数也对，但有两点值得知道。`a @ b.T` 是 a 乘以 b 的转置，
结果是 [[17, 23], [39, 53]]，而不是普通矩阵乘积 a @ b = [[19, 22], [43, 50]]。
另外 `torch.empty` 给的不是零：它什么也不写，直接交回那块内存原来的内容。可能是刚刚
释放的张量留下的值（上面先释放了一个全是 7 的张量），也可能是系统刚分配的全零内存；每次运行
都可能不同，上面的计数只是这一次的结果。写入之前绝不要读取它；需要零就用 torch.zeros。""",
        "fixed_title": "原教程注释没说的事，演示出来：",
    },
}

SETUP = "import torch"

SEED = {
    "zh": """\
# 创建张量
x = torch.empty(2, 3)  # 未初始化
y = torch.zeros(2, 3, dtype=torch.int32)
z = torch.randn(2, 3)  # 标准正态分布
# 数学运算
a = torch.tensor([[1,2],[3,4]], dtype=torch.float32)
b = torch.tensor([[5,6],[7,8]], dtype=torch.float32)
print(a + b)  # 逐元素加法
print(a @ b.T)  # 矩阵乘法
""",
    "en": """\
# creating tensors
x = torch.empty(2, 3)  # uninitialised
y = torch.zeros(2, 3, dtype=torch.int32)
z = torch.randn(2, 3)  # standard normal
# arithmetic
a = torch.tensor([[1,2],[3,4]], dtype=torch.float32)
b = torch.tensor([[5,6],[7,8]], dtype=torch.float32)
print(a + b)  # element-wise addition
print(a @ b.T)  # matrix multiplication
""",
}

FIXED = bilingual(
    """\
# torch.empty writes nothing: free a tensor of sevens, ask for the same size, count them
sevens = torch.full((50_000,), 7.0)
del sevens
x = torch.empty(50_000)
reused = int((x == 7.0).sum())
print("sevens in torch.empty(50_000):", reused, "of 50000 (this run; it varies)")
# PyTorch's deterministic mode fills uninitialised memory with NaN, so reading it shows up
# (torch.utils.deterministic.fill_uninitialized_memory, on by default in that mode)
was_deterministic = torch.are_deterministic_algorithms_enabled()
torch.use_deterministic_algorithms(True)
filled = torch.empty(2, 3)
torch.use_deterministic_algorithms(was_deterministic)
print(filled)
x = torch.zeros(2, 3)  # when you need zeros, ask for zeros

# a @ b.T is a times b transposed; a @ b is the plain matrix product
a = torch.tensor([[1,2],[3,4]], dtype=torch.float32)
b = torch.tensor([[5,6],[7,8]], dtype=torch.float32)
print(a @ b)

# "standard normal", tested on many draws rather than six
draws = torch.randn(100_000)
print(f"mean {draws.mean():.4f}  std {draws.std():.4f}")
""",
    zh={
        "torch.empty writes nothing: free a tensor of sevens, ask for the same size, count them":
            "torch.empty 什么也不写：先释放一个全是 7 的张量，再申请同样大小，数一数",
        "PyTorch's deterministic mode fills uninitialised memory with NaN, so reading it shows up":
            "PyTorch 的确定性模式会把未初始化的内存填成 NaN，读到它就一目了然",
        "(torch.utils.deterministic.fill_uninitialized_memory, on by default in that mode)":
            "（torch.utils.deterministic.fill_uninitialized_memory，该模式下默认开启）",
        "when you need zeros, ask for zeros": "需要零，就明确要零",
        "a @ b.T is a times b transposed; a @ b is the plain matrix product":
            "a @ b.T 是 a 乘 b 的转置；a @ b 才是普通矩阵乘积",
        '"standard normal", tested on many draws rather than six': "“标准正态分布”：用大量样本检验，而不是六个数",
    },
)

CHECKS = {
    "sum": {
        "en": "a + b equals [[6, 8], [10, 12]], worked out by hand",
        "zh": "a + b 等于手算的 [[6, 8], [10, 12]]",
    },
    "product": {
        "en": "a @ b.T equals Σₖ a[i,k]·b[j,k] = [[17, 23], [39, 53]], and differs from a @ b",
        "zh": "a @ b.T 等于 Σₖ a[i,k]·b[j,k] = [[17, 23], [39, 53]]，且不同于 a @ b",
    },
    "printed": {
        "en": "what the seed prints shows those same numbers, in the same order",
        "zh": "原教程打印出来的正是这些数，顺序也相同",
    },
    "zeros_and_randn": {
        "en": "torch.zeros gives int32 zeros; torch.randn draws have mean ≈ 0 and std ≈ 1 (100,000 draws)",
        "zh": "torch.zeros 给出 int32 的零；torch.randn 的样本均值 ≈ 0、标准差 ≈ 1（10 万个样本）",
    },
    "empty": {
        "en": "torch.empty writes nothing: in deterministic mode, which fills new memory, it comes back all NaN",
        "zh": "torch.empty 什么也不写：在会填充新内存的确定性模式下，它交回的全是 NaN",
    },
}


def _by_hand() -> tuple[list[list[float]], list[list[float]], list[list[float]]]:
    """The seed's a + b, a @ bᵀ and a @ b with plain Python loops: an independent reference."""
    a = [[1.0, 2.0], [3.0, 4.0]]
    b = [[5.0, 6.0], [7.0, 8.0]]
    total = [[a[i][j] + b[i][j] for j in range(2)] for i in range(2)]
    times_bt = [[sum(a[i][k] * b[j][k] for k in range(2)) for j in range(2)] for i in range(2)]
    times_b = [[sum(a[i][k] * b[k][j] for k in range(2)) for j in range(2)] for i in range(2)]
    return total, times_bt, times_b


# A number as torch prints a float tensor's entry: 6. or -0.5 or 1.2e+03
PRINTED_NUMBER = re.compile(r"[-+]?\d+\.?\d*(?:e[-+]?\d+)?")


def printed_numbers(stdout: str) -> list[float]:
    """Every number the seed's two prints show, in order: what the reader saw, to set beside the
    hand-worked values (a substring test would pass [[16, 8], ...] for 6, 8)."""
    return [float(v) for v in PRINTED_NUMBER.findall(stdout)]


def check(seed: Run | None, fixed: Run | None) -> dict[str, tuple[bool, str | dict[str, str]]]:
    assert seed is not None and fixed is not None
    ns, fx = seed.namespace, fixed.namespace
    total, times_bt, times_b = _by_hand()
    got_sum = (ns["a"] + ns["b"]).tolist()
    got_bt = (ns["a"] @ ns["b"].T).tolist()
    got_b = (ns["a"] @ ns["b"]).tolist()
    printed = printed_numbers(seed.stdout)
    expected = [v for matrix in (total, times_bt) for row in matrix for v in row]
    y, z, draws = ns["y"], ns["z"], fx["draws"]
    mean, std = draws.mean().item(), draws.std().item()
    zeros_ok = y.dtype == torch.int32 and not y.any()
    randn_ok = tuple(z.shape) == (2, 3) and abs(mean) < 0.02 and abs(std - 1) < 0.015
    reused, filled = fx["reused"], fx["filled"]
    nan_filled, nans = bool(filled.isnan().all()), filled.flatten().tolist()
    return {
        "sum": (got_sum == total, f"{got_sum} = {total}"),
        "product": (
            got_bt == times_bt and got_b == times_b and got_b != got_bt,
            f"a @ b.T = {got_bt} = {times_bt};  a @ b = {got_b}",
        ),
        "printed": (printed == expected, {
            "en": f"printed {printed}, by hand {expected}",
            "zh": f"打印出 {printed}，手算 {expected}",
        }),
        "zeros_and_randn": (zeros_ok and randn_ok, {
            "en": f"y: {y.dtype}, sum {int(y.sum())};  randn: mean {mean:+.4f}, std {std:.4f}",
            "zh": f"y：{y.dtype}，元素之和 {int(y.sum())}；randn：均值 {mean:+.4f}，标准差 {std:.4f}",
        }),
        "empty": (nan_filled, {  # the sevens are shown, not checked: the allocator may or may not hand them back
            "en": f"deterministic mode: {nans};  sevens in torch.empty(50_000): {reused}/50000",
            "zh": f"确定性模式：{nans}；torch.empty(50_000) 里读到的 7：{reused}/50000",
        }),
    }
