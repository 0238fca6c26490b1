"""§2.2 Verifying the install: what the seed's two prints say on this machine, and a real
computation on every device, which is what `torchprimer doctor` does in full."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, metadata

import torch

from torchprimer.lessons.runner import Run, bilingual

SECTION = "2.2"

TEXT = {
    "en": {
        "title": "Verifying the install",
        "intro": """
The seed checks an install by printing the PyTorch version and whether CUDA is available,
and quotes what its own machine printed: 2.0.1 and True.""",
        "verdict": """
Those two prints describe this machine, not the seed's: the version differs and CUDA is
there or not. They also prove little. `is_available()` says a driver answered, not that a
kernel runs and gives right answers, so the tour runs a small forward and backward pass on
every device and compares it with float64 on the CPU. For the full check (versions of every
dependency, the build, each dtype, throughput, and how to fix what is missing) run
`torchprimer doctor`.

The seed's §2.1 install commands have aged as well. Its `python=3.9` environment cannot
install this torch, which asks for a newer Python (the last check reads which from torch's
own metadata), and PyTorch stopped publishing to its `-c pytorch` conda channel after 2.5
(announced in pytorch/pytorch#138506). Install with pip, `pip install torch torchvision`
(add `--index-url https://download.pytorch.org/whl/cu126` for a CUDA build), or from
conda-forge: `conda install -c conda-forge pytorch torchvision`.""",
        "fixed_title": "A check that computes something, on every device:",
    },
    "zh": {
        "title": "验证安装",
        "intro": """
原教程检查安装的办法是打印 PyTorch 版本和 CUDA 是否可用，并给出它自己机器上的输出：
2.0.1 和 True。""",
        "verdict": """
这两行输出反映的是本机，而不是原作者的机器：版本号不同，CUDA 也未必有。而且它们证明不了
多少：`is_available()` 只说明驱动有响应，不说明内核真能运行、算得对。所以导览在每个设备上
跑一次小规模的前向和反向传播，并与 CPU 上的 float64 结果比较。完整的检查（所有依赖的
版本、构建信息、各种数据类型、吞吐量，以及缺什么、怎么修）请运行 `torchprimer doctor`。

原教程 §2.1 的安装命令也过时了。它的 `python=3.9` 环境装不上这个版本的 torch，因为 torch
要求更新的 Python（最后一项检查从 torch 自己的元数据里读出具体要求）；而且 PyTorch 在 2.5
之后就不再向它的 `-c pytorch` conda 频道发布（见 pytorch/pytorch#138506 的公告）。
请用 pip 安装：`pip install torch torchvision`（CUDA 版本再加
`--index-url https://download.pytorch.org/whl/cu126`），或者从 conda-forge 安装：
`conda install -c conda-forge pytorch torchvision`。""",
        "fixed_title": "真正做一次计算的检查，覆盖每个设备：",
    },
}

SEED = {
    "zh": """\
import torch
print(torch.__version__)  # 输出:2.0.1
print(torch.cuda.is_available())  # 输出:True(GPU可用时)
""",
    "en": """\
import torch
print(torch.__version__)  # prints: 2.0.1
print(torch.cuda.is_available())  # prints: True (when a GPU is usable)
""",
}

FIXED = bilingual(
    """\
from torchprimer.doctor import list_devices, numerics_error
errors = {}
for device in list_devices():
    # loss and gradients of a small net against float64 on the CPU
    errors[device["device"]] = numerics_error(device["device"])
    print(f"{device['device']:<8} {device['name']}: max error {errors[device['device']]:.1e}")
""",
    zh={
        "loss and gradients of a small net against float64 on the CPU":
            "一个小网络的损失和梯度，与 CPU 上的 float64 结果比较",
    },
)

CHECKS = {
    "version": {
        "en": "the seed's first print is this machine's torch.__version__ (the seed's 2.0.1 was its own)",
        "zh": "原教程的第一行输出是本机的 torch.__version__（原教程的 2.0.1 是它自己机器上的）",
    },
    "at_least_2": {
        "en": "PyTorch is 2.0 or newer, as the seed's code requires",
        "zh": "PyTorch 版本不低于 2.0，满足原教程代码的要求",
    },
    "cuda": {
        "en": "the seed's second print matches torch.cuda.is_available() here",
        "zh": "原教程的第二行输出与本机的 torch.cuda.is_available() 一致",
    },
    "computes": {
        "en": "every device computes a small net's loss and gradients within 1e-4 of float64",
        "zh": "每个设备算出的小网络损失和梯度与 float64 的差都在 1e-4 以内",
    },
    "install": {
        "en": "the seed's §2.1 environment (python=3.9) is older than this torch accepts, by torch's own metadata",
        "zh": "按 torch 自己的元数据，原教程 §2.1 的环境（python=3.9）比这个 torch 要求的 Python 旧",
    },
}

SEED_PYTHON = (3, 9)  # conda create -n pytorch_env python=3.9, the seed's §2.1


def oldest_python(requires: str) -> tuple[int, int] | None:
    """The lowest Python a `Requires-Python` specifier such as '>=3.10' admits, or None if it sets none."""
    found = [(int(major), int(minor)) for major, minor in re.findall(r">=\s*(\d+)\.(\d+)", requires)]
    return max(found) if found else None


def check(seed: Run | None, fixed: Run | None) -> dict[str, tuple[bool, str | dict[str, str]]]:
    assert seed is not None and fixed is not None
    try:
        requires = metadata("torch").get("Requires-Python") or ""
    except PackageNotFoundError:  # a torch built from source, not installed by pip: no metadata to read
        requires = ""
    oldest = oldest_python(requires)
    lines = seed.stdout.split()
    version = torch.__version__
    major = int(version.split(".")[0])
    cuda = str(torch.cuda.is_available())
    errors: dict[str, float] = fixed.namespace.get("errors", {})
    shown = ", ".join(f"{d}: {e:.1e}" for d, e in errors.items()) or (fixed.error or "")
    seed_python = ".".join(map(str, SEED_PYTHON))
    return {
        "version": (bool(lines) and lines[0] == version, {
            "en": f"printed {lines[:1]}, torch.__version__ = {version!r}",
            "zh": f"打印出 {lines[:1]}，torch.__version__ = {version!r}",
        }),
        "at_least_2": (major >= 2, {"en": f"{version} (seed: 2.0.1)", "zh": f"{version}（原教程：2.0.1）"}),
        "cuda": (len(lines) > 1 and lines[1] == cuda, {
            "en": f"printed {lines[1:2]}, torch.cuda.is_available() = {cuda}",
            "zh": f"打印出 {lines[1:2]}，torch.cuda.is_available() = {cuda}",
        }),
        "computes": (bool(errors) and all(e < 1e-4 for e in errors.values()), shown),
        "install": (oldest is not None and oldest > SEED_PYTHON, {
            "en": f"torch {version}: Requires-Python {requires!r};  the seed's python={seed_python}",
            "zh": f"torch {version}：Requires-Python {requires!r}；原教程的 python={seed_python}",
        }),
    }
