"""§2.2 Verifying the install: what the seed's two prints say on this machine, and a real
computation on every device, which is what `torchprimer doctor` does in full."""

from __future__ import annotations

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
`torchprimer doctor`.""",
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
版本、构建信息、各种数据类型、吞吐量，以及缺什么、怎么修）请运行 `torchprimer doctor`。""",
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
}


def check(seed: Run | None, fixed: Run | None) -> dict[str, tuple[bool, str]]:
    assert seed is not None and fixed is not None
    lines = seed.stdout.split()
    version = torch.__version__
    major = int(version.split(".")[0])
    cuda = str(torch.cuda.is_available())
    errors: dict[str, float] = fixed.namespace.get("errors", {})
    shown = ", ".join(f"{d}: {e:.1e}" for d, e in errors.items()) or (fixed.error or "")
    return {
        "version": (bool(lines) and lines[0] == version, f"printed {lines[:1]}, torch.__version__ = {version!r}"),
        "at_least_2": (major >= 2, f"{version} (seed: 2.0.1)"),
        "cuda": (len(lines) > 1 and lines[1] == cuda, f"printed {lines[1:2]}, torch.cuda.is_available() = {cuda}"),
        "computes": (bool(errors) and all(e < 1e-4 for e in errors.values()), shown),
    }
