"""§4.2 Linear algebra: the seed's SVD checked by reconstruction, its eigvalsh shown to read
only one triangle of a non-symmetric matrix, and its einsum's shape error fixed."""

from __future__ import annotations

import itertools

import torch

from torchprimer.lessons.runner import Run, bilingual

SECTION = "4.2"

TEXT = {
    "en": {
        "title": "Core linear algebra",
        "intro": """
Three tools the seed names: the singular value decomposition A = U·diag(S)·Vᴴ, the
eigenvalues of a matrix, and einsum, which writes a tensor contraction as index letters.
The seed's snippet uses `a` and `b` without defining them; a reader who ran §3.1 first has
its 2×2 matrices, so the tour does the same.""",
        "verdict": """
Three problems. (1) `torch.svd` still works but is deprecated: `torch.linalg.svd` is the
current API and returns Vᴴ (V conjugate-transposed), not V, so code that swaps one for the
other must transpose. (2) `eigvalsh` is only for symmetric (Hermitian) matrices; given the
random A it raises no error but reads only its lower triangle and returns the eigenvalues
of a different, symmetric matrix. AᵀA is symmetric, and its eigenvalues are the squares of
A's singular values, which ties the two decompositions together. (3) 'ijk,jl->ikl' asks for
a 3-D first operand, and the seed passes 2-D matrices, so einsum fails; with shapes that fit
it gives exactly what the explicit loop gives.""",
    },
    "zh": {
        "title": "线性代数核心操作",
        "intro": """
原教程提到三样工具：奇异值分解 A = U·diag(S)·Vᴴ、矩阵的特征值，以及用下标字母描述
张量缩并的 einsum。这段代码用到了 `a` 和 `b` 却没有定义；先运行过 §3.1 的读者手里
有那两个 2×2 矩阵，所以导览也这样做。""",
        "verdict": """
有三个问题。（1） `torch.svd` 仍能用，但已被弃用：现在的接口是 `torch.linalg.svd`，
它返回的是 Vᴴ（V 的共轭转置）而不是 V，两者互换时必须转置。（2） `eigvalsh` 只适用于
对称（厄米）矩阵；对随机的 A 它不报错，却只读取下三角，返回的是另一个对称矩阵的特征值。
AᵀA 是对称的，它的特征值正好是 A 的奇异值的平方，这把两种分解联系了起来。
（3） 'ijk,jl->ikl' 要求第一个操作数是三维的，原教程传入的是二维矩阵，所以 einsum 报错；
形状对上以后，它的结果与显式循环完全一致。""",
    },
}

SETUP = bilingual(
    """\
import torch
# a and b as §3.1 made them
a = torch.tensor([[1,2],[3,4]], dtype=torch.float32)
b = torch.tensor([[5,6],[7,8]], dtype=torch.float32)
""",
    zh={
        "a and b as §3.1 made them": "§3.1 里定义的 a 和 b",
    },
)

SEED = {
    "zh": """\
# 矩阵分解
A = torch.randn(3, 3)
U, S, V = torch.svd(A)  # 奇异值分解
# 特征值计算
eigenvalues = torch.linalg.eigvalsh(A)
# 张量缩并
tensor = torch.einsum('ijk,jl->ikl', a, b)
""",
    "en": """\
# matrix decomposition
A = torch.randn(3, 3)
U, S, V = torch.svd(A)  # singular value decomposition
# eigenvalues
eigenvalues = torch.linalg.eigvalsh(A)
# tensor contraction
tensor = torch.einsum('ijk,jl->ikl', a, b)
""",
}

FIXED = bilingual(
    """\
A = torch.randn(3, 3)
U, S, Vh = torch.linalg.svd(A)  # the current API; it returns Vh, not V
print("S =", S)
print("max |U diag(S) Vh - A| =", (U @ torch.diag(S) @ Vh - A).abs().max().item())
# eigvalsh is for symmetric matrices: AᵀA is one, and its eigenvalues are S²
eigenvalues = torch.linalg.eigvalsh(A.T @ A)
print("eigvalsh(AᵀA) =", eigenvalues)
print("S² (ascending) =", S.square().flip(0))
print("eigvals(A), any square matrix =", torch.linalg.eigvals(A))
# 'ijk,jl->ikl' needs a 3-D first operand whose j matches the second's rows
t = torch.randn(2, 3, 4)
m = torch.randn(3, 5)
tensor = torch.einsum('ijk,jl->ikl', t, m)
print("einsum shape:", tuple(tensor.shape))
""",
    zh={
        "the current API; it returns Vh, not V": "现行接口；返回的是 Vh 而不是 V",
        "eigvalsh is for symmetric matrices: AᵀA is one, and its eigenvalues are S²":
            "eigvalsh 只用于对称矩阵：AᵀA 是对称的，它的特征值就是 S²",
        "'ijk,jl->ikl' needs a 3-D first operand whose j matches the second's rows":
            "'ijk,jl->ikl' 要求第一个操作数是三维的，且 j 维与第二个的行数相同",
    },
)

CHECKS = {
    "einsum_error": {
        "en": "the seed's einsum fails: 'ijk' needs a 3-D tensor and a is 2×2",
        "zh": "原教程的 einsum 报错：'ijk' 需要三维张量，而 a 是 2×2",
    },
    "svd_reconstructs": {
        "en": "U·diag(S)·Vᴴ reconstructs A to 1e-5 (linalg.svd), and so does the seed's U·diag(S)·Vᵀ",
        "zh": "U·diag(S)·Vᴴ 重构 A 的误差小于 1e-5（linalg.svd），原教程的 U·diag(S)·Vᵀ 也一样",
    },
    "eigvalsh_squares": {
        "en": "eigvalsh of the symmetric AᵀA equals the squares of A's singular values (rel. 1e-4)",
        "zh": "对称矩阵 AᵀA 的 eigvalsh 等于 A 的奇异值的平方（相对误差 1e-4）",
    },
    "eigvalsh_triangle": {
        "en": "the seed's eigvalsh(A) silently used only A's lower triangle: not A's eigenvalues",
        "zh": "原教程的 eigvalsh(A) 悄悄只用了 A 的下三角：得到的不是 A 的特征值",
    },
    "einsum_loop": {
        "en": "the corrected einsum equals an explicit loop over i, k, l summing over j (1e-5)",
        "zh": "修正后的 einsum 与对 i、k、l 循环、对 j 求和的显式循环一致（1e-5）",
    },
}


def _loop_contraction(t: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """'ijk,jl->ikl' the slow, obvious way: the reference einsum must match."""
    out = torch.zeros(t.shape[0], t.shape[2], m.shape[1], dtype=torch.float64)
    for i, k, col in itertools.product(range(t.shape[0]), range(t.shape[2]), range(m.shape[1])):
        out[i, k, col] = sum(float(t[i, j, k]) * float(m[j, col]) for j in range(t.shape[1]))
    return out


def check(seed: Run | None, fixed: Run | None) -> dict[str, tuple[bool, str | dict[str, str]]]:
    assert seed is not None and fixed is not None
    ns, fx = seed.namespace, fixed.namespace
    error = seed.error or ""
    A, U, S, Vh = fx["A"], fx["U"], fx["S"], fx["Vh"]
    fixed_err = (U @ torch.diag(S) @ Vh - A).abs().max().item()
    seed_err = (ns["U"] @ torch.diag(ns["S"]) @ ns["V"].T - ns["A"]).abs().max().item()
    squares = S.double().square().flip(0)
    eig = fx["eigenvalues"].double()
    rel = ((eig - squares).abs() / squares.abs().clamp_min(1e-12)).max().item()
    A_seed = ns["A"]
    lower = torch.tril(A_seed) + torch.tril(A_seed, -1).T
    from_lower = torch.linalg.eigvalsh(lower)
    true_eigs = torch.linalg.eigvals(A_seed)
    same_as_lower = torch.allclose(ns["eigenvalues"], from_lower, atol=1e-6)
    true_sorted = sorted(true_eigs.tolist(), key=lambda v: (v.real, v.imag))
    differs = any(abs(complex(e) - v) > 1e-3 for e, v in zip(ns["eigenvalues"].tolist(), true_sorted, strict=True))
    loop = _loop_contraction(fx["t"], fx["m"])
    loop_err = (fx["tensor"].double() - loop).abs().max().item()
    fmt = ", ".join
    return {
        "einsum_error": ("RuntimeError" in error and "einsum" in error, error),
        "svd_reconstructs": (max(fixed_err, seed_err) < 1e-5, {
            "en": f"max |error| {fixed_err:.2e} (Vh), {seed_err:.2e} (V)",
            "zh": f"最大 |误差| {fixed_err:.2e}（Vh），{seed_err:.2e}（V）",
        }),
        "eigvalsh_squares": (
            rel < 1e-4,
            f"eigvalsh(AᵀA) = [{fmt(f'{v:.5f}' for v in eig.tolist())}]   "
            f"S² = [{fmt(f'{v:.5f}' for v in squares.tolist())}]",
        ),
        "eigvalsh_triangle": (
            same_as_lower and differs,
            f"eigvalsh(A) = [{fmt(f'{v:.4f}' for v in ns['eigenvalues'].tolist())}]"
            " = eigvalsh(tril(A) + tril(A,-1)ᵀ);  "
            f"eigvals(A) = [{fmt(f'{complex(v):.4f}' for v in true_eigs.tolist())}]",
        ),
        "einsum_loop": (loop_err < 1e-5, {
            "en": f"shape {tuple(fx['tensor'].shape)}, max |einsum - loop| {loop_err:.2e}",
            "zh": f"形状 {tuple(fx['tensor'].shape)}，最大 |einsum - 循环| {loop_err:.2e}",
        }),
    }
